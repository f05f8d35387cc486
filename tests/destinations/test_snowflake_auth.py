"""Snowflake authentication (flowkit.destinations.snowflake.auth).

Keys are generated here with cryptography; key files live in tmp_path. What the real connector sends
is checked on the wire: a small HTTP server on 127.0.0.1 records ``POST /session/v1/login-request``
and answers a login failure, so ``connect()`` raises right after sending the JWT / OAuth token, and
the JWT is verified with PyJWT against the public key. fakesnow cannot do this: it ignores
authentication.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from flowkit.destinations.snowflake import auth
from flowkit.destinations.snowflake.auth import SnowflakeAuthError
from tests.snowflake_keys import pem

PASSWORD = "correct horse battery staple 9!"
TOKEN_1 = "ver:1-hint:111-ETMsDgAAAtokenONEsecretAAAA"
TOKEN_2 = "ver:1-hint:222-ETMsDgAAAtokenTWOsecretBBBB"

# --------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class Keys:
    key: rsa.RSAPrivateKey
    plain: str  # PKCS#8, unencrypted
    encrypted: str  # PKCS#8, encrypted with PASSWORD
    pkcs1: str  # BEGIN RSA PRIVATE KEY
    ec_pkcs8: str
    ec_traditional: str
    public: str
    small_rsa: str  # 1024-bit PKCS#8
    other: rsa.RSAPrivateKey  # an unrelated key


@pytest.fixture(scope="module")
def keys() -> Keys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pkcs8 = serialization.PrivateFormat.PKCS8
    return Keys(
        key=key,
        plain=pem(key, pkcs8),
        encrypted=pem(key, pkcs8, PASSWORD),
        pkcs1=pem(key, serialization.PrivateFormat.TraditionalOpenSSL),
        ec_pkcs8=pem(ec_key, pkcs8),
        ec_traditional=pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL),
        public=key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        small_rsa=pem(small, pkcs8),
        other=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def _der(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _body_chunks(pem: str) -> list[str]:
    """Distinctive pieces of a PEM body: none may show up in an error."""
    lines = [line for line in pem.strip().splitlines() if not line.startswith("-----")]
    return [line[:24] for line in lines if len(line) >= 24]


def assert_refused(
    exc_info: pytest.ExceptionInfo[SnowflakeAuthError], parameter: str, *secrets: str, says: str = ""
) -> str:
    """One line, names the parameter, no secret in str/repr/traceback, nothing chained."""
    exc = exc_info.value
    message = str(exc)
    assert message.startswith(f"'{parameter}':"), message
    assert exc.parameter == parameter
    assert message == f"'{parameter}': {exc.problem}"
    assert "\n" not in message
    assert says.lower() in message.lower(), message
    assert exc.__cause__ is None and exc.__context__ is None
    everything = message + repr(exc) + "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret and secret not in everything, f"secret leaked: {message}"
    return message


def _key_secrets(keys: Keys) -> list[str]:
    return [PASSWORD, *_body_chunks(keys.plain), *_body_chunks(keys.encrypted), *_body_chunks(keys.pkcs1)]


# ----------------------------------------------------------------------------------------- loading


def test_loads_unencrypted_pkcs8_text(keys: Keys) -> None:
    key = auth.load_private_key(keys.plain, None, None)
    assert _der(key) == _der(keys.key)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda pem: f"\n\n   {pem}  \n\t", id="surrounding-whitespace"),
        pytest.param(lambda pem: pem.strip().replace("\n", "\\n"), id="literal-backslash-n"),
        pytest.param(lambda pem: pem.replace("\n", "\\r\\n"), id="literal-backslash-r-n"),
        pytest.param(lambda pem: pem.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda pem: pem.strip().replace("\n", " "), id="one-line-spaces"),
        pytest.param(lambda pem: f'"{pem.strip()}"', id="double-quoted"),
        pytest.param(lambda pem: pem.strip(), id="no-final-newline"),
    ],
)
def test_loads_pasted_variants(keys: Keys, mangle: Any) -> None:
    assert _der(auth.load_private_key(mangle(keys.plain), None, None)) == _der(keys.key)
    # The same leniency for an encrypted key.
    assert _der(auth.load_private_key(mangle(keys.encrypted), None, PASSWORD)) == _der(keys.key)


def test_loads_encrypted_text_and_files(keys: Keys, tmp_path: Path) -> None:
    assert _der(auth.load_private_key(keys.encrypted, None, PASSWORD)) == _der(keys.key)
    plain, encrypted = tmp_path / "rsa_key.p8", tmp_path / "rsa_key_enc.p8"
    plain.write_text(keys.plain)
    encrypted.write_text(keys.encrypted)
    assert _der(auth.load_private_key(None, str(plain), None)) == _der(keys.key)
    assert _der(auth.load_private_key(None, f"  {encrypted}  ", PASSWORD)) == _der(keys.key)
    # Blank counts as unset, for both the other source and the password.
    assert _der(auth.load_private_key("  ", str(plain), "")) == _der(keys.key)
    assert _der(auth.load_private_key(keys.plain, "", None)) == _der(keys.key)


def test_password_with_trailing_newline_from_a_secret_file(keys: Keys) -> None:
    assert _der(auth.load_private_key(keys.encrypted, None, PASSWORD + "\n")) == _der(keys.key)


def test_key_file_with_bom_and_crlf(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "windows.p8"
    path.write_bytes(b"\xef\xbb\xbf" + keys.plain.replace("\n", "\r\n").encode())
    assert _der(auth.load_private_key(None, str(path), None)) == _der(keys.key)


# --------------------------------------------------------------------------------------- refusals


def test_refuses_neither_and_both(keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(None, "  ", None)
    assert_refused(exc_info, auth.PRIVATE_KEY, says="Snowflake Private Key File")
    path = tmp_path / "k.p8"
    path.write_text(keys.plain)
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(keys.plain, str(path), None)
    assert_refused(exc_info, auth.PRIVATE_KEY, *_key_secrets(keys), says="only one")


def test_refuses_missing_directory_and_dangling_key_file(keys: Keys, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "rsa_key.p8"
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(None, str(missing), None)
    assert str(missing) in assert_refused(exc_info, auth.PRIVATE_KEY_FILE, says="does not exist")

    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(None, str(tmp_path), None)
    assert str(tmp_path) in assert_refused(exc_info, auth.PRIVATE_KEY_FILE, says="is a directory")

    dangling = tmp_path / "dangling.p8"
    dangling.symlink_to(tmp_path / "gone.p8")
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(None, str(dangling), None)
    assert_refused(exc_info, auth.PRIVATE_KEY_FILE, says="does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway")
def test_refuses_unreadable_key_file(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "locked.p8"
    path.write_text(keys.plain)
    path.chmod(0)
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(None, str(path), None)
    assert_refused(exc_info, auth.PRIVATE_KEY_FILE, *_key_secrets(keys), says="permission denied")


def test_refuses_a_der_key_file(keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "rsa_key.der"
    path.write_bytes(_der(keys.key))
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(None, str(path), None)
    assert_refused(exc_info, auth.PRIVATE_KEY_FILE, says="not a text file")


@pytest.mark.parametrize("source", ["text", "file"])
@pytest.mark.parametrize(
    ("case", "password", "parameter", "says"),
    [
        ("encrypted", None, auth.PRIVATE_KEY_PASSWORD, "is encrypted"),
        ("encrypted", "Not-The-Pass-42", auth.PRIVATE_KEY_PASSWORD, "does not decrypt"),
        ("plain", PASSWORD, auth.PRIVATE_KEY_PASSWORD, "not encrypted"),
        ("pkcs1", None, "source", "PKCS#1"),
        ("public", None, "source", "public key"),
        ("ec_pkcs8", None, "source", "EC key"),
        ("ec_traditional", None, "source", "EC key"),
        ("small_rsa", None, "source", "1024-bit"),
        ("damaged", None, "source", "not a valid PKCS#8"),
        ("two_keys", None, "source", "2 PEM blocks"),
        ("truncated", None, "source", "not one complete PEM block"),
        ("garbage", None, "source", "not PEM text"),
        ("not_base64", None, "source", "not base64"),
    ],
)
def test_refusals_name_the_parameter_and_leak_nothing(
    keys: Keys, tmp_path: Path, source: str, case: str, password: str | None, parameter: str, says: str
) -> None:
    lines = keys.plain.strip().splitlines()
    damaged = "\n".join([lines[0], *lines[1:10], lines[-1]])  # valid base64, half a key
    texts = {
        "encrypted": keys.encrypted,
        "plain": keys.plain,
        "pkcs1": keys.pkcs1,
        "public": keys.public,
        "ec_pkcs8": keys.ec_pkcs8,
        "ec_traditional": keys.ec_traditional,
        "small_rsa": keys.small_rsa,
        "damaged": damaged,
        "two_keys": keys.plain + keys.plain,
        "truncated": "\n".join(lines[:-1]),
        "garbage": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC-garbage-secretish",
        "not_base64": "\n".join([lines[0], "this is !!! not base64 %%%", lines[-1]]),
    }
    text = texts[case]
    if source == "file":
        path = tmp_path / "key.p8"
        path.write_text(text)
        args: tuple[str | None, str | None] = (None, str(path))
    else:
        args = (text, None)
    expected = parameter if parameter != "source" else (auth.PRIVATE_KEY if source == "text" else auth.PRIVATE_KEY_FILE)
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.load_private_key(*args, password)
    secrets = [*_key_secrets(keys), *_body_chunks(damaged), *_body_chunks(keys.ec_pkcs8), *_body_chunks(keys.small_rsa)]
    if password:
        secrets.append(password)
    if case == "garbage":
        secrets.append("garbage-secretish")
    message = assert_refused(exc_info, expected, *secrets, says=says)
    if source == "file" and expected == auth.PRIVATE_KEY_PASSWORD:
        assert str(tmp_path / "key.p8") in message


def test_error_pickles_and_is_a_value_error() -> None:
    exc = SnowflakeAuthError("'Snowflake Host': bad", auth.HOST, "bad")
    again = pickle.loads(pickle.dumps(exc))
    assert isinstance(again, SnowflakeAuthError) and isinstance(again, ValueError)
    assert (str(again), again.parameter, again.problem) == ("'Snowflake Host': bad", auth.HOST, "bad")
    # The one-argument form (a whole message) works too.
    plain = SnowflakeAuthError("'Snowflake Role' is required")
    assert (str(plain), plain.parameter, plain.problem) == ("'Snowflake Role' is required", None, str(plain))


# ------------------------------------------------------------------------------ DER and fingerprint


def test_private_key_der_is_unencrypted_pkcs8(keys: Keys) -> None:
    key = auth.load_private_key(keys.encrypted, None, PASSWORD)
    der = auth.private_key_der(key)
    assert der == _der(keys.key)
    assert _der(serialization.load_der_private_key(der, password=None)) == der


def test_public_key_fingerprint(keys: Keys) -> None:
    from snowflake.connector.auth import AuthByKeyPair

    public_der = keys.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = "SHA256:" + base64.b64encode(hashlib.sha256(public_der).digest()).decode()
    assert auth.public_key_fingerprint(keys.key) == expected
    assert AuthByKeyPair.calculate_public_key_fingerprint(keys.key) == expected


def test_key_pair_connect_args(keys: Keys) -> None:
    args = auth.key_pair_connect_args(" myorg-acct1 ", " svc_user ", keys.key)
    assert args == {
        "account": "myorg-acct1",
        "user": "svc_user",
        "authenticator": "SNOWFLAKE_JWT",
        "private_key": _der(keys.key),
    }


@pytest.mark.parametrize(
    ("account", "user", "parameter", "says"),
    [
        ("", "svc", auth.ACCOUNT, "blank"),
        ("https://myorg-acct1.snowflakecomputing.com", "svc", auth.ACCOUNT, "not a URL"),
        ("my org", "svc", auth.ACCOUNT, "not an account identifier"),
        ("myorg-acct1", "  ", auth.USERNAME, "blank"),
        ("myorg-acct1", "svc\nuser", auth.USERNAME, "control characters"),
    ],
)
def test_key_pair_connect_args_refusals(keys: Keys, account: str, user: str, parameter: str, says: str) -> None:
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.key_pair_connect_args(account, user, keys.key)
    assert_refused(exc_info, parameter, says=says)


# --------------------------------------------------------------------------------------- strategy


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("KEY_PAIR", "KEY_PAIR"),
        (" key_pair ", "KEY_PAIR"),
        ("SNOWFLAKE_MANAGED", "SNOWFLAKE_MANAGED"),
        ("SNOWFLAKE_SESSION_TOKEN", "SNOWFLAKE_MANAGED"),
        ("snowflake_managed_token", "SNOWFLAKE_MANAGED"),
    ],
)
def test_normalize_strategy(value: str, expected: str) -> None:
    assert auth.normalize_strategy(value) == expected


@pytest.mark.parametrize("value", [None, "", "PASSWORD", "OAUTH"])
def test_normalize_strategy_refuses(value: str | None) -> None:
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.normalize_strategy(value)
    assert_refused(exc_info, auth.STRATEGY, says="KEY_PAIR or SNOWFLAKE_MANAGED")


# ----------------------------------------------------------------------------------------- managed


def test_managed_token_path() -> None:
    assert auth.managed_token_path({}) == Path("/snowflake/session/token")
    assert auth.managed_token_path({auth.TOKEN_FILE_ENV: "  "}) == Path(auth.DEFAULT_TOKEN_PATH)
    assert auth.managed_token_path({auth.TOKEN_FILE_ENV: "/run/tok"}) == Path("/run/tok")


def _managed_env(token_file: Path, **extra: str) -> dict[str, str]:
    return {
        auth.TOKEN_FILE_ENV: str(token_file),
        "SNOWFLAKE_HOST": "myorg-acct1.snowflakecomputing.com",
        "SNOWFLAKE_ACCOUNT": "MYORG-ACCT1",
        **extra,
    }


def test_managed_connect_args_reread_the_token_every_time(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN_1 + "\n")
    env = _managed_env(token_file)
    auth.check_managed(env)
    assert auth.managed_connect_args(env) == {
        "host": "myorg-acct1.snowflakecomputing.com",
        "account": "MYORG-ACCT1",
        "authenticator": "oauth",
        "token": TOKEN_1,
    }
    token_file.write_text(TOKEN_2)
    assert auth.managed_connect_args(env)["token"] == TOKEN_2
    assert auth.managed_connect_args({**env, "SNOWFLAKE_PORT": "443"})["port"] == 443


@pytest.mark.parametrize(
    ("change", "token", "says"),
    [
        ({auth.TOKEN_FILE_ENV: "absent"}, TOKEN_1, "does not exist"),
        ({auth.TOKEN_FILE_ENV: "."}, TOKEN_1, "is a directory"),
        ({}, "  \n", "is empty"),
        ({"SNOWFLAKE_HOST": ""}, TOKEN_1, "SNOWFLAKE_HOST"),
        ({"SNOWFLAKE_ACCOUNT": " "}, TOKEN_1, "SNOWFLAKE_ACCOUNT"),
        ({"SNOWFLAKE_HOST": "https://x.snowflakecomputing.com"}, TOKEN_1, "not a URL"),
        ({"SNOWFLAKE_PORT": "https"}, TOKEN_1, "not a port"),
    ],
)
def test_check_managed_refusals(tmp_path: Path, change: dict[str, str], token: str, says: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token)
    env = _managed_env(token_file)
    for name, value in change.items():
        env[name] = str(tmp_path / value) if name == auth.TOKEN_FILE_ENV else value
    for call in (auth.check_managed, auth.managed_connect_args):
        with pytest.raises(SnowflakeAuthError) as exc_info:
            call(env)
        assert_refused(exc_info, auth.STRATEGY, TOKEN_1, says=says)


def test_check_managed_names_the_default_path_and_the_override() -> None:
    if Path(auth.DEFAULT_TOKEN_PATH).exists():
        pytest.skip("running inside a container that has a session token")
    env = {"SNOWFLAKE_HOST": "h.snowflakecomputing.com", "SNOWFLAKE_ACCOUNT": "A"}
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.check_managed(env)
    message = assert_refused(exc_info, auth.STRATEGY, says=auth.DEFAULT_TOKEN_PATH)
    assert auth.TOKEN_FILE_ENV in message


# -------------------------------------------------------------------------------------------- host


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://myorg-acct1.privatelink.snowflakecomputing.com",
            ("myorg-acct1.privatelink.snowflakecomputing.com", 443, "https"),
        ),
        (" HTTPS://Acct.Example.com:8443/ ", ("acct.example.com", 8443, "https")),
        ("http://127.0.0.1:8080", ("127.0.0.1", 8080, "http")),
        ("http://127.9.8.7", ("127.9.8.7", 80, "http")),
        ("http://localhost:9000", ("localhost", 9000, "http")),
        ("http://[::1]:9000", ("[::1]", 9000, "http")),
    ],
)
def test_host_connect_args(url: str, expected: tuple[str, int, str]) -> None:
    assert auth.host_connect_args(url) == dict(zip(("host", "port", "protocol"), expected, strict=True))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "blank"),
        ("http://example.com", "only for loopback"),
        ("http://10.0.0.1:8080", "only for loopback"),
        ("ftp://example.com", "not https://host"),
        ("example.com", "not https://host"),
        ("https://h.example.com/path", "nothing after the port"),
        ("https://h.example.com?x=1", "nothing after the port"),
        ("https://h.example.com#x", "nothing after the port"),
        ("https://user:hunter2-secret@h.example.com", "credentials"),
        ("https://h.example.com:99999", "not a valid URL"),
        ("https://h.example.com:0", "port 0"),
        ("https://h.exam\nple.com", "control characters"),
    ],
)
def test_host_connect_args_refusals(url: str, says: str) -> None:
    with pytest.raises(SnowflakeAuthError) as exc_info:
        auth.host_connect_args(url)
    assert_refused(exc_info, auth.HOST, "hunter2-secret", says=says)


# ------------------------------------------------------------------- what the real connector sends


@dataclass
class LoginRecorder:
    """Loopback HTTP server: records every request, answers each login with a failure."""

    server: ThreadingHTTPServer
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def logins(self) -> list[dict[str, Any]]:
        return [
            body["data"] for _, path, body in self.requests if body and path.startswith("/session/v1/login-request")
        ]


def _start_recorder(family: socket.AddressFamily, address: str) -> LoginRecorder:
    recorder: LoginRecorder

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            recorder.requests.append(("POST", self.path, json.loads(raw)))
            body = json.dumps(
                {"success": False, "code": "390100", "message": "Incorrect username or password.", "data": None}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            recorder.requests.append(("GET", self.path, None))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
    recorder = LoginRecorder(server_class((address, 0), Handler))
    threading.Thread(target=recorder.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return recorder


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoginRecorder]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    rec = _start_recorder(socket.AF_INET, "127.0.0.1")
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


# Keep the connector on loopback and quick: plain http (no OCSP), no cloud-metadata platform probes
# (they go to 169.254.169.254 and friends), a short login timeout.
QUIET = {"login_timeout": 5, "platform_detection_timeout_seconds": 0.0}


def _connect_and_fail(**kwargs: Any) -> str:
    import snowflake.connector

    with pytest.raises(snowflake.connector.errors.DatabaseError) as exc_info:
        snowflake.connector.connect(**kwargs, **QUIET)
    return str(exc_info.value)


@pytest.mark.parametrize(
    ("account", "user", "claim_account", "claim_user"),
    [
        ("myorg-acct1", "svc_flowkit", "MYORG-ACCT1", "SVC_FLOWKIT"),
        # A legacy locator with region: the connector keeps only the part before the first dot.
        ("xy12345.us-east-1", "Jira.Loader", "XY12345", "JIRA.LOADER"),
    ],
)
@pytest.mark.parametrize("encrypted", [False, True])
def test_connector_sends_a_jwt_that_verifies(
    keys: Keys,
    tmp_path: Path,
    recorder: LoginRecorder,
    account: str,
    user: str,
    claim_account: str,
    claim_user: str,
    encrypted: bool,
) -> None:
    path = tmp_path / "rsa_key.p8"
    path.write_text(keys.encrypted if encrypted else keys.plain)
    key = auth.load_private_key(None, str(path), PASSWORD if encrypted else None)
    args = auth.key_pair_connect_args(account, user, key)
    message = _connect_and_fail(**args, **auth.host_connect_args(f"http://127.0.0.1:{recorder.port}"))
    assert "390100" in message

    # Exactly one request, the login: nothing else went anywhere on this server.
    assert [(method, path.split("?")[0]) for method, path, _ in recorder.requests] == [
        ("POST", "/session/v1/login-request")
    ]
    (login,) = recorder.logins()
    assert login["AUTHENTICATOR"] == "SNOWFLAKE_JWT"
    # The connector also cuts the region off the account it sends as ACCOUNT_NAME (case kept).
    assert (login["ACCOUNT_NAME"], login["LOGIN_NAME"]) == (account.partition(".")[0], user)
    token = login["TOKEN"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, keys.key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
    fingerprint = auth.public_key_fingerprint(keys.key)
    assert claims["iss"] == f"{claim_account}.{claim_user}.{fingerprint}"
    assert claims["sub"] == f"{claim_account}.{claim_user}"
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    # A different key does not verify it: the check above can fail.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, keys.other.public_key(), algorithms=["RS256"])
    # The key itself never travels.
    sent = json.dumps(recorder.requests)
    assert not any(chunk in sent for chunk in _key_secrets(keys))
    assert base64.b64encode(_der(keys.key)).decode()[:40] not in sent


def test_connector_sends_the_current_oauth_token(tmp_path: Path, recorder: LoginRecorder) -> None:
    token_file = tmp_path / "session" / "token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN_1 + "\n")
    env = {
        auth.TOKEN_FILE_ENV: str(token_file),
        "SNOWFLAKE_HOST": "127.0.0.1",
        "SNOWFLAKE_PORT": str(recorder.port),
        "SNOWFLAKE_ACCOUNT": "myorg-acct1",
    }
    auth.check_managed(env)
    message = _connect_and_fail(**auth.managed_connect_args(env), protocol="http")
    assert TOKEN_1 not in message
    token_file.write_text(TOKEN_2)  # the platform rotated it
    _connect_and_fail(**auth.managed_connect_args(env), protocol="http")

    logins = recorder.logins()
    assert [(login["AUTHENTICATOR"], login["TOKEN"]) for login in logins] == [("OAUTH", TOKEN_1), ("OAUTH", TOKEN_2)]
    assert {login["ACCOUNT_NAME"] for login in logins} == {"myorg-acct1"}


def test_ipv6_loopback_host_reaches_the_server(keys: Keys) -> None:
    try:
        rec = _start_recorder(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        args = auth.key_pair_connect_args("myorg-acct1", "svc", keys.key)
        _connect_and_fail(**args, **auth.host_connect_args(f"http://[::1]:{rec.port}"))
        assert len(rec.logins()) == 1
    finally:
        rec.server.shutdown()
        rec.server.server_close()


def test_importing_auth_does_not_load_the_connector() -> None:
    code = "import sys, flowkit.destinations.snowflake.auth; print('snowflake.connector' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
