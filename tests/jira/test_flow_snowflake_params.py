"""Wrong Snowflake parameters are refused by `flowkit validate` and by `flowkit run --once` alike, before any Jira
request or Snowflake connection: exit 2, one line on stderr naming the parameter, no secret in any output,
nothing written.

Secrets travel the way users pass them: the environment variables of the flow's parameter provider
(SNOWFLAKE_PRIVATE_KEY, SNOWFLAKE_PRIVATE_KEY_PASSWORD, JIRA_API_TOKEN) or a `--parameters` file. `Snowflake Host`
points at a plain TCP listener on 127.0.0.1 that counts accepted connections (under SNOWFLAKE_MANAGED,
SNOWFLAKE_HOST/SNOWFLAKE_PORT point there too), so any connection attempt would be seen. The two commands of a
case run side by side to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.jira.flowrun import FLOW, overrides_for
from tests.snowflake_keys import pem

PASSWORD = "Pw-e2e-Qz81!lighthouse"
WRONG_PASSWORD = "Pw-e2e-WRONG-3vT7"
TOKEN = "ver:1-hint:5151-ETMsDgAAAe2eTOKENsecretQQQ"
JIRA_TOKEN = "jira-token-e2e-Lm42Rs"


class Listener:
    """A loopback TCP server that only counts the connections it accepts (a Snowflake endpoint that must stay idle)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._accepted = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def _accept_one(self) -> bool:
        try:
            conn, _ = self._sock.accept()
        except OSError:  # a timeout (nothing waiting) or the socket closed
            return False
        conn.close()
        with self._lock:
            self._accepted += 1
        return True

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._accept_one()

    def accepted(self) -> int:
        """Connections accepted so far, including any still waiting in the backlog."""
        while self._accept_one():
            pass
        with self._lock:
            return self._accepted

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_the_listener_sees_a_connection() -> None:
    # The "no connection" assertions below are only worth something if the listener can see one.
    server = Listener()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        assert server.accepted() == 1
    finally:
        server.close()


# ------------------------------------------------------------------------------------------------ keys


@dataclass(frozen=True)
class Keys:
    plain: str
    encrypted: str
    pkcs1: str
    root: Path
    secrets: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain, encrypted = pem(key, pkcs8), pem(key, pkcs8, PASSWORD)
    pkcs1 = pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    root = tmp_path_factory.mktemp("snowflake-keys")
    (root / "plain.p8").write_text(plain)
    (root / "encrypted.p8").write_text(encrypted)
    (root / "keys.d").mkdir()
    (root / "token").write_text(TOKEN + "\n")
    chunks = [
        line[:24]
        for pem in (plain, encrypted, pkcs1)
        for line in pem.splitlines()
        if not line.startswith("-----") and len(line) >= 24
    ]
    return Keys(plain, encrypted, pkcs1, root, [PASSWORD, WRONG_PASSWORD, TOKEN, JIRA_TOKEN, *chunks])


# ---------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One wrong combination: -p parameters, environment, a --parameters file; what the line must name and say.

    Values may use {root} (the key directory), {port} (the listener) and {key}/{encrypted}/{pkcs1} (PEM text).
    """

    parameter: str
    says: str
    params: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    file: Mapping[str, str] = field(default_factory=dict)
    managed: bool = False


KEY_PAIR = {
    "Snowflake Authentication Strategy": "KEY_PAIR",
    "Snowflake Account Identifier": "MYORG-MYACCOUNT",
    "Snowflake Username": "FLOWKIT_USER",
    "Snowflake Role": "FLOWKIT_ROLE",
    "Snowflake Warehouse": "FLOWKIT_WH",
}
KEY_ENV = {"SNOWFLAKE_PRIVATE_KEY": "{key}"}

CASES: dict[str, Case] = {
    # KEY_PAIR
    "key pair without a key": Case("Snowflake Private Key", "exactly one"),
    "key text and key file": Case(
        "Snowflake Private Key", "exactly one", {"Snowflake Private Key File": "{root}/plain.p8"}, KEY_ENV
    ),
    "missing key file": Case(
        "Snowflake Private Key File", "does not exist", {"Snowflake Private Key File": "{root}/absent.p8"}
    ),
    "key file is a directory": Case(
        "Snowflake Private Key File", "is a directory", {"Snowflake Private Key File": "{root}/keys.d"}
    ),
    "wrong key password (environment)": Case(
        "Snowflake Private Key Password",
        "does not decrypt",
        {"Snowflake Private Key File": "{root}/encrypted.p8"},
        {"SNOWFLAKE_PRIVATE_KEY_PASSWORD": WRONG_PASSWORD},
    ),
    "wrong key password (parameters file)": Case(
        "Snowflake Private Key Password",
        "does not decrypt",
        file={"Snowflake Private Key": "{encrypted}", "Snowflake Private Key Password": WRONG_PASSWORD},
    ),
    "no password for an encrypted key": Case(
        "Snowflake Private Key Password", "encrypted", env={"SNOWFLAKE_PRIVATE_KEY": "{encrypted}"}
    ),
    "password for an unencrypted key": Case(
        "Snowflake Private Key Password", "not encrypted", env={**KEY_ENV, "SNOWFLAKE_PRIVATE_KEY_PASSWORD": PASSWORD}
    ),
    "PKCS#1 key text": Case("Snowflake Private Key", "PKCS#1", env={"SNOWFLAKE_PRIVATE_KEY": "{pkcs1}"}),
    "garbage key text": Case("Snowflake Private Key", "not PEM", env={"SNOWFLAKE_PRIVATE_KEY": "garbage, not a key"}),
    "key text in the key file parameter": Case(
        "Snowflake Private Key File", "", file={"Snowflake Private Key File": "{key}"}
    ),
    # SNOWFLAKE_MANAGED
    "managed with key text": Case("Snowflake Private Key", "must be blank", env=KEY_ENV, managed=True),
    "managed with key file": Case(
        "Snowflake Private Key File", "must be blank", {"Snowflake Private Key File": "{root}/plain.p8"}, managed=True
    ),
    "managed with key password": Case(
        "Snowflake Private Key Password",
        "must be blank",
        env={"SNOWFLAKE_PRIVATE_KEY_PASSWORD": PASSWORD},
        managed=True,
    ),
    "managed with account": Case(
        "Snowflake Account Identifier",
        "must be blank",
        {"Snowflake Account Identifier": "MYORG-MYACCOUNT"},
        managed=True,
    ),
    "managed with username": Case(
        "Snowflake Username", "must be blank", {"Snowflake Username": "FLOWKIT_USER"}, managed=True
    ),
    "managed token file absent": Case(
        "Snowflake Authentication Strategy",
        "token file",
        env={"FLOWKIT_SNOWFLAKE_TOKEN_FILE": "{root}/absent-token"},
        managed=True,
    ),
    "managed without SNOWFLAKE_HOST": Case(
        "Snowflake Authentication Strategy", "SNOWFLAKE_HOST", env={"SNOWFLAKE_HOST": ""}, managed=True
    ),
    "managed without SNOWFLAKE_ACCOUNT (old strategy name)": Case(
        "Snowflake Authentication Strategy",
        "SNOWFLAKE_ACCOUNT",
        {"Snowflake Authentication Strategy": "SNOWFLAKE_SESSION_TOKEN"},
        {"SNOWFLAKE_ACCOUNT": ""},
        managed=True,
    ),
    # host, names, strategy (with an otherwise valid key pair)
    "http host that is not loopback": Case(
        "Snowflake Host", "loopback", {"Snowflake Host": "http://myorg-myaccount.snowflakecomputing.com"}, KEY_ENV
    ),
    "ftp host": Case("Snowflake Host", "https://host", {"Snowflake Host": "ftp://127.0.0.1:{port}"}, KEY_ENV),
    "host with a path after the port": Case(
        "Snowflake Host", "nothing after the port", {"Snowflake Host": "http://127.0.0.1:{port}/session"}, KEY_ENV
    ),
    "blank database": Case("Destination Database", "is required", {"Destination Database": ""}, KEY_ENV),
    "blank schema": Case("Destination Schema", "is required", {"Destination Schema": ""}, managed=True),
    "database with a double quote": Case(
        "Destination Database", "double quotes", {"Destination Database": 'JIRA"DB'}, KEY_ENV
    ),
    "schema with a double quote": Case(
        "Destination Schema", "double quotes", {"Destination Schema": '"AGILE"'}, managed=True
    ),
    "unknown strategy": Case(
        "Snowflake Authentication Strategy", "not a strategy", {"Snowflake Authentication Strategy": "OAUTH"}, KEY_ENV
    ),
}


def _fill(text: str, keys: Keys, port: int) -> str:
    return text.format(root=keys.root, port=port, key=keys.plain, encrypted=keys.encrypted, pkcs1=keys.pkcs1)


def _clean_environment() -> dict[str, str]:
    """The test process's environment without anything that would configure Snowflake, Jira or flowkit."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "FLOWKIT_", "JIRA_"))}


@dataclass(frozen=True)
class Setup:
    params: dict[str, str]
    env: dict[str, str]
    parameters_file: Path | None


def _setup(case: Case, keys: Keys, sim: Any, listener: Listener, tmp_path: Path) -> Setup:
    overrides = overrides_for(sim, tmp_path / "warehouse.db")
    del overrides["Jira API Token"]  # sensitive: from the environment, as users pass it
    params = {
        **overrides,
        "Destination Type": "SNOWFLAKE",
        "Destination Database": "JIRA_DB",
        "Destination Schema": "AGILE",
        "Snowflake Host": f"http://127.0.0.1:{listener.port}",
    }
    env = {"JIRA_API_TOKEN": JIRA_TOKEN}
    if case.managed:
        params["Snowflake Authentication Strategy"] = "SNOWFLAKE_MANAGED"
        env.update(
            {
                "SNOWFLAKE_HOST": "127.0.0.1",
                "SNOWFLAKE_PORT": str(listener.port),
                "SNOWFLAKE_ACCOUNT": "MYORG-MYACCOUNT",
                "FLOWKIT_SNOWFLAKE_TOKEN_FILE": "{root}/token",
            }
        )
    else:
        params.update(KEY_PAIR)
    params.update(case.params)
    env.update(case.env)
    parameters_file = None
    if case.file:
        parameters_file = tmp_path / "snowflake-parameters.json"
        parameters_file.write_text(json.dumps({k: _fill(v, keys, listener.port) for k, v in case.file.items()}))
    return Setup(
        {k: _fill(v, keys, listener.port) for k, v in params.items()},
        {k: _fill(v, keys, listener.port) for k, v in env.items() if v != ""},
        parameters_file,
    )


def _start(command: str, setup: Setup, home: Path) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "flowkit.cli", command, str(FLOW)]
    if command == "run":
        args.append("--once")
    for name, value in setup.params.items():
        args += ["-p", f"{name}={value}"]
    if setup.parameters_file is not None:
        args += ["--parameters", str(setup.parameters_file)]
    env = {**_clean_environment(), **setup.env, "FLOWKIT_HOME": str(home)}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def run_both(setup: Setup, tmp_path: Path) -> dict[str, tuple[int, str, str, Path]]:
    """`flowkit validate` and `flowkit run --once`, side by side, each with its own FLOWKIT_HOME."""
    processes = {command: _start(command, setup, tmp_path / f"home-{command}") for command in ("validate", "run")}
    results: dict[str, tuple[int, str, str, Path]] = {}
    for command, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        results[command] = (process.returncode, stdout, stderr, tmp_path / f"home-{command}")
    return results


def _files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("name", list(CASES))
def test_wrong_snowflake_parameters_are_refused_before_anything_happens(
    tmp_path: Path, keys: Keys, jira_sim: Any, listener: Listener, name: str
) -> None:
    case = CASES[name]
    setup = _setup(case, keys, jira_sim, listener, tmp_path)
    for command, (code, stdout, stderr, home) in run_both(setup, tmp_path).items():
        output = stdout + stderr
        # Count, never print, a leak: the test report would show the secret too.
        leaked = sum(secret in output for secret in keys.secrets)
        assert leaked == 0, f"`flowkit {command}` printed a secret"
        assert code == 2, f"`flowkit {command}` exit {code}: {stderr}"
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"`flowkit {command}`: {stderr}"
        assert f"'{case.parameter}'" in lines[0] and case.says.lower() in lines[0].lower(), lines[0]
        assert stdout == "", f"`flowkit {command}` stdout: {stdout}"
        # A refused run writes nothing: no state, no Snowflake mirror, no SQLite warehouse.
        assert _files_under(home) == [], f"`flowkit {command}` wrote {_files_under(home)}"
    assert not (tmp_path / "warehouse.db").exists()
    assert jira_sim.request_log.total == 0
    assert listener.accepted() == 0


@pytest.mark.parametrize("strategy", ["KEY_PAIR", "SNOWFLAKE_MANAGED"])
def test_a_valid_snowflake_configuration_validates_without_connecting_anywhere(
    tmp_path: Path, keys: Keys, jira_sim: Any, listener: Listener, strategy: str
) -> None:
    if strategy == "KEY_PAIR":  # encrypted key file, password from the environment
        case = Case(
            "",
            "",
            {"Snowflake Private Key File": "{root}/encrypted.p8"},
            {"SNOWFLAKE_PRIVATE_KEY_PASSWORD": PASSWORD},
        )
    else:
        case = Case("", "", managed=True)
    setup = _setup(case, keys, jira_sim, listener, tmp_path)
    home = tmp_path / "home"
    process = _start("validate", setup, home)
    stdout, stderr = process.communicate(timeout=60)
    assert sum(secret in stdout + stderr for secret in keys.secrets) == 0, "`flowkit validate` printed a secret"
    assert process.returncode == 0, stderr
    assert "valid" in stdout and stderr == ""
    assert _files_under(home) == []
    assert jira_sim.request_log.total == 0
    assert listener.accepted() == 0
