"""SnowflakeDestination beyond the shared contract (tests/destinations/test_conformance.py): what it costs,
what it sends, drift, crash safety, identifiers; and its pure SQL builders and value conversions.

Cost is checked on the server side: the emulator logs every statement it received
(tests/fakesnow_server.py), and `sql.needs_warehouse` classifies them. Whether Snowflake itself answers
a statement without resuming a warehouse is Snowflake's behaviour, which the emulator cannot show.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flowkit.destinations import DestinationError, MergeResult
from flowkit.destinations.snowflake import sql
from flowkit.destinations.snowflake.destination import (
    CHANGES_PREFIX,
    SnowflakeDestination,
    decode_row,
    stage_values,
)
from flowkit.engine.errors import ConfigurationError
from flowkit.jira.tables import SCHEMA, TABLES
from tests.destinations.test_conformance import (
    T0,
    FakeClock,
    board,
    emulator_settings,
    issues,
    plan,
    sprint,
    sprint_run,
)
from tests.snowflake_emulator import SnowflakeEmulator, unique_name

ALL = list(TABLES)
ORDER = SCHEMA.merge_order(ALL)
ISSUES = ["BOARD_ISSUE"]
PROJECTS = ["BOARD_PROJECT"]
SPRINTS_AND_ISSUES = ["BOARD_SPRINT", "SPRINT", "BOARD_ISSUE"]

Opener = Callable[..., SnowflakeDestination]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def where(snowflake_emulator: SnowflakeEmulator) -> tuple[str, str]:
    """A fresh database and schema in the emulator."""
    database, schema = unique_name("DB"), unique_name("SCH")
    snowflake_emulator.create_schema(database, schema)
    return database, schema


@pytest.fixture
def open_sf(
    snowflake_emulator: SnowflakeEmulator, where: tuple[str, str], tmp_path: Path, clock: FakeClock
) -> Iterator[Opener]:
    """Opens SnowflakeDestinations (a new one = a new flowkit process with the same home); closes them all."""
    opened: list[SnowflakeDestination] = []

    def open_(database: str | None = None, schema: str | None = None, **kw: Any) -> SnowflakeDestination:
        settings = emulator_settings(snowflake_emulator, database or where[0], schema or where[1])
        d = SnowflakeDestination(settings, schema=SCHEMA, home=kw.pop("home", tmp_path), clock=clock, **kw)
        opened.append(d)
        return d

    yield open_
    for d in opened:
        d.close()


@pytest.fixture
def sf(open_sf: Opener) -> SnowflakeDestination:
    d = open_sf()
    d.ensure_tables(ALL)
    return d


def remote(emulator: SnowflakeEmulator, statement: str) -> list[tuple[Any, ...]]:
    """Run a statement in Snowflake behind the destination's back (another session)."""
    with emulator.connect() as conn:
        return list(conn.cursor().execute(statement).fetchall())


def table_name(d: SnowflakeDestination, table: str) -> str:
    return sql.qualified(d.database, d.schema_name, table)


def load_run(d: SnowflakeDestination, run: str, tables: list[str] | None = None) -> MergeResult:
    """One run for boards 1 and 2 (tens of rows) of ``tables`` (all five by default), merged in order."""
    tables = SCHEMA.merge_order(tables or ALL)
    if "SPRINT" in tables:
        sprint_run(d, run, {1: [sprint(1), sprint(3)], 2: [sprint(2), sprint(3)]})
    for b in (1, 2):
        if "BOARD" in tables:
            d.append_journal("BOARD", run, b, "a", [board(b, COLUMN_CONFIG={"columns": [b]})])
        if "BOARD_PROJECT" in tables:
            d.append_journal("BOARD_PROJECT", run, b, "a", [{"BOARD_ID": b, "PROJECT_ID": 10 + b, "PROJECT_KEY": "P"}])
        if "BOARD_ISSUE" in tables:
            d.append_journal("BOARD_ISSUE", run, b, "a", issues(b, range(8)))
    p = plan(run, {1: "a", 2: "a"}, {1, 2})
    result = sum((d.merge(t, p) for t in tables), MergeResult())
    d.prune_journal(run)
    return result


def snapshot(d: SnowflakeDestination, tables: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    return {t: d.fetch_rows(t, metadata=True) for t in tables or ORDER}


def mirror_snapshot(d: SnowflakeDestination, tables: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    return {t: d.mirror.fetch_rows(t, metadata=True) for t in tables or ORDER}


def stage_rows_sent(emulator: SnowflakeEmulator, mark: int) -> dict[str, int]:
    """Rows bound into each stage table since mark, from the server's log (array bindings)."""
    out: dict[str, int] = {}
    for e in emulator.entries_since(mark, "query"):
        text = e["sqlText"] or ""
        if text.startswith(f'INSERT INTO "{sql.STAGE_PREFIX}'):
            name = text.split('"')[1].removeprefix(sql.STAGE_PREFIX)
            out[name] = out.get(name, 0) + e["rows"]
    return out


# --------------------------------------------------------------------------- warehouse cost


def test_a_replay_and_a_second_run_with_identical_data_need_no_warehouse(
    sf: SnowflakeDestination, open_sf: Opener, snowflake_emulator: SnowflakeEmulator, clock: FakeClock
) -> None:
    first = load_run(sf, "r1")
    assert first.inserted == 2 + 4 + 3 + 2 + 16
    expected = snapshot(sf)
    assert sf.warehouse_statements()  # the first run did need one: it wrote rows
    clock.tick(60)

    # a replay of the same plan in the same process
    mark, sent_before = snowflake_emulator.mark(), len(sf.warehouse_statements())
    p = plan("r1", {1: "a", 2: "a"}, {1, 2})
    replay = sum((sf.merge(t, p) for t in ORDER), MergeResult())
    assert replay.changed == 0 and replay.skipped_partitions == 10
    on_server = snowflake_emulator.statements_since(mark)
    assert on_server and [s for s in on_server if sql.needs_warehouse(s)] == []
    assert len(sf.warehouse_statements()) == sent_before
    sf.close()

    # a second run, by a new process with the same home, of identical data
    again = open_sf()
    mark = snowflake_emulator.mark()
    again.ensure_tables(ALL)
    result = load_run(again, "r2")
    assert result.changed == 0 and result.unchanged == first.inserted
    on_server = snowflake_emulator.statements_since(mark)
    assert [s for s in on_server if sql.needs_warehouse(s)] == []
    assert again.warehouse_statements() == []
    # exactly: the tables made sure of, then one metadata row count per merged table
    assert on_server == [
        sql.use_schema_sql(*where_of(again)),
        *(sql.create_table_sql(TABLES[t], *where_of(again)) for t in ORDER),
        *(sql.count_sql(TABLES[t], *where_of(again)) for t in ORDER),
    ]
    assert snapshot(again) == expected  # (reading rows back does need a warehouse: after the checks)


def where_of(d: SnowflakeDestination) -> tuple[str, str]:
    return d.database, d.schema_name


def test_k_changed_rows_of_n_bind_k_rows(
    open_sf: Opener, snowflake_emulator: SnowflakeEmulator, clock: FakeClock
) -> None:
    sf = open_sf(chunk_rows=2)
    sf.ensure_tables(["BOARD_ISSUE"])
    n = 30
    sf.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, range(n)))
    mark = snowflake_emulator.mark()
    assert sf.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1})).inserted == n
    assert stage_rows_sent(snowflake_emulator, mark) == {"BOARD_ISSUE": n}
    clock.tick()

    # run 2: issues 0-2 renamed, 29 gone, 30 new: k = 5 changed keys
    rows = issues(1, range(1, n + 1))
    for r in rows[:2]:
        r["ISSUE_KEY"] += "-renamed"
    rows = [{"BOARD_ID": 1, "ISSUE_ID": 0, "ISSUE_KEY": "P1-0-renamed"}, *rows]
    rows = [r for r in rows if r["ISSUE_ID"] != 29]
    sf.append_journal("BOARD_ISSUE", "r2", 1, "a", rows)
    mark = snowflake_emulator.mark()
    result = sf.merge("BOARD_ISSUE", plan("r2", {1: "a"}, {1}))
    assert (result.inserted, result.updated, result.deleted, result.unchanged) == (1, 3, 1, n - 4)
    assert stage_rows_sent(snowflake_emulator, mark) == {"BOARD_ISSUE": 5}
    on_server = snowflake_emulator.statements_since(mark)
    stage, merge, delete = (
        sql.stage_insert_sql(TABLES["BOARD_ISSUE"]),
        *(f(TABLES["BOARD_ISSUE"], *where_of(sf)) for f in (sql.merge_sql, sql.delete_sql)),
    )
    # one transaction; the 5 rows in chunks of 2; one MERGE, one DELETE; no full reconcile
    assert on_server == [
        sql.create_stage_sql(TABLES["BOARD_ISSUE"]),
        "BEGIN",
        stage,
        stage,
        stage,
        merge,
        delete,
        "COMMIT",
        sql.count_sql(TABLES["BOARD_ISSUE"], *where_of(sf)),
    ]
    assert [e["rows"] for e in snowflake_emulator.entries_since(mark, "query") if e["sqlText"] == stage] == [2, 2, 1]
    remote_rows = {r["ISSUE_ID"]: r for r in sf.fetch_rows("BOARD_ISSUE", metadata=True)}
    assert sorted(remote_rows) == [*range(29), 30]
    assert remote_rows[0]["ISSUE_KEY"] == "P1-0-renamed" and remote_rows[0]["_SNOWFLAKE_INSERTED_AT"] == T0
    assert remote_rows[0]["_SNOWFLAKE_UPDATED_AT"] == clock.text() == remote_rows[30]["_SNOWFLAKE_INSERTED_AT"]
    assert remote_rows[5]["_SNOWFLAKE_UPDATED_AT"] == T0


# --------------------------------------------------------------------------- drift


def test_a_truncated_table_is_reconciled_in_full_on_the_next_merge(
    sf: SnowflakeDestination, snowflake_emulator: SnowflakeEmulator
) -> None:
    load_run(sf, "r1", SPRINTS_AND_ISSUES)
    expected = snapshot(sf, SPRINTS_AND_ISSUES)
    assert expected == mirror_snapshot(sf, SPRINTS_AND_ISSUES)
    remote(snowflake_emulator, f"TRUNCATE TABLE {table_name(sf, 'BOARD_ISSUE')}")
    remote(snowflake_emulator, f"DELETE FROM {table_name(sf, 'SPRINT')}")
    assert sf.counts()["BOARD_ISSUE"] == 0
    mark = snowflake_emulator.mark()
    result = load_run(sf, "r2", SPRINTS_AND_ISSUES)  # nothing changed in Jira
    assert result.changed == 0
    assert stage_rows_sent(snowflake_emulator, mark) == {"BOARD_ISSUE": 16, "SPRINT": 3}
    assert snapshot(sf, SPRINTS_AND_ISSUES) == expected == mirror_snapshot(sf, SPRINTS_AND_ISSUES)


def test_a_row_deleted_or_added_behind_our_back_is_repaired(
    sf: SnowflakeDestination, snowflake_emulator: SnowflakeEmulator
) -> None:
    load_run(sf, "r1", ISSUES)
    expected = snapshot(sf, ISSUES)
    t = table_name(sf, "BOARD_ISSUE")
    remote(snowflake_emulator, f'DELETE FROM {t} WHERE "BOARD_ID" = 1 AND "ISSUE_ID" = 3')
    load_run(sf, "r2", ISSUES)
    assert snapshot(sf, ISSUES) == expected  # restored, with its original metadata
    remote(
        snowflake_emulator,
        f'INSERT INTO {t} ("BOARD_ID", "ISSUE_ID", "ISSUE_KEY", "_SNOWFLAKE_HASH") VALUES (9, 9, \'X\', \'h\')',
    )
    load_run(sf, "r3", ISSUES)
    assert snapshot(sf, ISSUES) == expected == mirror_snapshot(sf, ISSUES)


def test_a_dropped_table_is_recreated_and_refilled_by_the_next_run(
    sf: SnowflakeDestination, open_sf: Opener, snowflake_emulator: SnowflakeEmulator
) -> None:
    """A new run (a new process: it makes sure of its tables first) after the table was dropped."""
    load_run(sf, "r1", PROJECTS)
    expected = snapshot(sf, PROJECTS)
    sf.close()
    remote(snowflake_emulator, f"DROP TABLE {table_name(sf, 'BOARD_PROJECT')}")
    again = open_sf()
    again.ensure_tables(ALL)
    load_run(again, "r2", PROJECTS)
    assert snapshot(again, PROJECTS) == expected == mirror_snapshot(again, PROJECTS)


def test_a_table_dropped_while_the_flow_runs_is_reconciled_by_the_next_merge(
    sf: SnowflakeDestination, snowflake_emulator: SnowflakeEmulator
) -> None:
    """A scheduled flow makes sure of its tables once (WarehouseDestinationService.ensure_tables), so the
    merge itself must notice a dropped table, as it notices a truncated one."""
    load_run(sf, "r1", PROJECTS)
    expected = snapshot(sf, PROJECTS)
    remote(snowflake_emulator, f"DROP TABLE {table_name(sf, 'BOARD_PROJECT')}")
    load_run(sf, "r2", PROJECTS)
    assert snapshot(sf, PROJECTS) == expected


def test_a_lost_mirror_does_not_delete_the_rows_of_a_failed_partition(
    sf: SnowflakeDestination, open_sf: Opener, snowflake_emulator: SnowflakeEmulator, tmp_path: Path
) -> None:
    """The local mirror is gone (a new container, a wiped FLOWKIT_HOME), and in that run board 2 fails.
    The contract keeps a failed partition's rows; the reconcile must not take the empty mirror for truth."""
    load_run(sf, "r1", ISSUES)
    expected = snapshot(sf, ISSUES)
    sf.close()
    again = open_sf(home=tmp_path / "new-home")
    again.ensure_tables(ISSUES)
    again.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, range(8)))
    mark = snowflake_emulator.mark()
    result = again.merge("BOARD_ISSUE", plan("r2", {1: "a"}, {1, 2}))  # board 2 listed but failed
    assert result == MergeResult(unchanged=8)
    assert [s for s in snowflake_emulator.statements_since(mark) if sql.needs_warehouse(s)] == []
    assert again.counts()["BOARD_ISSUE"] == 16
    assert snapshot(again, ISSUES) == expected  # board 2 kept; board 1 untouched (same _SNOWFLAKE_UPDATED_AT)


# --------------------------------------------------------------------------- crash safety


def test_a_crash_after_the_snowflake_commit_is_harmless(
    sf: SnowflakeDestination, snowflake_emulator: SnowflakeEmulator, clock: FakeClock
) -> None:
    """The process dies after Snowflake committed and before the local change table was cleared: the
    changes are sent again by the next merge and change nothing (same rows, same _SNOWFLAKE_UPDATED_AT)."""
    load_run(sf, "r1", ISSUES)
    clock.tick()
    changes = CHANGES_PREFIX + "BOARD_ISSUE"
    with closing(sf.mirror_connection()) as local:
        local.execute(f'CREATE TRIGGER "crash" BEFORE DELETE ON "{changes}" BEGIN SELECT RAISE(ABORT, \'crash\'); END')
    sf.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, range(1, 9), suffix="-v2"))
    p = plan("r2", {1: "a"}, {1, 2})
    with pytest.raises(DestinationError, match="crash"):
        sf.merge("BOARD_ISSUE", p)
    committed = sf.fetch_rows("BOARD_ISSUE", metadata=True)
    assert committed == sf.mirror.fetch_rows("BOARD_ISSUE", metadata=True)  # Snowflake did commit
    with closing(sf.mirror_connection()) as local:
        assert local.execute(f'SELECT COUNT(*) FROM "{changes}"').fetchone()[0] == 9  # 8 upserts, 1 delete
        local.execute('DROP TRIGGER "crash"')
    clock.tick()
    mark = snowflake_emulator.mark()
    assert sf.merge("BOARD_ISSUE", p) == MergeResult(skipped_partitions=1)  # the retry: a replay of the plan
    assert stage_rows_sent(snowflake_emulator, mark) == {"BOARD_ISSUE": 9}  # sent again...
    assert sf.fetch_rows("BOARD_ISSUE", metadata=True) == committed  # ...and nothing changed
    mark = snowflake_emulator.mark()
    sf.merge("BOARD_ISSUE", p)
    assert [s for s in snowflake_emulator.statements_since(mark) if sql.needs_warehouse(s)] == []  # now settled


def test_changes_sent_twice_after_a_newer_change_keep_the_newest_values(
    sf: SnowflakeDestination, clock: FakeClock
) -> None:
    """Re-sent change keys carry the mirror's current row, never an older one."""
    load_run(sf, "r1", ISSUES)
    changes = CHANGES_PREFIX + "BOARD_ISSUE"
    with closing(sf.mirror_connection()) as local:
        local.execute(f'CREATE TABLE "saved" AS SELECT * FROM "{changes}" WHERE 0')
        local.execute(
            f'CREATE TRIGGER "save" BEFORE DELETE ON "{changes}" BEGIN '
            'INSERT INTO "saved" VALUES (OLD."BOARD_ID", OLD."ISSUE_ID", OLD."OP"); END'
        )
    t1 = clock.tick()
    sf.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, range(7), suffix="-v2"))
    sf.merge("BOARD_ISSUE", plan("r2", {1: "a"}, {1, 2}))
    clock.tick()
    sf.append_journal("BOARD_ISSUE", "r3", 1, "a", issues(1, range(8), suffix="-v3"))
    sf.merge("BOARD_ISSUE", plan("r3", {1: "a"}, {1, 2}))
    expected = sf.fetch_rows("BOARD_ISSUE", metadata=True)
    assert {r["ISSUE_KEY"] for r in expected if r["BOARD_ID"] == 1} == {f"P1-{i}-v3" for i in range(8)}
    assert t1 not in {r["_SNOWFLAKE_UPDATED_AT"] for r in expected}
    with closing(sf.mirror_connection()) as local:
        local.execute('DROP TRIGGER "save"')
        # the run-2 changes (and run 3's) come back, as after a crash before the local clear
        local.execute(f'INSERT OR REPLACE INTO "{changes}" SELECT * FROM "saved" ORDER BY rowid')
        assert local.execute(f'SELECT COUNT(*) FROM "{changes}"').fetchone()[0] == 8
    assert sf.sync("BOARD_ISSUE") == 8
    assert sf.fetch_rows("BOARD_ISSUE", metadata=True) == expected


# --------------------------------------------------------------------------- database and schema


def test_a_missing_database_or_schema_is_a_configuration_error_and_never_created(
    open_sf: Opener, snowflake_emulator: SnowflakeEmulator
) -> None:
    missing_db = unique_name("MissingDb")
    existing_db = unique_name("DB")
    snowflake_emulator.create_schema(existing_db, "PUBLIC")
    mark = snowflake_emulator.mark()
    for database, schema in ((missing_db, "jira"), (existing_db, "Missing Schema")):
        d = open_sf(database, schema)
        with pytest.raises(ConfigurationError) as info:
            d.ensure_tables(["BOARD"])
        message = str(info.value)
        assert "'Destination Database'" in message and "'Destination Schema'" in message
        assert f'"{database}"."{schema}"' in message
    sent = snowflake_emulator.statements_since(mark)
    assert sent and not [s for s in sent if s.upper().startswith(("CREATE DATABASE", "CREATE SCHEMA"))]
    databases = [r[1] for r in remote(snowflake_emulator, "SHOW DATABASES")]
    assert missing_db not in databases and existing_db in databases
    schemas = [r[1] for r in remote(snowflake_emulator, f'SHOW SCHEMAS IN DATABASE "{existing_db}"')]
    assert "Missing Schema" not in schemas


def test_mixed_case_and_space_names_are_used_exactly_as_given(
    open_sf: Opener, snowflake_emulator: SnowflakeEmulator, tmp_path: Path
) -> None:
    """`Raw Data` / `jira`-style names. The emulator cannot create a database whose name has a space
    (fakesnow attaches it unquoted), so the space is in the schema name here; it also ignores identifier
    case, so exactness is checked in the statements it received."""
    database = "rawData_" + unique_name("x").lower()
    snowflake_emulator.create_schema(database, "Raw Data")
    snowflake_emulator.create_schema(database, "jira")
    spaced, lower = open_sf(database, "Raw Data"), open_sf(database, "jira")
    assert spaced.mirror_path != lower.mirror_path
    mark = snowflake_emulator.mark()
    for d, count in ((spaced, 3), (lower, 2)):
        d.ensure_tables(["BOARD_ISSUE"])
        d.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, range(count)))
        d.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1}))
    assert spaced.counts() == {"BOARD_ISSUE": 3} and lower.counts() == {"BOARD_ISSUE": 2}
    assert [r["ISSUE_KEY"] for r in spaced.fetch_rows("BOARD_ISSUE")] == ["P1-0", "P1-1", "P1-2"]
    sent = snowflake_emulator.statements_since(mark)
    schemas = (f'"{database}"."Raw Data"', f'"{database}"."jira"')
    naming = [
        s for s in sent if not s.startswith(("BEGIN", "COMMIT", f'"{sql.STAGE_PREFIX}', "CREATE OR REPLACE TEMP"))
    ]
    naming = [s for s in naming if not s.startswith(f'INSERT INTO "{sql.STAGE_PREFIX}')]
    assert naming and all(any(q in s for q in schemas) for s in naming)
    assert {s.split()[0] for s in naming} >= {"USE", "CREATE", "MERGE", "DELETE", "SELECT", "SHOW"}
    assert not [s for s in sent if database.upper() in s or "RAW DATA" in s or '"JIRA"' in s]


def test_a_no_change_run_into_a_schema_with_a_space_needs_no_warehouse(
    open_sf: Opener, snowflake_emulator: SnowflakeEmulator
) -> None:
    database = unique_name("DB")
    snowflake_emulator.create_schema(database, "Raw Data")
    d = open_sf(database, "Raw Data")
    d.ensure_tables(["BOARD"])
    d.append_journal("BOARD", "r1", 1, "a", [board(1)])
    d.merge("BOARD", plan("r1", {1: "a"}, {1}))
    mark = snowflake_emulator.mark()
    d.ensure_tables(["BOARD"])
    d.append_journal("BOARD", "r2", 1, "a", [board(1)])
    assert d.merge("BOARD", plan("r2", {1: "a"}, {1})).changed == 0
    assert [s for s in snowflake_emulator.statements_since(mark) if sql.needs_warehouse(s)] == []


# --------------------------------------------------------------------------- sql.py (pure)

BI = TABLES["BOARD_ISSUE"]
Q = '"DB"."sch"."BOARD_ISSUE"'


@pytest.mark.parametrize(
    ("statement", "needs"),
    [
        ('SHOW TABLES IN SCHEMA "DB"."sch"', False),
        ("show databases", False),
        ('DESCRIBE TABLE "DB"."sch"."T"', False),
        ("BEGIN", False),
        ("COMMIT", False),
        ("ROLLBACK", False),
        ('CREATE TABLE IF NOT EXISTS "DB"."sch"."T" ("K" NUMBER(38,0) NOT NULL, PRIMARY KEY ("K"))', False),
        ('CREATE OR REPLACE TEMPORARY TABLE "_FLOWKIT_STAGE_T" ("K" NUMBER(38,0))', False),
        ('CREATE TABLE "DB"."sch"."T2" AS SELECT * FROM "DB"."sch"."T"', True),
        ('CREATE OR REPLACE TABLE "T2" AS SELECT 1 AS "K"', True),
        ('SELECT COUNT(*) FROM "DB"."sch"."T"', False),
        ('SELECT COUNT(*) FROM "DB"."sch"."T" WHERE "K" > 1', True),
        ('SELECT COUNT(*) FROM "DB"."sch"."T" AS t JOIN "DB"."sch"."U" AS u ON t."K" = u."K"', True),
        ('SELECT "K" FROM "DB"."sch"."T"', True),
        (
            'MERGE INTO "DB"."sch"."T" AS t USING "S" AS s ON t."K" = s."K" '
            'WHEN NOT MATCHED THEN INSERT ("K") VALUES (s."K")',
            True,
        ),
        ('INSERT INTO "_FLOWKIT_STAGE_T" ("K") VALUES (?)', True),
        ('DELETE FROM "DB"."sch"."T" AS t USING "S" AS s WHERE t."K" = s."K"', True),
        ('UPDATE "DB"."sch"."T" SET "K" = 1', True),
    ],
)
def test_needs_warehouse(statement: str, needs: bool) -> None:
    assert sql.needs_warehouse(statement) is needs


@pytest.mark.parametrize(
    "statement",
    [
        'SELECT COUNT(*) FROM "Raw Data"."jira"."BOARD"',
        'CREATE TABLE IF NOT EXISTS "Raw Data"."jira"."BOARD" ("ID" NUMBER(38,0) NOT NULL, PRIMARY KEY ("ID"))',
    ],
)
def test_needs_warehouse_with_quoted_names_holding_spaces(statement: str) -> None:
    """Destination Database / Schema may hold spaces (`Raw Data`): the metadata statements stay metadata."""
    assert sql.needs_warehouse(statement) is False


def test_every_statement_builder_is_classified_as_it_runs() -> None:
    for spec in TABLES.values():
        assert not sql.needs_warehouse(sql.create_table_sql(spec, "DB", "sch"))
        assert not sql.needs_warehouse(sql.create_stage_sql(spec))
        assert not sql.needs_warehouse(sql.count_sql(spec, "DB", "sch"))
        assert not sql.needs_warehouse(sql.show_tables_sql("DB", "sch"))
        for builder in (sql.merge_sql, sql.delete_sql, sql.delete_missing_sql):
            assert sql.needs_warehouse(builder(spec, "DB", "sch"))
        assert sql.needs_warehouse(sql.stage_insert_sql(spec))
        assert sql.needs_warehouse(sql.select_sql(spec, "DB", "sch", metadata=True))


def test_quote_and_qualified_keep_names_exactly() -> None:
    assert sql.quote("Raw Data") == '"Raw Data"'
    assert sql.quote('a"b') == '"a""b"'
    assert sql.qualified("Raw Data", "jira", "BOARD") == '"Raw Data"."jira"."BOARD"'


def test_create_table_sql() -> None:
    assert sql.create_table_sql(BI, "DB", "sch") == (
        f'CREATE TABLE IF NOT EXISTS {Q} ("BOARD_ID" NUMBER(38,0) NOT NULL, "ISSUE_ID" NUMBER(38,0) NOT NULL, '
        '"ISSUE_KEY" VARCHAR, "_SNOWFLAKE_INSERTED_AT" TIMESTAMP_NTZ, "_SNOWFLAKE_UPDATED_AT" TIMESTAMP_NTZ, '
        '"_SNOWFLAKE_HASH" VARCHAR, PRIMARY KEY ("BOARD_ID", "ISSUE_ID"))'
    )
    board_sql = sql.create_table_sql(TABLES["BOARD"], "DB", "sch")
    assert '"IS_PRIVATE" BOOLEAN' in board_sql and '"COLUMN_CONFIG" VARIANT' in board_sql
    assert '"START_DATE" TIMESTAMP_TZ' in sql.create_table_sql(TABLES["SPRINT"], "DB", "sch")


def test_stage_sql() -> None:
    assert sql.create_stage_sql(TABLES["SPRINT"]).startswith(
        'CREATE OR REPLACE TEMPORARY TABLE "_FLOWKIT_STAGE_SPRINT" ("ID" NUMBER(38,0), "SELF" VARCHAR, '
    )
    assert '"START_DATE" VARCHAR' in sql.create_stage_sql(TABLES["SPRINT"])  # converted in the MERGE
    assert sql.create_stage_sql(BI).endswith('"_SNOWFLAKE_HASH" VARCHAR, "_FLOWKIT_OP" VARCHAR)')
    assert sql.stage_insert_sql(BI) == (
        'INSERT INTO "_FLOWKIT_STAGE_BOARD_ISSUE" ("BOARD_ID", "ISSUE_ID", "ISSUE_KEY", "_SNOWFLAKE_INSERTED_AT", '
        '"_SNOWFLAKE_UPDATED_AT", "_SNOWFLAKE_HASH", "_FLOWKIT_OP") VALUES (?, ?, ?, ?, ?, ?, ?)'
    )


def test_merge_and_delete_sql() -> None:
    merge = sql.merge_sql(BI, "DB", "sch")
    assert merge.startswith(f"MERGE INTO {Q} AS t USING (SELECT ")
    assert 'FROM "_FLOWKIT_STAGE_BOARD_ISSUE" WHERE "_FLOWKIT_OP" = \'U\') AS s' in merge
    assert 'ON t."BOARD_ID" = s."BOARD_ID" AND t."ISSUE_ID" = s."ISSUE_ID" ' in merge
    assert (
        'WHEN MATCHED AND t."_SNOWFLAKE_HASH" IS DISTINCT FROM s."_SNOWFLAKE_HASH" THEN UPDATE SET '
        '"ISSUE_KEY" = s."ISSUE_KEY", "_SNOWFLAKE_HASH" = s."_SNOWFLAKE_HASH", '
        '"_SNOWFLAKE_UPDATED_AT" = s."_SNOWFLAKE_UPDATED_AT" WHEN NOT MATCHED THEN INSERT' in merge
    )
    assert '_SNOWFLAKE_INSERTED_AT" = ' not in merge  # never overwritten
    assert 'CAST("_SNOWFLAKE_UPDATED_AT" AS TIMESTAMP_NTZ)' in merge
    board_merge = sql.merge_sql(TABLES["BOARD"], "DB", "sch")
    assert 'PARSE_JSON("COLUMN_CONFIG") AS "COLUMN_CONFIG"' in board_merge
    assert 'CAST("START_DATE" AS TIMESTAMP_TZ)' in sql.merge_sql(TABLES["SPRINT"], "DB", "sch")
    assert sql.delete_sql(BI, "DB", "sch") == (
        f'DELETE FROM {Q} AS t USING (SELECT "BOARD_ID", "ISSUE_ID" FROM "_FLOWKIT_STAGE_BOARD_ISSUE" '
        'WHERE "_FLOWKIT_OP" = \'D\') AS s WHERE t."BOARD_ID" = s."BOARD_ID" AND t."ISSUE_ID" = s."ISSUE_ID"'
    )
    assert sql.delete_missing_sql(BI, "DB", "sch") == (
        f'DELETE FROM {Q} AS t WHERE NOT EXISTS (SELECT 1 FROM "_FLOWKIT_STAGE_BOARD_ISSUE" AS s '
        'WHERE s."BOARD_ID" = t."BOARD_ID" AND s."ISSUE_ID" = t."ISSUE_ID")'
    )


def test_read_sql() -> None:
    assert sql.show_tables_sql("Raw Data", "jira") == 'SHOW TABLES IN SCHEMA "Raw Data"."jira"'
    assert sql.count_sql(BI, "DB", "sch") == f"SELECT COUNT(*) FROM {Q}"
    assert sql.select_sql(BI, "DB", "sch", metadata=False) == (
        f'SELECT "BOARD_ID", "ISSUE_ID", "ISSUE_KEY" FROM {Q} ORDER BY "BOARD_ID", "ISSUE_ID"'
    )
    with_meta = sql.select_sql(BI, "DB", "sch", metadata=True)
    assert '"_SNOWFLAKE_UPDATED_AT", "_SNOWFLAKE_UPDATED_AT" IS NULL, "_SNOWFLAKE_HASH" FROM' in with_meta
    assert 'TO_JSON("COLUMN_CONFIG")' in sql.select_sql(TABLES["BOARD"], "DB", "sch", metadata=False)


# --------------------------------------------------------------------------- value conversions (pure)


def test_stage_values_of_a_mirror_row() -> None:
    spec = TABLES["SPRINT"]
    mirror_row = (7, None, "active", "Sprint 7", "2026-02-02T09:00:00.000Z", None, None, None, 3, "ä goal")
    meta = (T0, "2026-02-02T09:01:00.000Z", "abc")
    assert stage_values(spec, (*mirror_row, *meta, "U")) == (
        7,
        None,
        "active",
        "Sprint 7",
        "2026-02-02 09:00:00.000+00:00",
        None,
        None,
        None,
        3,
        "ä goal",
        "2026-02-02 09:00:00.000",
        "2026-02-02 09:01:00.000",
        "abc",
        "U",
    )
    board_spec = TABLES["BOARD"]
    values: list[Any] = [None] * len(board_spec.all_columns)
    values[0], values[4], values[16] = 1, 0, '{"a":[1]}'
    staged = stage_values(board_spec, (*values, "U"))
    assert staged[0] == 1 and staged[4] is False and staged[16] == '{"a":[1]}' and staged[-1] == "U"
    values[4] = 1
    assert stage_values(board_spec, (*values, "D"))[4] is True


def test_decode_row_of_what_the_connector_returns() -> None:
    spec = TABLES["SPRINT"]
    start = datetime(2026, 2, 2, 19, 0)  # TIMESTAMP_TZ comes back as a datetime (here without offset: UTC)
    values = (
        Decimal(7),
        None,
        "active",
        "Sprint 7",
        start,
        False,
        None,
        True,  # END_DATE is NULL (whatever the driver returned for it)
        datetime(1970, 1, 1),
        True,
        "2026-02-02T09:00:00+10:00",
        False,
        Decimal("3"),
        "goal",
        datetime(2026, 2, 2, 9, 0),
        False,
        datetime(2026, 2, 2, 9, 1),
        False,
        "abc",
    )
    assert decode_row(spec, values, metadata=True) == {
        "ID": 7,
        "SELF": None,
        "STATE": "active",
        "NAME": "Sprint 7",
        "START_DATE": "2026-02-02T19:00:00.000Z",
        "END_DATE": None,
        "COMPLETE_DATE": None,
        "CREATED_DATE": "2026-02-01T23:00:00.000Z",
        "ORIGIN_BOARD_ID": 3,
        "GOAL": "goal",
        "_SNOWFLAKE_INSERTED_AT": T0,
        "_SNOWFLAKE_UPDATED_AT": "2026-02-02T09:01:00.000Z",
        "_SNOWFLAKE_HASH": "abc",
    }
    board_spec = TABLES["BOARD"]
    row: list[Any] = [None] * len(board_spec.columns)
    row[0], row[4], row[16], row[17] = Decimal(1), True, '{"b":2,"a":[1]}', None
    decoded = decode_row(board_spec, row, metadata=False)
    assert decoded["ID"] == 1 and isinstance(decoded["ID"], int)
    assert decoded["IS_PRIVATE"] is True and decoded["COLUMN_CONFIG"] == {"a": [1], "b": 2}
    assert decoded["ESTIMATION"] is None and list(decoded) == list(board_spec.column_names)


def test_ensure_tables_creates_empty_change_tables_in_the_mirror(sf: SnowflakeDestination) -> None:
    """Change capture lives in the mirror file; a sync with nothing pending and no drift sends no row."""
    with closing(sqlite3.connect(sf.mirror_path)) as local:
        names = {r[0] for r in local.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {CHANGES_PREFIX + t for t in ALL} <= names
        assert all(local.execute(f'SELECT COUNT(*) FROM "{CHANGES_PREFIX}{t}"').fetchone()[0] == 0 for t in ALL)
    assert sf.sync("BOARD") == 0
