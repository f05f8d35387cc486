"""A local Snowflake emulator for tests: fakesnow's HTTP server in a subprocess, with a statement log.

Use the session-scoped fixture (register this module as a pytest plugin, e.g.
``pytest_plugins = ["tests.snowflake_emulator"]`` in the root conftest)::

    def test_x(snowflake_emulator):
        with snowflake_emulator.connect() as conn:          # the real snowflake.connector.connect
            conn.cursor().execute('CREATE DATABASE "DB"')
        mark = snowflake_emulator.mark()
        ...                                                   # code under test connects with .connect_kwargs()
        assert snowflake_emulator.statements_since(mark) == [...]

The server (tests/fakesnow_server.py) records every request it receives, so the statements a run
sent (and how many rows it bound) are read from the server, not from our client. It works around
a few fakesnow limits (see its docstring); what fakesnow still cannot emulate (identifier case,
staged bindings, SHOW TABLES row counts, TIMESTAMP_TZ offsets, ...) must be tested another way.
All sessions of one server share one in-memory DuckDB: data lives as long as the server process,
i.e. the pytest session, so tests should use their own database names (see ``unique_name``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SERVER_SCRIPT = Path(__file__).with_name("fakesnow_server.py")
START_TIMEOUT = 60.0


class SnowflakeEmulator:
    """A running emulator: where it listens and what it has received."""

    def __init__(self, host: str, port: int, log_path: Path, server_log_path: Path) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self.server_log_path = server_log_path  # the server's own stderr/stdout, for debugging a 500

    def connect_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for snowflake.connector.connect that reach this emulator."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "account": "flowkit_test",
            "user": "flowkit",
            "password": "unused",  # fakesnow accepts any credentials
            # no telemetry posts, and fail fast rather than retry against a local server
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "network_timeout": 30,
            "login_timeout": 30,
        }
        kwargs.update(overrides)
        return kwargs

    def connect(self, **overrides: Any) -> Any:
        """A real snowflake.connector connection to the emulator (close it, or use it as a context manager)."""
        import snowflake.connector

        return snowflake.connector.connect(**self.connect_kwargs(**overrides))

    def entries(self) -> list[dict[str, Any]]:
        """Every request the server has logged, oldest first (see tests/fakesnow_server.py for fields)."""
        if not self.log_path.exists():
            return []
        with self.log_path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def mark(self) -> int:
        """A position in the log; pass it to statements_since / entries_since."""
        return len(self.entries())

    def entries_since(self, mark: int, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.entries()[mark:] if kind is None or e["kind"] == kind]

    def statements_since(self, mark: int) -> list[str]:
        """The SQL texts the server executed since mark (describe-only requests excluded)."""
        return [e["sqlText"] for e in self.entries_since(mark, "query") if not e["describeOnly"]]

    def settings(self, database: str, schema: str) -> Any:
        """`ConnectionSettings` for a `SnowflakeDestination` on this emulator (it ignores credentials)."""
        from flowkit.destinations.snowflake import ConnectionSettings

        return ConnectionSettings(
            login=lambda: {"account": "flowkit_test", "user": "flowkit", "password": "unused"},
            endpoint={"host": self.host, "port": self.port, "protocol": "http"},
            session={},
            account="flowkit_test",
            database=database,
            schema=schema,
        )

    def create_schema(self, database: str, schema: str) -> None:
        """Create a database and schema (quoted, exact case) as a test's setup."""
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute(f'CREATE DATABASE IF NOT EXISTS "{database}"')
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"."{schema}"')


def unique_name(prefix: str = "DB") -> str:
    """A database/schema name no other test in this pytest session uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10].upper()}"


@contextmanager
def run_emulator(workdir: Path, create_on_connect: bool = False) -> Iterator[SnowflakeEmulator]:
    """Start tests/fakesnow_server.py on a free loopback port; stop it (SIGTERM, then SIGKILL) on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "statements.jsonl"
    ready_path = workdir / "ready.json"
    server_log_path = workdir / "server.log"
    for p in (log_path, ready_path):
        p.unlink(missing_ok=True)
    cmd = [sys.executable, str(SERVER_SCRIPT), "--log", str(log_path), "--ready-file", str(ready_path)]
    if create_on_connect:
        cmd.append("--create-on-connect")
    with server_log_path.open("ab") as server_log:
        proc = subprocess.Popen(cmd, stdout=server_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready_path.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"fakesnow server exited with {proc.returncode}: {server_log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"fakesnow server did not start in {START_TIMEOUT:.0f}s: {server_log_path}")
            time.sleep(0.05)
        ready = json.loads(ready_path.read_text())
        yield SnowflakeEmulator(ready["host"], int(ready["port"]), log_path, server_log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully, then exits by the signal
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def snowflake_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnowflakeEmulator]:
    """One emulator server for the whole pytest session (start-up costs about a second)."""
    with run_emulator(tmp_path_factory.mktemp("snowflake_emulator")) as emulator:
        yield emulator
