"""The Snowflake emulator fixture: a real fakesnow server process, reached through the real connector,
recording on the server side what it received."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

import pytest
import snowflake.connector as snowflake_connector

from tests.snowflake_emulator import SnowflakeEmulator, run_emulator, unique_name


def _schema(emulator: SnowflakeEmulator) -> tuple[str, str]:
    database, schema = unique_name("DB"), unique_name("SCH")
    emulator.create_schema(database, schema)
    return database, schema


def test_connect_run_sql_and_read_rows_back(snowflake_emulator: SnowflakeEmulator) -> None:
    database, schema = _schema(snowflake_emulator)
    table = f'"{database}"."{schema}"."BOARD"'
    with snowflake_emulator.connect(paramstyle="qmark") as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE TABLE {table} ("ID" NUMBER(38,0) NOT NULL, "NAME" VARCHAR, "PRIVATE" BOOLEAN)')
        cur.executemany(
            f'INSERT INTO {table} ("ID", "NAME", "PRIVATE") VALUES (?, ?, ?)', [(1, "ä", True), (2, None, False)]
        )
        assert cur.rowcount == 2
        rows = cur.execute(f'SELECT "ID", "NAME", "PRIVATE" FROM {table} ORDER BY "ID"').fetchall()
    assert rows == [(1, "ä", True), (2, None, False)]


def test_an_array_binding_inserts_every_row_with_its_own_values(snowflake_emulator: SnowflakeEmulator) -> None:
    database, schema = _schema(snowflake_emulator)
    table = f'"{database}"."{schema}"."T"'
    rows = [(i, None if i % 3 == 0 else f"név {i}", i % 2 == 0, json.dumps({"i": i})) for i in range(200)]
    with snowflake_emulator.connect(paramstyle="qmark") as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE TABLE {table} ("K" NUMBER(38,0), "S" VARCHAR, "B" BOOLEAN, "J" VARCHAR)')
        cur.executemany(f'INSERT INTO {table} ("K", "S", "B", "J") VALUES (?, ?, ?, ?)', rows)
        assert cur.rowcount == 200
        assert cur.execute(f'SELECT "K", "S", "B", "J" FROM {table} ORDER BY "K"').fetchall() == rows


def test_the_server_logs_each_statement_with_its_bound_rows(snowflake_emulator: SnowflakeEmulator) -> None:
    database, schema = _schema(snowflake_emulator)
    table = f'"{database}"."{schema}"."T"'
    mark = snowflake_emulator.mark()
    with snowflake_emulator.connect(paramstyle="qmark") as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE TABLE {table} ("K" NUMBER(38,0))')
        cur.executemany(f'INSERT INTO {table} ("K") VALUES (?)', [(i,) for i in range(5)])
        cur.execute(f'SELECT COUNT(*) FROM {table} WHERE "K" > ?', (1,))
        with pytest.raises(snowflake_connector.errors.ProgrammingError):
            cur.execute(f'SELECT * FROM "{database}"."{schema}"."MISSING"')

    assert snowflake_emulator.statements_since(mark) == [
        f'CREATE TABLE {table} ("K" NUMBER(38,0))',
        f'INSERT INTO {table} ("K") VALUES (?)',
        f'SELECT COUNT(*) FROM {table} WHERE "K" > ?',
        f'SELECT * FROM "{database}"."{schema}"."MISSING"',
    ]
    queries = snowflake_emulator.entries_since(mark, "query")
    assert [(e["rows"], e["success"]) for e in queries] == [(0, True), (5, True), (1, True), (0, False)]
    assert queries[1]["binds"] == 1  # one array binding for all five rows: a single statement
    assert snowflake_emulator.entries_since(mark)[0]["kind"] == "login"


def test_login_is_logged_without_the_secret(snowflake_emulator: SnowflakeEmulator) -> None:
    token = "test-oauth-token-" + unique_name("T")
    kwargs = snowflake_emulator.connect_kwargs(authenticator="oauth", token=token, role="R1", warehouse="WH1")
    del kwargs["password"]
    mark = snowflake_emulator.mark()
    with snowflake_connector.connect(**kwargs) as conn:
        conn.cursor().execute("SELECT 1")

    (login,) = snowflake_emulator.entries_since(mark, "login")
    assert (login["authenticator"], login["role"], login["warehouse"]) == ("OAUTH", "R1", "WH1")
    assert login["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in snowflake_emulator.log_path.read_text()


def test_connect_does_not_create_a_missing_database(snowflake_emulator: SnowflakeEmulator) -> None:
    missing = unique_name("MISSING")
    with snowflake_emulator.connect(database=missing, schema="PUBLIC") as conn:
        cur = conn.cursor()
        with pytest.raises(snowflake_connector.errors.ProgrammingError) as info:
            cur.execute(f'CREATE TABLE IF NOT EXISTS "{missing}"."PUBLIC"."T" ("K" NUMBER(38,0))')
    assert missing in str(info.value)
    assert missing not in [row[1] for row in snowflake_emulator.connect().cursor().execute("SHOW DATABASES")]


def test_merge_inside_a_transaction_commits_or_rolls_back(snowflake_emulator: SnowflakeEmulator) -> None:
    database, schema = _schema(snowflake_emulator)
    table = f'"{database}"."{schema}"."T"'
    merge = (
        f'MERGE INTO {table} t USING (SELECT "K", "H" FROM "STAGE") s ON t."K" = s."K" '
        'WHEN MATCHED AND t."H" <> s."H" THEN UPDATE SET t."H" = s."H" '
        'WHEN NOT MATCHED THEN INSERT ("K", "H") VALUES (s."K", s."H")'
    )
    with snowflake_emulator.connect(paramstyle="qmark") as conn:
        cur = conn.cursor()
        cur.execute(f'USE SCHEMA "{database}"."{schema}"')
        cur.execute(f'CREATE TABLE {table} ("K" NUMBER(38,0), "H" VARCHAR)')
        cur.execute('CREATE TEMPORARY TABLE "STAGE" ("K" NUMBER(38,0), "H" VARCHAR)')
        cur.executemany('INSERT INTO "STAGE" ("K", "H") VALUES (?, ?)', [(1, "a"), (2, "b")])

        cur.execute("BEGIN")
        assert cur.execute(merge).fetchall() == [(2, 0)]  # number of rows inserted, number of rows updated
        cur.execute(f'DELETE FROM {table} WHERE "K" = 2')
        cur.execute("ROLLBACK")
        assert cur.execute(f"SELECT COUNT(*) FROM {table}").fetchall() == [(0,)]

        cur.execute("BEGIN")  # an array-bound INSERT (executemany) is undone by ROLLBACK too
        cur.executemany(f'INSERT INTO {table} ("K", "H") VALUES (?, ?)', [(k, "x") for k in range(10, 20)])
        cur.execute("ROLLBACK")
        assert cur.execute(f"SELECT COUNT(*) FROM {table}").fetchall() == [(0,)]

        cur.execute("BEGIN")
        cur.execute(merge)
        cur.execute("COMMIT")
        assert cur.execute(f'SELECT "K", "H" FROM {table} ORDER BY "K"').fetchall() == [(1, "a"), (2, "b")]


def test_an_emulator_failure_is_an_immediate_statement_error(snowflake_emulator: SnowflakeEmulator) -> None:
    database, schema = _schema(snowflake_emulator)
    table = f'"{database}"."{schema}"."T"'
    with snowflake_emulator.connect() as conn:
        cur = conn.cursor()
        cur.execute(f'CREATE TABLE {table} ("K" NUMBER(38,0) NOT NULL, PRIMARY KEY ("K"))')
        cur.execute(f'INSERT INTO {table} ("K") VALUES (1)')
        started = time.monotonic()
        # fakesnow enforces primary keys (Snowflake does not) and answers HTTP 500, which the connector would
        # retry for its whole timeout; the server turns it into a failed statement
        with pytest.raises(snowflake_connector.errors.ProgrammingError) as info:
            cur.execute(f'INSERT INTO {table} ("K") VALUES (1)')
        assert time.monotonic() - started < 5
        assert info.value.errno == 261000
        with pytest.raises(snowflake_connector.errors.IntegrityError) as null_info:
            cur.execute(f'INSERT INTO {table} ("K") VALUES (NULL)')
        assert null_info.value.errno == 100072  # Snowflake's own code for a NULL in a NOT NULL column


def test_the_server_process_stops_with_its_context(tmp_path: Path) -> None:
    with run_emulator(tmp_path / "emu") as emulator, emulator.connect() as conn:
        assert conn.cursor().execute("SELECT 41 + 1").fetchall() == [(42,)]
    with pytest.raises(OSError), socket.create_connection((emulator.host, emulator.port), timeout=2):
        pass
