"""The Destination contract (docs/destinations.md), one set of assertions run against every destination.

Each test runs on the embedded SQLite warehouse and on Snowflake (the local emulator, through the
real connector). Rows are read back only through the contract: ``fetch_rows(table, metadata=True)``
and ``counts()``; the Snowflake destination answers both from Snowflake, not from its local mirror.
Journal internals (SQL, journal tables, merge log) are tested in test_sqlite_merge.py; Snowflake's
statements and cost in test_snowflake_destination.py.

fakesnow binds rows slowly (a few hundred a second), so every scenario uses tens of rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowkit.destinations import (
    FAIL_TABLE,
    OVERSIZED_LIMIT,
    SET_NULL,
    Destination,
    DestinationError,
    JournalBatch,
    MergePlan,
    MergeResult,
    OversizedValueError,
    SQLiteDestination,
    apply_oversized_strategy,
    canonical_json,
)
from flowkit.destinations.rows import row_hash
from flowkit.destinations.snowflake import ConnectionSettings
from flowkit.destinations.snowflake.destination import SnowflakeDestination
from flowkit.jira.tables import SCHEMA, TABLES
from tests.snowflake_emulator import SnowflakeEmulator, unique_name

ALL = list(TABLES)
KINDS = ["sqlite", "sqlite-prepared", "snowflake"]


class FakeClock:
    """The merge time written to the metadata columns; the same for both destinations."""

    def __init__(self) -> None:
        self.now = datetime(2026, 2, 2, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 1) -> str:
        self.now += timedelta(minutes=minutes)
        return self.text()

    def text(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%S.000Z")


T0 = "2026-02-02T09:00:00.000Z"


def emulator_settings(emulator: SnowflakeEmulator, database: str, schema: str) -> ConnectionSettings:
    """Connection settings reaching the local emulator (it ignores credentials)."""
    settings: ConnectionSettings = emulator.settings(database, schema)
    return settings


class PreparedSQLiteDestination(SQLiteDestination):
    """SQLite with a head start after every append (prepare_merge), as MergeTables gives one while a run is
    still fetching: each merge finds part of its journal unpacked already. Every rule must hold all the same."""

    def append_journal_many(self, batches: Sequence[JournalBatch]) -> None:
        super().append_journal_many(batches)
        for batch in batches:
            self.prepare_merge(batch.table, batch.run_id)


def open_destination(kind: str, request: pytest.FixtureRequest, home: Path, clock: FakeClock) -> Destination:
    """A new destination of ``kind`` with no tables yet (Snowflake: on a fresh database and schema)."""
    if kind == "sqlite":
        return SQLiteDestination(home / "warehouse.db", schema=SCHEMA, clock=clock)
    if kind == "sqlite-prepared":
        return PreparedSQLiteDestination(home / "warehouse.db", schema=SCHEMA, clock=clock)
    emulator: SnowflakeEmulator = request.getfixturevalue("snowflake_emulator")
    database, schema = unique_name("DB"), unique_name("SCH")
    emulator.create_schema(database, schema)
    return SnowflakeDestination(emulator_settings(emulator, database, schema), schema=SCHEMA, home=home, clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=KINDS)
def destination(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Destination]:
    """Every destination type, with all the flow's tables created."""
    d = open_destination(request.param, request, tmp_path, clock)
    try:
        d.ensure_tables(ALL)
        yield d
    finally:
        d.close()


# --------------------------------------------------------------------------- row builders


def board(i: int, name: str | None = None, **kw: Any) -> dict[str, Any]:
    row = {"ID": i, "NAME": name or f"Board {i}", "TYPE": "scrum", "IS_PRIVATE": False}
    row.update(kw)
    return row


def issues(b: int, ids: range | list[int], suffix: str = "") -> list[dict[str, Any]]:
    return [{"BOARD_ID": b, "ISSUE_ID": i, "ISSUE_KEY": f"P{b}-{i}{suffix}"} for i in ids]


def sprint(i: int, **kw: Any) -> dict[str, Any]:
    row = {"ID": i, "NAME": f"Sprint {i}", "STATE": "active", "START_DATE": "2026-02-02T19:00:00.000+10:00"}
    row.update(kw)
    return row


def plan(run: str, accepted: dict[int, str], listed: set[int] | None = None) -> MergePlan:
    return MergePlan(run, accepted, None if listed is None else frozenset(listed))


def keys(d: Destination, table: str) -> list[tuple[Any, ...]]:
    spec = TABLES[table]
    return [tuple(r[k] for k in spec.primary_key) for r in d.fetch_rows(table)]


def sprint_run(d: Destination, run: str, data: dict[int, list[dict[str, Any]]]) -> None:
    for b, sprints in data.items():
        d.append_journal("BOARD_SPRINT", run, b, "a", [{"BOARD_ID": b, "SPRINT_ID": s["ID"]} for s in sprints])
        d.append_journal("SPRINT", run, b, "a", sprints)


def merge_sprints(d: Destination, p: MergePlan) -> tuple[MergeResult, MergeResult]:
    return d.merge("BOARD_SPRINT", p), d.merge("SPRINT", p)


# --------------------------------------------------------------------------- setup and journal validation


@pytest.mark.parametrize("kind", KINDS)
def test_ensure_tables_is_idempotent_and_counts_only_created_tables(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    d = open_destination(kind, request, tmp_path, clock)
    assert isinstance(d, Destination)
    assert d.max_value_bytes == OVERSIZED_LIMIT == 16 * 1024 * 1024
    d.ensure_tables(["BOARD", "BOARD_ISSUE"])
    d.ensure_tables(["BOARD", "BOARD_ISSUE"])  # idempotent
    assert d.counts() == {"BOARD": 0, "BOARD_ISSUE": 0}
    d.close()
    d.close()  # idempotent


@pytest.mark.parametrize("kind", KINDS)
def test_ensure_sprint_brings_board_sprint(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    d = open_destination(kind, request, tmp_path, clock)
    try:
        d.ensure_tables(["SPRINT"])
        assert set(d.counts()) == {"SPRINT", "BOARD_SPRINT"}
    finally:
        d.close()


@pytest.mark.parametrize("kind", KINDS)
def test_merge_before_ensure_tables_is_refused(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    d = open_destination(kind, request, tmp_path, clock)
    try:
        with pytest.raises(DestinationError, match="ensure_tables"):
            d.merge("BOARD", plan("r", {}))
    finally:
        d.close()


def test_unknown_table_is_a_destination_error(destination: Destination) -> None:
    with pytest.raises(DestinationError, match="unknown table"):
        destination.append_journal("ISSUES", "r", 1, "a", [{"ID": 1}])
    with pytest.raises(DestinationError, match="unknown table"):
        destination.merge("ISSUES", plan("r", {}))
    with pytest.raises(DestinationError, match="unknown table"):
        destination.fetch_rows("ISSUES")


def test_a_closed_destination_refuses_to_work(destination: Destination) -> None:
    destination.close()
    with pytest.raises(DestinationError, match="closed"):
        destination.counts()


def test_append_refuses_bad_rows_and_journals_nothing(destination: Destination) -> None:
    with pytest.raises(DestinationError, match="unknown column"):
        destination.append_journal("BOARD_ISSUE", "r", 1, "a", [{"BOARD_ID": 1, "ISSUE_ID": 2, "KEY": "x"}])
    with pytest.raises(DestinationError, match="NULL primary key"):
        destination.append_journal("BOARD_ISSUE", "r", 1, "a", [{"BOARD_ID": 1, "ISSUE_KEY": "x"}])
    assert destination.merge("BOARD_ISSUE", plan("r", {1: "a"})) == MergeResult()
    assert destination.counts()["BOARD_ISSUE"] == 0
    assert destination.prune_journal(None) == 0


def test_append_many_writes_every_batch_or_none(destination: Destination) -> None:
    good = [
        JournalBatch("BOARD", "r", 1, "a", [board(1)]),
        JournalBatch("BOARD_ISSUE", "r", 1, "b", issues(1, range(3))),
        JournalBatch("BOARD_ISSUE", "r", 2, "c", []),
    ]
    destination.append_journal_many(good)
    bad = [
        JournalBatch("BOARD_ISSUE", "r", 3, "d", issues(3, range(2))),
        JournalBatch("BOARD_ISSUE", "r", 4, "e", [{}]),
    ]
    with pytest.raises(DestinationError, match="NULL primary key"):
        destination.append_journal_many(bad)
    assert destination.merge("BOARD", plan("r", {1: "a"})).inserted == 1
    # the good batch before the bad one was not written either: partition 3 merges no rows
    result = destination.merge("BOARD_ISSUE", plan("r", {1: "b", 2: "c", 3: "d", 4: "e"}))
    assert result == MergeResult(inserted=3)
    assert keys(destination, "BOARD_ISSUE") == [(1, 0), (1, 1), (1, 2)]
    assert destination.counts() == {**dict.fromkeys(TABLES, 0), "BOARD": 1, "BOARD_ISSUE": 3}


# --------------------------------------------------------------------------- merge basics


def test_first_merge_inserts_with_metadata(destination: Destination) -> None:
    destination.append_journal("BOARD", "r1", 1, "a1", [board(1, COLUMN_CONFIG={"b": 2, "a": [1]}, IS_PRIVATE=True)])
    destination.append_journal("BOARD", "r1", 2, "a1", [board(2)])
    result = destination.merge("BOARD", plan("r1", {1: "a1", 2: "a1"}, {1, 2}))
    assert result == MergeResult(inserted=2, updated=0, deleted=0, unchanged=0)
    rows = destination.fetch_rows("BOARD", metadata=True)
    assert [r["ID"] for r in rows] == [1, 2]
    assert rows[0]["IS_PRIVATE"] is True and rows[0]["COLUMN_CONFIG"] == {"a": [1], "b": 2}
    assert rows[1]["IS_PRIVATE"] is False and rows[1]["COLUMN_CONFIG"] is None and rows[1]["SELF"] is None
    assert rows[0]["_SNOWFLAKE_INSERTED_AT"] == rows[0]["_SNOWFLAKE_UPDATED_AT"] == T0
    assert rows[0]["_SNOWFLAKE_HASH"] == row_hash(
        TABLES["BOARD"], board(1, COLUMN_CONFIG={"a": [1], "b": 2}, IS_PRIVATE=True)
    )
    assert rows[1]["_SNOWFLAKE_HASH"] == row_hash(TABLES["BOARD"], board(2))
    assert destination.fetch_rows("BOARD")[0] == {
        **dict.fromkeys(TABLES["BOARD"].column_names),
        **board(1, COLUMN_CONFIG={"a": [1], "b": 2}, IS_PRIVATE=True),
    }


def test_no_change_remerge_leaves_rows_and_updated_at_untouched(destination: Destination, clock: FakeClock) -> None:
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, range(5)))
    destination.merge("BOARD_ISSUE", plan("r1", {1: "a1"}, {1}))
    snapshot = destination.fetch_rows("BOARD_ISSUE", metadata=True)
    assert {r["_SNOWFLAKE_INSERTED_AT"] for r in snapshot} == {r["_SNOWFLAKE_UPDATED_AT"] for r in snapshot} == {T0}
    clock.tick(60)
    destination.append_journal("BOARD_ISSUE", "r2", 1, "a1", issues(1, range(5)))
    result = destination.merge("BOARD_ISSUE", plan("r2", {1: "a1"}, {1}))
    assert result == MergeResult(inserted=0, updated=0, deleted=0, unchanged=5)
    assert not result.changed
    assert destination.fetch_rows("BOARD_ISSUE", metadata=True) == snapshot
    # and a real change is seen
    destination.append_journal("BOARD_ISSUE", "r3", 1, "a1", issues(1, range(4)))
    assert destination.merge("BOARD_ISSUE", plan("r3", {1: "a1"}, {1})) == MergeResult(deleted=1, unchanged=4)
    assert destination.fetch_rows("BOARD_ISSUE", metadata=True) == snapshot[:4]


def test_changed_row_updates_hash_and_updated_at_and_keeps_inserted_at(
    destination: Destination, clock: FakeClock
) -> None:
    destination.append_journal("BOARD", "r1", 1, "a1", [board(1), board(2)])
    destination.merge("BOARD", plan("r1", {1: "a1"}, {1, 2}))
    t1 = clock.tick()
    destination.append_journal("BOARD", "r2", 1, "a1", [board(1, "Renamed"), board(2)])
    result = destination.merge("BOARD", plan("r2", {1: "a1"}, {1, 2}))
    assert (result.inserted, result.updated, result.deleted, result.unchanged) == (0, 1, 0, 1)
    rows = {r["ID"]: r for r in destination.fetch_rows("BOARD", metadata=True)}
    assert rows[1]["NAME"] == "Renamed"
    assert rows[1]["_SNOWFLAKE_INSERTED_AT"] == T0 and rows[1]["_SNOWFLAKE_UPDATED_AT"] == t1
    assert rows[1]["_SNOWFLAKE_HASH"] == row_hash(TABLES["BOARD"], board(1, "Renamed"))
    assert rows[2]["_SNOWFLAKE_UPDATED_AT"] == T0
    assert rows[2]["_SNOWFLAKE_HASH"] == row_hash(TABLES["BOARD"], board(2))


def test_variant_key_order_is_not_a_change(destination: Destination, clock: FakeClock) -> None:
    destination.append_journal(
        "BOARD", "r1", 1, "a", [board(1, ESTIMATION={"type": "field", "field": {"b": 1, "a": 2}})]
    )
    destination.merge("BOARD", plan("r1", {1: "a"}))
    clock.tick()
    destination.append_journal(
        "BOARD", "r2", 1, "a", [board(1, ESTIMATION={"field": {"a": 2, "b": 1}, "type": "field"})]
    )
    assert destination.merge("BOARD", plan("r2", {1: "a"})).unchanged == 1
    (row,) = destination.fetch_rows("BOARD", metadata=True)
    assert row["_SNOWFLAKE_UPDATED_AT"] == T0
    assert row["ESTIMATION"] == {"field": {"a": 2, "b": 1}, "type": "field"}


def test_equal_instants_in_other_offsets_are_not_a_change(destination: Destination, clock: FakeClock) -> None:
    sprint_run(destination, "r1", {1: [sprint(7)]})
    merge_sprints(destination, plan("r1", {1: "a"}))
    clock.tick()
    sprint_run(destination, "r2", {1: [sprint(7, START_DATE="2026-02-02T09:00:00Z")]})
    _, sp = merge_sprints(destination, plan("r2", {1: "a"}))
    assert sp == MergeResult(unchanged=1)
    (row,) = destination.fetch_rows("SPRINT", metadata=True)
    assert row["START_DATE"] == "2026-02-02T09:00:00.000Z" and row["_SNOWFLAKE_UPDATED_AT"] == T0


def test_duplicate_rows_in_journal_keep_the_last(destination: Destination) -> None:
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2]))
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [2], suffix="-late"))
    result = destination.merge("BOARD_ISSUE", plan("r1", {1: "a"}))
    assert result.inserted == 2
    assert [r["ISSUE_KEY"] for r in destination.fetch_rows("BOARD_ISSUE")] == ["P1-1", "P1-2-late"]


# --------------------------------------------------------------------------- rules per table kind


def test_mapping_rows_of_accepted_partition_become_exactly_the_journal(destination: Destination) -> None:
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2, 3]))
    destination.append_journal("BOARD_ISSUE", "r1", 2, "a", issues(2, [7, 8]))
    destination.merge("BOARD_ISSUE", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    # run 2: board 1 lost issue 2 and gained 4; board 2 failed (not accepted, partial journal)
    destination.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, [1, 3, 4]))
    destination.append_journal("BOARD_ISSUE", "r2", 2, "a", issues(2, [7]))
    result = destination.merge("BOARD_ISSUE", plan("r2", {1: "a"}, {1, 2}))
    assert (result.inserted, result.deleted, result.unchanged) == (1, 1, 2)
    assert keys(destination, "BOARD_ISSUE") == [(1, 1), (1, 3), (1, 4), (2, 7), (2, 8)]


def test_partition_whose_keys_changed_but_not_their_number_is_replaced(destination: Destination) -> None:
    # The SQLite merge skips the row-by-row delete of a partition holding as many rows as its staged journal:
    # a swapped key must still be caught (after the upsert the table holds one row more than the stage).
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2, 3]))
    destination.append_journal("BOARD_ISSUE", "r1", 2, "a", issues(2, [5, 6]))
    destination.merge("BOARD_ISSUE", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    destination.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, [1, 2, 4]))
    destination.append_journal("BOARD_ISSUE", "r2", 2, "a", issues(2, [5, 6]))
    result = destination.merge("BOARD_ISSUE", plan("r2", {1: "a", 2: "a"}, {1, 2}))
    assert (result.inserted, result.deleted, result.unchanged) == (1, 1, 4)
    assert keys(destination, "BOARD_ISSUE") == [(1, 1), (1, 2), (1, 4), (2, 5), (2, 6)]


def test_every_unlisted_partition_loses_its_rows(destination: Destination) -> None:
    boards = (1, 2, 3, 5, 8, 13)
    for b in boards:
        destination.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, [1, 2]))
    destination.merge("BOARD_ISSUE", plan("r1", {b: "a" for b in boards}, set(boards)))
    destination.append_journal("BOARD_ISSUE", "r2", 5, "a", issues(5, [1, 2]))
    result = destination.merge("BOARD_ISSUE", plan("r2", {5: "a"}, {2, 5}))
    assert result.deleted == 8
    assert keys(destination, "BOARD_ISSUE") == [(2, 1), (2, 2), (5, 1), (5, 2)]


def test_accepted_partition_with_no_rows_loses_its_rows(destination: Destination) -> None:
    destination.append_journal("BOARD_PROJECT", "r1", 1, "a", [{"BOARD_ID": 1, "PROJECT_ID": 10, "PROJECT_KEY": "P"}])
    destination.merge("BOARD_PROJECT", plan("r1", {1: "a"}, {1}))
    assert destination.fetch_rows("BOARD_PROJECT") == [
        {"BOARD_ID": 1, "PROJECT_ID": 10, "PROJECT_KEY": "P", "PROJECT_NAME": None, "PROJECT_TYPE_KEY": None}
    ]
    result = destination.merge("BOARD_PROJECT", plan("r2", {1: "a"}, {1}))
    assert result.deleted == 1 and destination.counts()["BOARD_PROJECT"] == 0
    assert destination.fetch_rows("BOARD_PROJECT") == []


def test_vanished_partition_rows_deleted_only_with_a_complete_listing(destination: Destination) -> None:
    for b in (1, 2):
        destination.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, [1, 2]))
    destination.merge("BOARD_ISSUE", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    # listing incomplete: board 2 absent from accepted, nothing of it is deleted
    destination.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, [1, 2]))
    assert destination.merge("BOARD_ISSUE", plan("r2", {1: "a"}, None)).deleted == 0
    assert keys(destination, "BOARD_ISSUE") == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # complete listing without board 2: its rows go
    destination.append_journal("BOARD_ISSUE", "r3", 1, "a", issues(1, [1, 2]))
    result = destination.merge("BOARD_ISSUE", plan("r3", {1: "a"}, {1}))
    assert result.deleted == 2 and result.unchanged == 2
    assert keys(destination, "BOARD_ISSUE") == [(1, 1), (1, 2)]
    assert destination.counts()["BOARD_ISSUE"] == 2


def test_board_rows_upserted_and_deleted_only_when_unlisted(destination: Destination) -> None:
    destination.append_journal("BOARD", "r1", 1, "a", [board(1)])
    destination.append_journal("BOARD", "r1", 2, "a", [board(2)])
    destination.merge("BOARD", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    destination.append_journal("BOARD", "r2", 1, "a", [board(1)])
    assert destination.merge("BOARD", plan("r2", {1: "a"}, None)).deleted == 0
    assert keys(destination, "BOARD") == [(1,), (2,)]
    # board 2 listed but its row failed (not accepted): kept
    destination.append_journal("BOARD", "r3", 1, "a", [board(1)])
    assert destination.merge("BOARD", plan("r3", {1: "a"}, {1, 2})).deleted == 0
    assert keys(destination, "BOARD") == [(1,), (2,)]
    destination.append_journal("BOARD", "r4", 1, "a", [board(1)])
    assert destination.merge("BOARD", plan("r4", {1: "a"}, {1})).deleted == 1
    assert keys(destination, "BOARD") == [(1,)]


def test_sprint_retention_follows_board_sprint(destination: Destination) -> None:
    # sprint 100 is shared by boards 1 and 2
    sprint_run(destination, "r1", {1: [sprint(100), sprint(101)], 2: [sprint(100), sprint(200)], 3: [sprint(300)]})
    bs, sp = merge_sprints(destination, plan("r1", {1: "a", 2: "a", 3: "a"}, {1, 2, 3}))
    assert (bs.inserted, sp.inserted) == (5, 4)  # sprint 100 deduplicated
    assert keys(destination, "SPRINT") == [(100,), (101,), (200,), (300,)]
    assert destination.fetch_rows("SPRINT")[0]["START_DATE"] == "2026-02-02T09:00:00.000Z"
    assert destination.fetch_rows("SPRINT")[0]["END_DATE"] is None

    # run 2: board 1 closed sprint 101 away; board 2 failed (keeps 100 and 200 alive);
    # board 3 vanished from the complete board list
    sprint_run(destination, "r2", {1: [sprint(100)], 2: [sprint(200, NAME="partial")]})
    bs, sp = merge_sprints(destination, plan("r2", {1: "a"}, {1, 2}))
    assert keys(destination, "BOARD_SPRINT") == [(1, 100), (2, 100), (2, 200)]
    assert (bs.deleted, sp.deleted) == (2, 2)
    assert keys(destination, "SPRINT") == [(100,), (200,)]
    assert destination.fetch_rows("SPRINT")[1]["NAME"] == "Sprint 200"  # failed board's attempt ignored

    # run 3: board 2 now succeeds with no sprints; sprint 100 still referenced by board 1
    sprint_run(destination, "r3", {1: [sprint(100)], 2: []})
    merge_sprints(destination, plan("r3", {1: "a", 2: "a"}, {1, 2}))
    assert keys(destination, "SPRINT") == [(100,)]
    assert destination.counts()["SPRINT"] == 1 and destination.counts()["BOARD_SPRINT"] == 1


def test_sprint_seen_but_failed_board_keeps_shared_sprint_updated(destination: Destination) -> None:
    sprint_run(destination, "r1", {1: [sprint(5)], 2: [sprint(5)]})
    merge_sprints(destination, plan("r1", {1: "a", 2: "a"}, {1, 2}))
    sprint_run(destination, "r2", {1: [sprint(5, STATE="closed")]})
    _, sp = merge_sprints(destination, plan("r2", {1: "a"}, {1, 2}))
    assert sp.updated == 1 and destination.fetch_rows("SPRINT")[0]["STATE"] == "closed"


def test_superseded_partial_and_stale_attempts_ignored(destination: Destination) -> None:
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, [1, 2, 3], suffix="-old"))  # superseded
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a2", issues(1, [1, 2]))  # accepted
    destination.append_journal("BOARD_ISSUE", "r1", 2, "a1", issues(2, [9]))  # partial, never accepted
    destination.append_journal("BOARD_ISSUE", "r0", 1, "a2", issues(1, [99]))  # another (stale) run
    result = destination.merge("BOARD_ISSUE", plan("r1", {1: "a2"}, None))
    assert result.inserted == 2
    assert [(r["ISSUE_ID"], r["ISSUE_KEY"]) for r in destination.fetch_rows("BOARD_ISSUE")] == [
        (1, "P1-1"),
        (2, "P1-2"),
    ]
    # board 2's partial attempt is still journaled: accepting it later merges it
    assert destination.merge("BOARD_ISSUE", plan("r1", {1: "a2", 2: "a1"})) == MergeResult(
        inserted=1, skipped_partitions=1
    )
    assert keys(destination, "BOARD_ISSUE") == [(1, 1), (1, 2), (2, 9)]
    # the superseded attempt of board 1 was pruned with the accepted one: accepting it now stages nothing
    # (in a new merge of the same run, so board 1's rows become exactly that: none)
    assert destination.merge("BOARD_ISSUE", plan("r1", {1: "a1"})) == MergeResult(deleted=2)
    # the stale run's rows are still journaled, for that run only
    assert destination.prune_journal("r0") == 0
    assert destination.merge("BOARD_ISSUE", plan("r0", {1: "a2"})).inserted == 1
    assert keys(destination, "BOARD_ISSUE") == [(1, 99), (2, 9)]


def test_attempt_appended_after_accepted_one_is_kept_for_a_later_merge(destination: Destination) -> None:
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, [1]))
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a2", issues(1, [2]))  # a newer attempt, still running
    destination.merge("BOARD_ISSUE", plan("r1", {1: "a1"}))
    assert keys(destination, "BOARD_ISSUE") == [(1, 1)]
    destination.merge("BOARD_ISSUE", plan("r1", {1: "a2"}))
    assert keys(destination, "BOARD_ISSUE") == [(1, 2)]
    assert destination.prune_journal(None) == 0  # both attempts were pruned by their merges


# --------------------------------------------------------------------------- journal and idempotence


def test_merge_prunes_only_the_merged_journal(destination: Destination) -> None:
    destination.append_journal("BOARD", "r1", 1, "a", [board(1)])
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, range(3)))
    destination.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1}))
    assert destination.prune_journal(None) == 1  # BOARD's journal row was left alone by the BOARD_ISSUE merge
    assert destination.counts()["BOARD_ISSUE"] == 3


def test_replaying_a_plan_changes_nothing(destination: Destination, clock: FakeClock) -> None:
    sprint_run(destination, "r1", {1: [sprint(1)], 2: [sprint(2)]})
    for b in (1, 2):
        destination.append_journal("BOARD", "r1", b, "a", [board(b)])
        destination.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, range(4)))
        destination.append_journal("BOARD_PROJECT", "r1", b, "a", [{"BOARD_ID": b, "PROJECT_ID": 10 + b}])
    p = plan("r1", {1: "a", 2: "a"}, {1, 2})
    order = SCHEMA.merge_order(ALL)
    assert order == ["BOARD", "BOARD_SPRINT", "SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"]
    first = sum((destination.merge(t, p) for t in order), MergeResult())
    assert first.inserted == 2 + 2 + 2 + 2 + 8
    snapshot = {t: destination.fetch_rows(t, metadata=True) for t in order}
    counts = destination.counts()
    assert counts == {"BOARD": 2, "BOARD_SPRINT": 2, "SPRINT": 2, "BOARD_PROJECT": 2, "BOARD_ISSUE": 8}
    clock.tick()
    for _ in range(2):  # replay the same plan: journal already pruned, nothing changes
        again = sum((destination.merge(t, p) for t in order), MergeResult())
        assert again.changed == 0 and again.skipped_partitions == 10
        assert {t: destination.fetch_rows(t, metadata=True) for t in order} == snapshot
    # re-append the same journal (a crash after the merge, before the state was saved) and merge again
    sprint_run(destination, "r1", {1: [sprint(1)], 2: [sprint(2)]})
    for b in (1, 2):
        destination.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, range(4)))
    again = sum((destination.merge(t, p) for t in order), MergeResult())
    assert again.changed == 0
    assert {t: destination.fetch_rows(t, metadata=True) for t in order} == snapshot
    assert destination.counts() == counts
    assert destination.prune_journal(None) == 0  # the re-appended rows were consumed by the merge


def test_prune_journal_keeps_one_run_and_forgets_the_others(destination: Destination) -> None:
    destination.append_journal("BOARD", "old", 1, "a", [board(1)])
    destination.append_journal("BOARD_ISSUE", "old", 1, "a", issues(1, range(3)))
    destination.append_journal("BOARD_ISSUE", "new", 1, "a", issues(1, range(2)))
    assert destination.merge("BOARD", plan("old", {1: "a"})).inserted == 1
    assert destination.merge("BOARD", plan("old", {1: "a"})).skipped_partitions == 1
    assert destination.prune_journal("new") == 3
    # the merge record of the old run went too: its plan is no longer known as merged
    assert destination.merge("BOARD", plan("old", {1: "a"})) == MergeResult()
    assert destination.prune_journal("new") == 0
    assert destination.merge("BOARD_ISSUE", plan("old", {1: "a"})) == MergeResult()  # its journal is gone
    assert destination.prune_journal(None) == 2
    assert destination.merge("BOARD_ISSUE", plan("new", {1: "a"})) == MergeResult()
    assert destination.counts() == {**dict.fromkeys(TABLES, 0), "BOARD": 1}


def test_merge_result_add_and_changed() -> None:
    a = MergeResult(1, 2, 3, 4)
    b = MergeResult(10, 0, 0, 1, skipped_partitions=2)
    assert a + b == MergeResult(11, 2, 3, 5, 2)
    assert a.changed == 6 and MergeResult(unchanged=9).changed == 0
    assert sum([a, b], MergeResult()) == a + b
    assert a.as_dict() == {"inserted": 1, "updated": 2, "deleted": 3, "unchanged": 4}


# --------------------------------------------------------------------------- Oversized Value Strategy

LIMIT = 16  # bytes: a small limit keeps the data small; the real one is destination.max_value_bytes


def test_oversized_set_null_stores_null_and_warns(destination: Destination) -> None:
    assert destination.max_value_bytes == 16 * 1024 * 1024
    rows = [
        *issues(1, [1]),
        {"BOARD_ID": 1, "ISSUE_ID": 2, "ISSUE_KEY": "K" * (LIMIT + 1)},
        {"BOARD_ID": 1, "ISSUE_ID": 3, "ISSUE_KEY": "é" * 9},  # 9 characters, 18 UTF-8 bytes
        {"BOARD_ID": 1, "ISSUE_ID": 4, "ISSUE_KEY": "é" * 8},  # 16 bytes: at the limit, kept
    ]
    fixed, warnings = apply_oversized_strategy(TABLES["BOARD_ISSUE"], rows, SET_NULL, LIMIT)
    assert len(warnings) == 2
    for warning, issue in zip(warnings, (2, 3), strict=True):
        assert "BOARD_ISSUE" in warning and f"ISSUE_ID={issue}" in warning and "ISSUE_KEY" in warning
    boards, board_warnings = apply_oversized_strategy(
        TABLES["BOARD"], [board(1, COLUMN_CONFIG={"columns": ["x" * LIMIT]})], SET_NULL, LIMIT
    )
    assert len(board_warnings) == 1 and "BOARD row ID=1" in board_warnings[0] and "COLUMN_CONFIG" in board_warnings[0]
    destination.append_journal("BOARD_ISSUE", "r1", 1, "a", fixed)
    destination.append_journal("BOARD", "r1", 1, "a", boards)
    assert destination.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1})).inserted == 4
    assert destination.merge("BOARD", plan("r1", {1: "a"}, {1})).inserted == 1
    assert [r["ISSUE_KEY"] for r in destination.fetch_rows("BOARD_ISSUE")] == ["P1-1", None, None, "é" * 8]
    (stored,) = destination.fetch_rows("BOARD", metadata=True)
    assert stored["COLUMN_CONFIG"] is None and stored["NAME"] == "Board 1"
    assert stored["_SNOWFLAKE_HASH"] == row_hash(TABLES["BOARD"], board(1))


def test_oversized_fail_table_raises_before_anything_is_journaled(destination: Destination) -> None:
    assert destination.max_value_bytes == 16 * 1024 * 1024
    rows = [*issues(1, [1, 2]), {"BOARD_ID": 1, "ISSUE_ID": 3, "ISSUE_KEY": "ü" * (LIMIT // 2 + 1)}]
    assert len("ü" * (LIMIT // 2 + 1)) < LIMIT  # under the limit in characters, over it in bytes
    with pytest.raises(OversizedValueError) as info:
        fixed, _ = apply_oversized_strategy(TABLES["BOARD_ISSUE"], rows, FAIL_TABLE, LIMIT)
        destination.append_journal("BOARD_ISSUE", "r1", 1, "a", fixed)
    assert (info.value.table, info.value.pk, info.value.column) == ("BOARD_ISSUE", (1, 3), "ISSUE_KEY")
    assert isinstance(info.value, DestinationError)
    assert destination.merge("BOARD_ISSUE", plan("r1", {1: "a"})) == MergeResult()
    assert destination.counts()["BOARD_ISSUE"] == 0
    assert destination.prune_journal(None) == 0


def test_a_value_at_the_limit_round_trips(destination: Destination) -> None:
    """What the strategy lets through is stored as given (multi-byte text and VARIANT alike)."""
    text = "ß€😀" * 6  # 2 + 3 + 4 bytes per round: 54 bytes, 18 characters
    variant = {"ä": ["€", 1, None, True], "z": {"nested": "ü"}}
    limit = len(text.encode("utf-8"))
    assert len(canonical_json(variant).encode("utf-8")) <= limit
    rows, warnings = apply_oversized_strategy(
        TABLES["BOARD"], [board(1, FILTER_JQL=text, COLUMN_CONFIG=variant)], SET_NULL, limit
    )
    assert warnings == []
    destination.append_journal("BOARD", "r1", 1, "a", rows)
    destination.merge("BOARD", plan("r1", {1: "a"}))
    (stored,) = destination.fetch_rows("BOARD")
    assert stored["FILTER_JQL"] == text and stored["COLUMN_CONFIG"] == variant


def test_values_of_every_kind_round_trip(destination: Destination) -> None:
    """VARIANT holds any JSON value; text keeps quotes, backslashes, newlines and the empty string."""
    variants: list[Any] = [{}, [], "text", 0, 1.5, True, {"n": None, "big": 2**53 + 1}]
    rows = [
        board(
            i,
            ESTIMATION=v,
            FILTER_JQL='project = "A\\B"\nORDER BY rank',
            LOCATION_TYPE="",
            FILTER_ID=10**15 + i,
        )
        for i, v in enumerate(variants, start=1)
    ]
    destination.append_journal("BOARD", "r1", 1, "a", rows)
    destination.merge("BOARD", plan("r1", {1: "a"}))
    stored = destination.fetch_rows("BOARD", metadata=True)
    assert [r["ESTIMATION"] for r in stored] == variants
    assert {r["FILTER_JQL"] for r in stored} == {'project = "A\\B"\nORDER BY rank'}
    assert {r["LOCATION_TYPE"] for r in stored} == {""}
    assert [r["FILTER_ID"] for r in stored] == [10**15 + i for i in range(1, 8)]
    assert [r["_SNOWFLAKE_HASH"] for r in stored] == [row_hash(TABLES["BOARD"], r) for r in rows]
