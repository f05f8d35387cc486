"""The SQL builders are pure: check the statements they produce."""

from __future__ import annotations

import sqlite3

import pytest

from flowkit.destinations.base import DestinationError
from flowkit.destinations.sqlite import (
    create_journal_sql,
    create_merge_log_sql,
    create_table_sql,
    journal_insert_sql,
    merge_setup_sql,
    merge_statements,
    merge_steps,
    quote,
)
from flowkit.jira.tables import TABLES


def test_quote_refuses_unsafe_identifiers() -> None:
    assert quote("BOARD_ISSUE") == '"BOARD_ISSUE"'
    for bad in ['a"b', "a b", "1A", "", "x;drop"]:
        with pytest.raises(DestinationError):
            quote(bad)


def test_create_table_sql_board_issue() -> None:
    (ddl,) = create_table_sql(TABLES["BOARD_ISSUE"])
    assert ddl == (
        'CREATE TABLE IF NOT EXISTS "BOARD_ISSUE" (\n'
        '  "BOARD_ID" INTEGER NOT NULL,\n  "ISSUE_ID" INTEGER NOT NULL,\n  "ISSUE_KEY" TEXT,\n'
        '  "_SNOWFLAKE_INSERTED_AT" TEXT,\n  "_SNOWFLAKE_UPDATED_AT" TEXT,\n  "_SNOWFLAKE_HASH" TEXT,\n'
        '  PRIMARY KEY ("BOARD_ID", "ISSUE_ID")\n) WITHOUT ROWID'
    )


def test_create_table_sql_board_affinities() -> None:
    ddl = create_table_sql(TABLES["BOARD"])[0]
    assert '"IS_PRIVATE" INTEGER' in ddl
    assert '"COLUMN_CONFIG" TEXT' in ddl
    assert '"ID" INTEGER NOT NULL' in ddl
    assert 'PRIMARY KEY ("ID")\n)' in ddl and "WITHOUT ROWID" not in ddl
    sprint = create_table_sql(TABLES["SPRINT"])[0]
    assert '"START_DATE" TEXT' in sprint
    # BOARD_SPRINT gets an index on SPRINT_ID (SPRINT retention looks sprints up by it)
    assert create_table_sql(TABLES["BOARD_SPRINT"])[1] == (
        'CREATE INDEX IF NOT EXISTS "BOARD_SPRINT_SPRINT_ID_IDX" ON "BOARD_SPRINT" ("SPRINT_ID")'
    )


def test_create_journal_sql() -> None:
    table, index = create_journal_sql(TABLES["BOARD_PROJECT"])
    assert table.startswith(
        'CREATE TABLE IF NOT EXISTS "BOARD_PROJECT_JOURNAL" (\n  "_SEQ" INTEGER PRIMARY KEY AUTOINCREMENT,'
    )
    assert '"_RUN_ID" TEXT NOT NULL' in table and '"_PARTITION" INTEGER NOT NULL' in table
    assert '"_ATTEMPT" TEXT NOT NULL' in table and '"_ROW_COUNT" INTEGER NOT NULL' in table
    assert '"_ROWS" TEXT NOT NULL' in table and '"PROJECT_KEY"' not in table  # one page per journal row
    assert index.endswith('ON "BOARD_PROJECT_JOURNAL" ("_RUN_ID", "_PARTITION", "_ATTEMPT")')
    assert journal_insert_sql(TABLES["BOARD_ISSUE"]) == (
        'INSERT INTO "BOARD_ISSUE_JOURNAL" ("_RUN_ID", "_PARTITION", "_ATTEMPT", "_ROW_COUNT", "_ROWS") '
        "VALUES (?, ?, ?, ?, ?)"
    )


def test_merge_steps_per_table_kind() -> None:
    names = {t: [s.name for s in merge_steps(TABLES[t], listed_partitions=True)] for t in TABLES}
    # tables keyed by their partition can be prepared ahead (prepare_merge): a replay unstages those rows
    prepared_head = ["skip_merged", "last_seq", "unstage_merged", "stage", "upsert"]
    common_tail = ["log", "prune_journal"]
    assert names["BOARD"] == [*prepared_head, "delete_unlisted", *common_tail]
    assert names["SPRINT"] == ["skip_merged", "last_seq", "stage", "upsert", "delete_unretained", *common_tail]
    for t in ("BOARD_SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"):
        assert names[t] == [*prepared_head, "delete_replaced", "delete_unlisted", *common_tail]
    # without a complete board list nothing is deleted because a board vanished
    for t in TABLES:
        assert "delete_unlisted" not in [s.name for s in merge_steps(TABLES[t], listed_partitions=False)]


def test_merge_update_only_touches_changed_hashes() -> None:
    upsert = next(s for s in merge_steps(TABLES["BOARD_ISSUE"], listed_partitions=False) if s.name == "upsert")
    assert upsert.kind == "upserted"
    _, update = upsert.sql.split(" DO UPDATE SET ")
    assert '"_SNOWFLAKE_UPDATED_AT" = excluded."_SNOWFLAKE_UPDATED_AT"' in update
    assert update.endswith('WHERE "BOARD_ISSUE"."_SNOWFLAKE_HASH" IS NOT excluded."_SNOWFLAKE_HASH"')
    assert '"_SNOWFLAKE_INSERTED_AT"' not in update  # the first insert's time is kept
    assert '"BOARD_ID" = excluded."BOARD_ID"' not in update  # keys are not rewritten


def test_sprint_retention_statement() -> None:
    stmt = next(s for s in merge_steps(TABLES["SPRINT"], listed_partitions=True) if s.name == "delete_unretained")
    assert 'FROM "BOARD_SPRINT" AS r WHERE r."SPRINT_ID" = t."ID"' in stmt.sql


def test_all_statements_prepare_on_sqlite() -> None:
    """Every generated statement is valid SQL for the SQLite in use."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for stmt in create_merge_log_sql():
        conn.execute(stmt)
    for spec in TABLES.values():
        for stmt in (*create_table_sql(spec), *create_journal_sql(spec)):
            conn.execute(stmt)
    for spec in TABLES.values():
        for stmt in merge_setup_sql(spec):
            conn.execute(stmt)
        for stmt in merge_statements(spec, listed_partitions=True):
            conn.execute(stmt, {"table": spec.name, "run_id": "r", "now": "t"})
