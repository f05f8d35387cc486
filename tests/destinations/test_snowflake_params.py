"""`Destination Type = SNOWFLAKE` parameters: `SnowflakeDestinationType.validate`, `connection_settings` and the
property validators, on hand-built values (pure: no process, no connection).

Every wrong combination of product.md §3 must give one line that starts with the parameter's quoted name and
never quotes a secret (key text, key password, session token). Keys are generated here with cryptography.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from flowkit.destinations.snowflake import (
    ConnectionSettings,
    SnowflakeDestinationType,
    connection_settings,
    login_identifier_problem,
    object_name_problem,
    strategy_problem,
)
from flowkit.destinations.snowflake.auth import SnowflakeAuthError
from tests.snowflake_keys import pem

PASSWORD = "Pw-unit-7f3Kq!swordfish"
WRONG_PASSWORD = "Pw-unit-WRONG-9xQ2"
TOKEN = "ver:1-hint:4242-ETMsDgAAAunitTOKENsecretZZZ"

DATABASE = "Destination Database"
SCHEMA = "Destination Schema"
STRATEGY = "Snowflake Authentication Strategy"
ACCOUNT = "Snowflake Account Identifier"
KEY = "Snowflake Private Key"
KEY_FILE = "Snowflake Private Key File"
KEY_PASSWORD = "Snowflake Private Key Password"
ROLE = "Snowflake Role"
USERNAME = "Snowflake Username"
WAREHOUSE = "Snowflake Warehouse"
HOST = "Snowflake Host"


def _body_chunks(pem: str) -> list[str]:
    """Distinctive pieces of a PEM body: none may show up in any message."""
    return [line[:24] for line in pem.strip().splitlines() if not line.startswith("-----") and len(line) >= 24]


@dataclass(frozen=True)
class Material:
    """Keys as users hold them, and the files under tmp_path."""

    key: rsa.RSAPrivateKey
    plain: str  # PKCS#8, unencrypted
    encrypted: str  # PKCS#8, encrypted with PASSWORD
    pkcs1: str  # BEGIN RSA PRIVATE KEY
    plain_file: Path
    encrypted_file: Path
    token_file: Path
    directory: Path

    @property
    def secrets(self) -> list[str]:
        return [
            PASSWORD,
            WRONG_PASSWORD,
            TOKEN,
            *_body_chunks(self.plain),
            *_body_chunks(self.encrypted),
            *_body_chunks(self.pkcs1),
        ]


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain, encrypted = pem(key, pkcs8), pem(key, pkcs8, PASSWORD)
    root = tmp_path_factory.mktemp("snowflake-params")
    (root / "plain.p8").write_text(plain)
    (root / "encrypted.p8").write_text(encrypted)
    (root / "token").write_text(TOKEN + "\n")
    (root / "keys.d").mkdir()
    return Material(
        key=key,
        plain=plain,
        encrypted=encrypted,
        pkcs1=pem(key, serialization.PrivateFormat.TraditionalOpenSSL),
        plain_file=root / "plain.p8",
        encrypted_file=root / "encrypted.p8",
        token_file=root / "token",
        directory=root / "keys.d",
    )


def key_pair(**changes: str | None) -> dict[str, str | None]:
    """KEY_PAIR values as the engine hands them over (blanks are None); the key is added per case."""
    values: dict[str, str | None] = {
        DATABASE: "JIRA_DB",
        SCHEMA: "AGILE",
        STRATEGY: "KEY_PAIR",
        ACCOUNT: "MYORG-MYACCOUNT",
        KEY: None,
        KEY_FILE: None,
        KEY_PASSWORD: None,
        ROLE: "FLOWKIT_ROLE",
        USERNAME: "FLOWKIT_USER",
        WAREHOUSE: "FLOWKIT_WH",
        HOST: None,
    }
    values.update(changes)
    return values


def managed(**changes: str | None) -> dict[str, str | None]:
    return key_pair(**{STRATEGY: "SNOWFLAKE_MANAGED", ACCOUNT: None, USERNAME: None, **changes})


def managed_env(m: Material, **changes: str) -> dict[str, str]:
    env = {
        "SNOWFLAKE_HOST": "myorg-myaccount.snowflakecomputing.com",
        "SNOWFLAKE_ACCOUNT": "MYORG-MYACCOUNT",
        "FLOWKIT_SNOWFLAKE_TOKEN_FILE": str(m.token_file),
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v != ""}


def _refusal(values: Mapping[str, str | None], env: Mapping[str, str], m: Material, parameter: str, says: str) -> str:
    """validate() and connection_settings() refuse alike: one line naming the parameter, no secret anywhere."""
    message = SnowflakeDestinationType.validate(values, env)
    assert message is not None, "accepted a wrong combination"
    # Count, never print, a leak: the test report would show the secret too.
    leaked = sum(secret in message for secret in m.secrets)
    assert leaked == 0, f"the message naming {parameter!r} quotes a secret"
    assert f"'{parameter}'" in message, message
    assert "\n" not in message and "\r" not in message, message
    assert says.lower() in message.lower(), message
    with pytest.raises(SnowflakeAuthError) as exc_info:
        connection_settings(values, env)
    assert str(exc_info.value) == message
    everything = message + repr(exc_info.value) + "".join(traceback.format_exception(exc_info.value))
    leaked = sum(secret in everything for secret in m.secrets)
    assert leaked == 0, "a secret is in the exception or its traceback"
    return message


# ------------------------------------------------------------------------------------------- KEY_PAIR


def _key_pair_case(m: Material, case: str) -> tuple[dict[str, str | None], str, str]:
    """(values, parameter named, words) of one wrong KEY_PAIR combination."""
    cases: dict[str, tuple[dict[str, str | None], str, str]] = {
        "no key": (key_pair(), KEY, "exactly one"),
        "blank key text and blank file": (key_pair(**{KEY: "  \n", KEY_FILE: " "}), KEY, "exactly one"),
        "key text and key file": (key_pair(**{KEY: m.plain, KEY_FILE: str(m.plain_file)}), KEY, "exactly one"),
        "missing key file": (key_pair(**{KEY_FILE: str(m.directory / "absent.p8")}), KEY_FILE, "does not exist"),
        "key file is a directory": (key_pair(**{KEY_FILE: str(m.directory)}), KEY_FILE, "is a directory"),
        "wrong password, text": (
            key_pair(**{KEY: m.encrypted, KEY_PASSWORD: WRONG_PASSWORD}),
            KEY_PASSWORD,
            "does not decrypt",
        ),
        "wrong password, file": (
            key_pair(**{KEY_FILE: str(m.encrypted_file), KEY_PASSWORD: WRONG_PASSWORD}),
            KEY_PASSWORD,
            "does not decrypt",
        ),
        "no password for an encrypted key": (key_pair(**{KEY: m.encrypted}), KEY_PASSWORD, "encrypted"),
        "no password for an encrypted key file": (
            key_pair(**{KEY_FILE: str(m.encrypted_file)}),
            KEY_PASSWORD,
            "encrypted",
        ),
        "password for an unencrypted key": (
            key_pair(**{KEY: m.plain, KEY_PASSWORD: PASSWORD}),
            KEY_PASSWORD,
            "not encrypted",
        ),
        "PKCS#1 text": (key_pair(**{KEY: m.pkcs1}), KEY, "PKCS#1"),
        "PKCS#1 text with a password": (key_pair(**{KEY: m.pkcs1, KEY_PASSWORD: PASSWORD}), KEY, "PKCS#1"),
        "garbage text": (key_pair(**{KEY: "not a key at all, just words"}), KEY, "not PEM"),
        "damaged PKCS#8 body": (
            key_pair(
                **{KEY: "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n-----END PRIVATE KEY-----"}
            ),
            KEY,
            "PKCS#8",
        ),
        "truncated key text": (
            key_pair(**{KEY: m.plain[: len(m.plain) // 2]}),
            KEY,
            "PEM",
        ),
        "no account": (key_pair(**{KEY: m.plain, ACCOUNT: None}), ACCOUNT, "required"),
        "no username": (key_pair(**{KEY: m.plain, USERNAME: None}), USERNAME, "required"),
        "account is a URL": (
            key_pair(**{KEY: m.plain, ACCOUNT: "https://myorg-myaccount.snowflakecomputing.com"}),
            ACCOUNT,
            "account identifier",
        ),
    }
    return cases[case]


KEY_PAIR_CASES = [
    "no key",
    "blank key text and blank file",
    "key text and key file",
    "missing key file",
    "key file is a directory",
    "wrong password, text",
    "wrong password, file",
    "no password for an encrypted key",
    "no password for an encrypted key file",
    "password for an unencrypted key",
    "PKCS#1 text",
    "PKCS#1 text with a password",
    "garbage text",
    "damaged PKCS#8 body",
    "truncated key text",
    "no account",
    "no username",
    "account is a URL",
]


@pytest.mark.parametrize("case", KEY_PAIR_CASES)
def test_wrong_key_pair_combinations_are_refused(material: Material, case: str) -> None:
    values, parameter, says = _key_pair_case(material, case)
    _refusal(values, {}, material, parameter, says)


def test_key_text_pasted_into_the_key_file_parameter_is_refused_without_quoting_it(material: Material) -> None:
    # A common mix-up: the PEM text goes into `Snowflake Private Key File` (not sensitive, so it may come from a
    # parameters file). The refusal must name the parameter, but it must not echo the key back.
    for text in (material.plain, material.plain.replace("\n", "\\n")):
        _refusal(key_pair(**{KEY_FILE: text}), {}, material, KEY_FILE, "")


# --------------------------------------------------------------------------------------------- managed


@pytest.mark.parametrize("strategy", ["SNOWFLAKE_MANAGED", "SNOWFLAKE_SESSION_TOKEN", "snowflake_managed_token"])
@pytest.mark.parametrize("parameter", [KEY, KEY_FILE, KEY_PASSWORD, ACCOUNT, USERNAME])
def test_managed_strategy_with_a_key_pair_parameter_set_is_refused(
    material: Material, strategy: str, parameter: str
) -> None:
    value = {
        KEY: material.plain,
        KEY_FILE: str(material.plain_file),
        KEY_PASSWORD: PASSWORD,
        ACCOUNT: "MYORG-MYACCOUNT",
        USERNAME: "FLOWKIT_USER",
    }[parameter]
    values = managed(**{STRATEGY: strategy, parameter: value})
    _refusal(values, managed_env(material), material, parameter, "must be blank with SNOWFLAKE_MANAGED")


@pytest.mark.parametrize(
    "change, says",
    [
        ({"FLOWKIT_SNOWFLAKE_TOKEN_FILE": "{dir}/absent-token"}, "does not exist"),
        ({"FLOWKIT_SNOWFLAKE_TOKEN_FILE": "{dir}"}, "is a directory"),
        ({"FLOWKIT_SNOWFLAKE_TOKEN_FILE": "{empty}"}, "is empty"),
        ({"SNOWFLAKE_HOST": ""}, "SNOWFLAKE_HOST"),
        ({"SNOWFLAKE_ACCOUNT": ""}, "SNOWFLAKE_ACCOUNT"),
        ({"SNOWFLAKE_HOST": "", "SNOWFLAKE_ACCOUNT": ""}, "SNOWFLAKE_HOST and SNOWFLAKE_ACCOUNT"),
        ({"SNOWFLAKE_HOST": "https://myorg-myaccount.snowflakecomputing.com"}, "not a URL"),
        ({"SNOWFLAKE_PORT": "https"}, "SNOWFLAKE_PORT"),
    ],
)
def test_managed_strategy_without_its_environment_is_refused(
    material: Material, tmp_path: Path, change: dict[str, str], says: str
) -> None:
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    env = managed_env(
        material,
        **{k: v.format(dir=material.directory, empty=empty) for k, v in change.items()},
    )
    _refusal(managed(), env, material, STRATEGY, says)


def test_token_text_set_as_the_token_file_path_is_refused_without_quoting_it(material: Material) -> None:
    # Same mix-up as a key pasted into the key file parameter: the token itself in FLOWKIT_SNOWFLAKE_TOKEN_FILE.
    _refusal(managed(), managed_env(material, FLOWKIT_SNOWFLAKE_TOKEN_FILE=TOKEN), material, STRATEGY, "token file")


def test_managed_token_absent_at_the_default_path_is_refused() -> None:
    # No override: /snowflake/session/token, which only Snowpark Container Services mounts.
    values = managed()
    env = {"SNOWFLAKE_HOST": "h.snowflakecomputing.com", "SNOWFLAKE_ACCOUNT": "A"}
    if Path("/snowflake/session/token").exists():
        pytest.skip("this machine has a Snowflake session token mounted")
    message = SnowflakeDestinationType.validate(values, env)
    assert message is not None and message.startswith(f"'{STRATEGY}'"), message
    assert "/snowflake/session/token" in message and "FLOWKIT_SNOWFLAKE_TOKEN_FILE" in message


# ---------------------------------------------------------------------------- host, names, strategy


@pytest.mark.parametrize(
    "host, says",
    [
        ("http://myorg-myaccount.snowflakecomputing.com", "loopback"),
        ("http://10.1.2.3:8080", "loopback"),
        ("ftp://myorg-myaccount.snowflakecomputing.com", "https://host"),
        ("https://myorg-myaccount.snowflakecomputing.com:443/path", "nothing after the port"),
        ("https://myorg-myaccount.snowflakecomputing.com/?x=1", "nothing after the port"),
        ("https://user:pw@myorg-myaccount.snowflakecomputing.com", "credentials"),
        ("myorg-myaccount.snowflakecomputing.com", "https://host"),
        ("https://host.example.com:99999", "valid URL"),
    ],
)
def test_bad_snowflake_host_is_refused(material: Material, host: str, says: str) -> None:
    _refusal(key_pair(**{KEY: material.plain, HOST: host}), {}, material, HOST, says)


def test_bad_snowflake_host_is_refused_under_managed_too(material: Material) -> None:
    _refusal(managed(**{HOST: "ftp://127.0.0.1"}), managed_env(material), material, HOST, "https://host")


@pytest.mark.parametrize("parameter", [DATABASE, SCHEMA])
@pytest.mark.parametrize(
    "value, says",
    [
        (None, "is required"),
        ("   ", "is required"),
        ('JIRA"DB', "double quotes"),
        ('"JIRA_DB"', "double quotes"),
        ("JIRA\nDB", "control characters"),
        (" JIRA", "leading/trailing spaces"),
        ("X" * 256, "255"),
    ],
)
def test_bad_database_or_schema_is_refused(material: Material, parameter: str, value: str | None, says: str) -> None:
    _refusal(key_pair(**{KEY: material.plain, parameter: value}), {}, material, parameter, says)
    _refusal(managed(**{parameter: value}), managed_env(material), material, parameter, says)


@pytest.mark.parametrize("strategy", ["OAUTH", "PASSWORD", "KEYPAIR", "key pair"])
def test_unknown_strategy_is_refused(material: Material, strategy: str) -> None:
    message = _refusal(key_pair(**{KEY: material.plain, STRATEGY: strategy}), {}, material, STRATEGY, "KEY_PAIR")
    assert "SNOWFLAKE_MANAGED" in message


# ---------------------------------------------------------------------------------------- accepted


def _der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _assert_repr_has_no_secret(settings: ConnectionSettings, m: Material) -> None:
    shown = repr(settings) + str(settings)
    for secret in m.secrets:
        assert secret not in shown
    assert repr(_der(m.key))[2:40] not in shown
    assert "private_key" not in shown and "token" not in shown.lower()


@pytest.mark.parametrize("source", ["text", "file", "encrypted text", "encrypted file", "escaped one-line text"])
def test_valid_key_pair_settings(material: Material, source: str) -> None:
    given: dict[str, str] = {
        "text": {KEY: material.plain},
        "file": {KEY_FILE: str(material.plain_file)},
        "encrypted text": {KEY: material.encrypted, KEY_PASSWORD: PASSWORD},
        "encrypted file": {KEY_FILE: f"  {material.encrypted_file}  ", KEY_PASSWORD: PASSWORD},
        "escaped one-line text": {KEY: material.plain.replace("\n", "\\n")},
    }[source]
    values = key_pair(**{**given, DATABASE: "Jira db", SCHEMA: "agile", HOST: "https://myorg.privatelink.example:8443"})
    assert SnowflakeDestinationType.validate(values, {}) is None
    settings = connection_settings(values, {})
    assert (settings.database, settings.schema, settings.account) == ("Jira db", "agile", "MYORG-MYACCOUNT")
    assert dict(settings.session) == {"role": "FLOWKIT_ROLE", "warehouse": "FLOWKIT_WH"}
    assert dict(settings.endpoint) == {"host": "myorg.privatelink.example", "port": 8443, "protocol": "https"}
    args = settings.connect_args()
    assert args["authenticator"] == "SNOWFLAKE_JWT"
    assert (args["account"], args["user"]) == ("MYORG-MYACCOUNT", "FLOWKIT_USER")
    assert args["private_key"] == _der(material.key)
    _assert_repr_has_no_secret(settings, material)


def test_key_pair_without_host_role_or_warehouse_connects_by_account(material: Material) -> None:
    values = key_pair(**{KEY: material.plain, ROLE: None, WAREHOUSE: None})
    settings = connection_settings(values, {})
    assert dict(settings.endpoint) == {} and dict(settings.session) == {}
    assert set(settings.connect_args()) == {"account", "user", "authenticator", "private_key"}


@pytest.mark.parametrize("strategy", [None, "SNOWFLAKE_MANAGED", "SNOWFLAKE_SESSION_TOKEN", "snowflake_managed_token"])
def test_valid_managed_settings_reread_the_token(material: Material, tmp_path: Path, strategy: str | None) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    env = managed_env(material, FLOWKIT_SNOWFLAKE_TOKEN_FILE=str(token_file), SNOWFLAKE_PORT="8443")
    values = managed(**{STRATEGY: strategy})
    assert SnowflakeDestinationType.validate(values, env) is None
    settings = connection_settings(values, env)
    assert settings.account == "MYORG-MYACCOUNT"
    first = settings.connect_args()
    assert first["authenticator"] == "oauth" and first["token"] == TOKEN
    assert (first["host"], first["port"]) == ("myorg-myaccount.snowflakecomputing.com", 8443)
    rotated = "ver:1-hint:4243-ETMsDgAAArotatedTOKEN"
    token_file.write_text(rotated)
    assert settings.connect_args()["token"] == rotated
    assert rotated not in repr(settings)
    _assert_repr_has_no_secret(settings, material)


def test_managed_snowflake_host_overrides_the_environment_host(material: Material) -> None:
    values = managed(**{HOST: "http://127.0.0.1:4566"})
    args = connection_settings(values, managed_env(material)).connect_args()
    assert (args["host"], args["port"], args["protocol"]) == ("127.0.0.1", 4566, "http")


def test_validate_reads_the_key_file_again_each_time(material: Material, tmp_path: Path) -> None:
    # `flowkit run` validates again at start: a key file removed since `flowkit validate` is refused then.
    path = tmp_path / "rotating.p8"
    path.write_text(material.plain)
    values = key_pair(**{KEY_FILE: str(path)})
    assert SnowflakeDestinationType.validate(values, {}) is None
    path.unlink()
    _refusal(values, {}, material, KEY_FILE, "does not exist")


# ---------------------------------------------------------------------------------- property validators


@pytest.mark.parametrize("value", ["", "JIRA", "jira_lower", "My Database", "données", "a-b.c$1", "X" * 255])
def test_object_name_problem_accepts(value: str) -> None:
    assert object_name_problem(value) is None


@pytest.mark.parametrize(
    "value, says",
    [
        ('"', "double quotes"),
        ('my"db', "double quotes"),
        ('""', "double quotes"),
        ("X" * 256, "255"),
        ("tab\there", "control"),
        ("nul\x00", "control"),
        ("del\x7f", "control"),
        (" lead", "spaces"),
        ("trail ", "spaces"),
    ],
)
def test_object_name_problem_refuses(value: str, says: str) -> None:
    problem = object_name_problem(value)
    assert problem is not None and says in problem
    assert "\n" not in problem


def test_a_blank_name_is_left_to_the_required_rule() -> None:
    assert object_name_problem(" ") is None
    message = SnowflakeDestinationType.validate({"Destination Database": "RAW", "Destination Schema": " "}, {})
    assert message == "'Destination Schema' is required when 'Destination Type' is SNOWFLAKE"


@pytest.mark.parametrize(
    "value",
    ["", "FLOWKIT_ROLE", "role1", "_r", "R$1", '"My Role"', '"role-with.dots"', "R" * 255, '"' + "r" * 255 + '"'],
)
def test_login_identifier_problem_accepts(value: str) -> None:
    assert login_identifier_problem(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "my role",
        "1ROLE",
        "role-x",
        "a.b",
        '"',
        '""',
        'a"b',
        '"unterminated',
        '"in"side"',
        "R" * 256,
        '"' + "r" * 256 + '"',
    ],
)
def test_login_identifier_problem_refuses(value: str) -> None:
    problem = login_identifier_problem(value)
    assert problem is not None and "identifier" in problem
    assert "\n" not in problem


@pytest.mark.parametrize(
    "value",
    [
        "KEY_PAIR",
        "key_pair",
        " KEY_PAIR ",
        "SNOWFLAKE_MANAGED",
        "SNOWFLAKE_SESSION_TOKEN",
        "SNOWFLAKE_MANAGED_TOKEN",
        "Snowflake_Managed",
    ],
)
def test_strategy_problem_accepts(value: str) -> None:
    assert strategy_problem(value) is None


@pytest.mark.parametrize("value, says", [("OAUTH", "'OAUTH' is not a strategy"), ("", "is blank"), ("  ", "is blank")])
def test_strategy_problem_refuses_without_repeating_the_name(value: str, says: str) -> None:
    # The engine prefixes the parameter name to a property validator's message: the problem must not repeat it.
    problem = strategy_problem(value)
    assert problem is not None and says in problem and "KEY_PAIR" in problem and "SNOWFLAKE_MANAGED" in problem
    assert STRATEGY not in problem


def test_property_descriptors_are_the_product_names_and_mark_the_secrets_sensitive() -> None:
    properties = SnowflakeDestinationType.properties
    names = [d.name for d in properties]
    assert names == [DATABASE, SCHEMA, STRATEGY, ACCOUNT, KEY, KEY_FILE, KEY_PASSWORD, ROLE, USERNAME, WAREHOUSE, HOST]
    assert {d.name for d in properties if d.sensitive} == {KEY, KEY_PASSWORD}
