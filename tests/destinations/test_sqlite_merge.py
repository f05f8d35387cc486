"""SQLiteDestination on real SQLite files: journal, merge rules, idempotence, concurrency."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowkit.destinations import (
    Destination,
    DestinationError,
    JournalBatch,
    MergePlan,
    MergeResult,
    SQLiteDestination,
)
from flowkit.destinations.rows import row_hash
from flowkit.jira.tables import SCHEMA, TABLES

ALL = list(TABLES)


class FakeClock:
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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dest(tmp_path: Path, clock: FakeClock) -> Iterator[SQLiteDestination]:
    d = SQLiteDestination(tmp_path / "nested" / "dir" / "warehouse.db", clock=clock, schema=SCHEMA)
    d.ensure_tables(ALL)
    yield d
    d.close()


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


def keys(d: SQLiteDestination, table: str) -> list[tuple[Any, ...]]:
    spec = TABLES[table]
    return [tuple(r[k] for k in spec.primary_key) for r in d.fetch_rows(table)]


def raw(d: SQLiteDestination, sql: str) -> list[tuple[Any, ...]]:
    return d.conn.execute(sql).fetchall()


# --------------------------------------------------------------------------- setup


def test_creates_parent_dirs_wal_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "w.db"
    d = SQLiteDestination(path, schema=SCHEMA)
    assert isinstance(d, Destination)
    d.ensure_tables(["BOARD", "BOARD_ISSUE"])
    d.ensure_tables(["BOARD", "BOARD_ISSUE"])  # idempotent
    assert path.exists()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"BOARD", "BOARD_JOURNAL", "BOARD_ISSUE", "BOARD_ISSUE_JOURNAL"} <= names
    assert "SPRINT" not in names
    info = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(BOARD)")}
    assert info["IS_PRIVATE"] == "INTEGER" and info["COLUMN_CONFIG"] == "TEXT"
    assert list(info)[-3:] == ["_SNOWFLAKE_INSERTED_AT", "_SNOWFLAKE_UPDATED_AT", "_SNOWFLAKE_HASH"]
    idx = [r[1] for r in conn.execute("PRAGMA index_list(BOARD_ISSUE_JOURNAL)")]
    assert "BOARD_ISSUE_JOURNAL_RUN_PARTITION_ATTEMPT_IDX" in idx
    conn.close()
    assert d.counts() == {"BOARD": 0, "BOARD_ISSUE": 0}
    d.close()
    d.close()  # idempotent


def test_ensure_sprint_brings_board_sprint(tmp_path: Path) -> None:
    d = SQLiteDestination(tmp_path / "w.db", schema=SCHEMA)
    d.ensure_tables(["SPRINT"])
    assert set(d.counts()) == {"SPRINT", "BOARD_SPRINT"}
    d.close()


def test_ensure_tables_refuses_incompatible_existing_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "w.db")
    conn.execute('CREATE TABLE "BOARD" ("ID" INTEGER PRIMARY KEY, "NAME" TEXT)')
    conn.commit()
    conn.close()
    d = SQLiteDestination(tmp_path / "w.db", schema=SCHEMA)
    with pytest.raises(DestinationError, match=r"BOARD.*lacks column"):
        d.ensure_tables(["BOARD"])
    d.close()


def test_unknown_or_missing_table(tmp_path: Path) -> None:
    d = SQLiteDestination(tmp_path / "w.db", schema=SCHEMA)
    with pytest.raises(DestinationError, match="unknown table"):
        d.append_journal("ISSUES", "r", 1, "a", [{"ID": 1}])
    with pytest.raises(DestinationError, match="ensure_tables"):
        d.merge("BOARD", plan("r", {}))
    d.close()
    with pytest.raises(DestinationError, match="closed"):
        d.counts()


def test_append_refuses_bad_rows(dest: SQLiteDestination) -> None:
    with pytest.raises(DestinationError, match="unknown column"):
        dest.append_journal("BOARD_ISSUE", "r", 1, "a", [{"BOARD_ID": 1, "ISSUE_ID": 2, "KEY": "x"}])
    with pytest.raises(DestinationError, match="NULL primary key"):
        dest.append_journal("BOARD_ISSUE", "r", 1, "a", [{"BOARD_ID": 1, "ISSUE_KEY": "x"}])
    assert dest.journal_counts()["BOARD_ISSUE"] == 0


def test_append_many_writes_every_batch_or_none(dest: SQLiteDestination) -> None:
    good = [
        JournalBatch("BOARD", "r", 1, "a", [board(1)]),
        JournalBatch("BOARD_ISSUE", "r", 1, "b", issues(1, range(3))),
        JournalBatch("BOARD_ISSUE", "r", 2, "c", []),
    ]
    dest.append_journal_many(good)
    assert dest.journal_counts()["BOARD"] == 1 and dest.journal_counts()["BOARD_ISSUE"] == 3
    bad = [
        JournalBatch("BOARD_ISSUE", "r", 3, "d", issues(3, range(2))),
        JournalBatch("BOARD_ISSUE", "r", 4, "e", [{}]),
    ]
    with pytest.raises(DestinationError, match="NULL primary key"):
        dest.append_journal_many(bad)
    assert dest.journal_counts()["BOARD_ISSUE"] == 3  # the good batch before the bad one was not written either


# --------------------------------------------------------------------------- merge basics


def test_first_merge_inserts_with_metadata(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "r1", 1, "a1", [board(1, COLUMN_CONFIG={"b": 2, "a": [1]}, IS_PRIVATE=True)])
    dest.append_journal("BOARD", "r1", 2, "a1", [board(2)])
    result = dest.merge("BOARD", plan("r1", {1: "a1", 2: "a1"}, {1, 2}))
    assert result == MergeResult(inserted=2, updated=0, deleted=0, unchanged=0)
    rows = dest.fetch_rows("BOARD", metadata=True)
    assert [r["ID"] for r in rows] == [1, 2]
    assert rows[0]["IS_PRIVATE"] is True and rows[0]["COLUMN_CONFIG"] == {"a": [1], "b": 2}
    assert rows[0]["_SNOWFLAKE_INSERTED_AT"] == rows[0]["_SNOWFLAKE_UPDATED_AT"] == T0
    assert rows[0]["_SNOWFLAKE_HASH"] == row_hash(
        TABLES["BOARD"], board(1, COLUMN_CONFIG={"a": [1], "b": 2}, IS_PRIVATE=True)
    )
    assert raw(dest, 'SELECT "IS_PRIVATE", "COLUMN_CONFIG" FROM BOARD WHERE ID = 1') == [(1, '{"a":[1],"b":2}')]


def test_no_change_remerge_leaves_rows_untouched(dest: SQLiteDestination, clock: FakeClock) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, range(5)))
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a1"}, {1}))
    assert raw(dest, "SELECT * FROM BOARD_ISSUE_JOURNAL") == []
    snapshot = raw(dest, "SELECT * FROM BOARD_ISSUE ORDER BY 1, 2")
    clock.tick(60)
    dest.append_journal("BOARD_ISSUE", "r2", 1, "a1", issues(1, range(5)))
    # record every write to the destination table
    dest.conn.execute("CREATE TEMP TABLE writes (op TEXT)")
    for op in ("INSERT", "UPDATE", "DELETE"):
        dest.conn.execute(
            f"CREATE TEMP TRIGGER w_{op} AFTER {op} ON main.BOARD_ISSUE BEGIN INSERT INTO writes VALUES ('{op}'); END"
        )
    result = dest.merge("BOARD_ISSUE", plan("r2", {1: "a1"}, {1}))
    assert result == MergeResult(inserted=0, updated=0, deleted=0, unchanged=5)
    assert not result.changed
    assert raw(dest, "SELECT op FROM writes") == []
    assert raw(dest, "SELECT * FROM BOARD_ISSUE ORDER BY 1, 2") == snapshot
    assert {r[3] for r in snapshot} == {T0} and {r[4] for r in snapshot} == {T0}
    # and a real change is seen by the same triggers
    dest.append_journal("BOARD_ISSUE", "r3", 1, "a1", issues(1, range(4)))
    assert dest.merge("BOARD_ISSUE", plan("r3", {1: "a1"}, {1})).deleted == 1
    assert raw(dest, "SELECT op FROM writes") == [("DELETE",)]


def test_sprint_merge_needs_board_sprint(dest: SQLiteDestination) -> None:
    dest.conn.execute('DROP TABLE "BOARD_SPRINT"')
    with pytest.raises(DestinationError, match="BOARD_SPRINT"):
        dest.merge("SPRINT", plan("r1", {}))


def test_changed_row_updates_hash_and_updated_at(dest: SQLiteDestination, clock: FakeClock) -> None:
    dest.append_journal("BOARD", "r1", 1, "a1", [board(1), board(2)])
    dest.merge("BOARD", plan("r1", {1: "a1"}, {1, 2}))
    t1 = clock.tick()
    dest.append_journal("BOARD", "r2", 1, "a1", [board(1, "Renamed"), board(2)])
    result = dest.merge("BOARD", plan("r2", {1: "a1"}, {1, 2}))
    assert (result.inserted, result.updated, result.deleted, result.unchanged) == (0, 1, 0, 1)
    rows = {r["ID"]: r for r in dest.fetch_rows("BOARD", metadata=True)}
    assert rows[1]["NAME"] == "Renamed"
    assert rows[1]["_SNOWFLAKE_INSERTED_AT"] == T0 and rows[1]["_SNOWFLAKE_UPDATED_AT"] == t1
    assert rows[1]["_SNOWFLAKE_HASH"] == row_hash(TABLES["BOARD"], board(1, "Renamed"))
    assert rows[2]["_SNOWFLAKE_UPDATED_AT"] == T0


def test_variant_key_order_is_not_a_change(dest: SQLiteDestination, clock: FakeClock) -> None:
    dest.append_journal("BOARD", "r1", 1, "a", [board(1, ESTIMATION={"type": "field", "field": {"b": 1, "a": 2}})])
    dest.merge("BOARD", plan("r1", {1: "a"}))
    clock.tick()
    dest.append_journal("BOARD", "r2", 1, "a", [board(1, ESTIMATION={"field": {"a": 2, "b": 1}, "type": "field"})])
    assert dest.merge("BOARD", plan("r2", {1: "a"})).unchanged == 1
    assert dest.fetch_rows("BOARD", metadata=True)[0]["_SNOWFLAKE_UPDATED_AT"] == T0


def test_duplicate_rows_in_journal_keep_the_last(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2]))
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [2], suffix="-late"))
    result = dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}))
    assert result.inserted == 2
    assert [r["ISSUE_KEY"] for r in dest.fetch_rows("BOARD_ISSUE")] == ["P1-1", "P1-2-late"]


# --------------------------------------------------------------------------- full refresh rules


def test_mapping_rows_of_accepted_board_become_exactly_the_journal(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2, 3]))
    dest.append_journal("BOARD_ISSUE", "r1", 2, "a", issues(2, [7, 8]))
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    # run 2: board 1 lost issue 2 and gained 4; board 2 failed (not accepted, partial journal)
    dest.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, [1, 3, 4]))
    dest.append_journal("BOARD_ISSUE", "r2", 2, "a", issues(2, [7]))
    result = dest.merge("BOARD_ISSUE", plan("r2", {1: "a"}, {1, 2}))
    assert (result.inserted, result.deleted, result.unchanged) == (1, 1, 2)
    assert keys(dest, "BOARD_ISSUE") == [(1, 1), (1, 3), (1, 4), (2, 7), (2, 8)]


def test_accepted_board_with_no_rows_loses_its_rows(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_PROJECT", "r1", 1, "a", [{"BOARD_ID": 1, "PROJECT_ID": 10, "PROJECT_KEY": "P"}])
    dest.merge("BOARD_PROJECT", plan("r1", {1: "a"}, {1}))
    result = dest.merge("BOARD_PROJECT", plan("r2", {1: "a"}, {1}))
    assert result.deleted == 1 and dest.counts()["BOARD_PROJECT"] == 0


def test_vanished_board_mapping_rows_deleted_only_with_listed_boards(dest: SQLiteDestination) -> None:
    for b in (1, 2):
        dest.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, [1, 2]))
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    # board list incomplete: board 2 absent from accepted, nothing of it is deleted
    dest.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, [1, 2]))
    assert dest.merge("BOARD_ISSUE", plan("r2", {1: "a"}, None)).deleted == 0
    assert keys(dest, "BOARD_ISSUE") == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # complete list without board 2: its rows go
    dest.append_journal("BOARD_ISSUE", "r3", 1, "a", issues(1, [1, 2]))
    result = dest.merge("BOARD_ISSUE", plan("r3", {1: "a"}, {1}))
    assert result.deleted == 2 and result.unchanged == 2
    assert keys(dest, "BOARD_ISSUE") == [(1, 1), (1, 2)]


def test_board_rows_deleted_only_with_listed_boards(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "r1", 1, "a", [board(1)])
    dest.append_journal("BOARD", "r1", 2, "a", [board(2)])
    dest.merge("BOARD", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    dest.append_journal("BOARD", "r2", 1, "a", [board(1)])
    assert dest.merge("BOARD", plan("r2", {1: "a"}, None)).deleted == 0
    assert keys(dest, "BOARD") == [(1,), (2,)]
    # board 2 listed but its row failed (not accepted): kept
    dest.append_journal("BOARD", "r3", 1, "a", [board(1)])
    assert dest.merge("BOARD", plan("r3", {1: "a"}, {1, 2})).deleted == 0
    assert keys(dest, "BOARD") == [(1,), (2,)]
    dest.append_journal("BOARD", "r4", 1, "a", [board(1)])
    assert dest.merge("BOARD", plan("r4", {1: "a"}, {1})).deleted == 1
    assert keys(dest, "BOARD") == [(1,)]


def _sprint_run(dest: SQLiteDestination, run: str, data: dict[int, list[dict[str, Any]]]) -> None:
    for b, sprints in data.items():
        dest.append_journal("BOARD_SPRINT", run, b, "a", [{"BOARD_ID": b, "SPRINT_ID": s["ID"]} for s in sprints])
        dest.append_journal("SPRINT", run, b, "a", sprints)


def _merge_sprints(dest: SQLiteDestination, p: MergePlan) -> tuple[MergeResult, MergeResult]:
    return dest.merge("BOARD_SPRINT", p), dest.merge("SPRINT", p)


def test_sprint_retention_follows_board_sprint(dest: SQLiteDestination) -> None:
    # sprint 100 is shared by boards 1 and 2
    _sprint_run(dest, "r1", {1: [sprint(100), sprint(101)], 2: [sprint(100), sprint(200)], 3: [sprint(300)]})
    bs, sp = _merge_sprints(dest, plan("r1", {1: "a", 2: "a", 3: "a"}, {1, 2, 3}))
    assert (bs.inserted, sp.inserted) == (5, 4)  # sprint 100 deduplicated
    assert keys(dest, "SPRINT") == [(100,), (101,), (200,), (300,)]
    assert dest.fetch_rows("SPRINT")[0]["START_DATE"] == "2026-02-02T09:00:00.000Z"

    # run 2: board 1 closed sprint 101 away; board 2 failed (keeps 100 and 200 alive);
    # board 3 vanished from the complete board list
    _sprint_run(dest, "r2", {1: [sprint(100)], 2: [sprint(200, NAME="partial")]})
    bs, sp = _merge_sprints(dest, plan("r2", {1: "a"}, {1, 2}))
    assert keys(dest, "BOARD_SPRINT") == [(1, 100), (2, 100), (2, 200)]
    assert (bs.deleted, sp.deleted) == (2, 2)
    assert keys(dest, "SPRINT") == [(100,), (200,)]
    assert dest.fetch_rows("SPRINT")[1]["NAME"] == "Sprint 200"  # failed board's attempt ignored

    # run 3: board 2 now succeeds with no sprints; sprint 100 still referenced by board 1
    _sprint_run(dest, "r3", {1: [sprint(100)], 2: []})
    _merge_sprints(dest, plan("r3", {1: "a", 2: "a"}, {1, 2}))
    assert keys(dest, "SPRINT") == [(100,)]


def test_sprint_seen_but_failed_board_keeps_shared_sprint_updated(dest: SQLiteDestination) -> None:
    _sprint_run(dest, "r1", {1: [sprint(5)], 2: [sprint(5)]})
    _merge_sprints(dest, plan("r1", {1: "a", 2: "a"}, {1, 2}))
    _sprint_run(dest, "r2", {1: [sprint(5, STATE="closed")]})
    _, sp = _merge_sprints(dest, plan("r2", {1: "a"}, {1, 2}))
    assert sp.updated == 1 and dest.fetch_rows("SPRINT")[0]["STATE"] == "closed"


def test_superseded_and_partial_attempts_ignored(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, [1, 2, 3], suffix="-old"))  # superseded
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a2", issues(1, [1, 2]))  # accepted
    dest.append_journal("BOARD_ISSUE", "r1", 2, "a1", issues(2, [9]))  # partial, never accepted
    dest.append_journal("BOARD_ISSUE", "r0", 1, "a2", issues(1, [99]))  # another (stale) run
    result = dest.merge("BOARD_ISSUE", plan("r1", {1: "a2"}, None))
    assert result.inserted == 2
    assert [(r["ISSUE_ID"], r["ISSUE_KEY"]) for r in dest.fetch_rows("BOARD_ISSUE")] == [
        (1, "P1-1"),
        (2, "P1-2"),
    ]
    # accepted and superseded attempts of board 1 pruned; board 2's partial attempt and run r0 kept
    left = raw(dest, 'SELECT "_RUN_ID", "_PARTITION", "_ATTEMPT" FROM BOARD_ISSUE_JOURNAL ORDER BY "_SEQ"')
    assert left == [("r1", 2, "a1"), ("r0", 1, "a2")]


def test_attempt_appended_after_accepted_one_is_not_pruned(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, [1]))
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a2", issues(1, [2]))  # a newer attempt, still running
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a1"}))
    assert raw(dest, 'SELECT "_ATTEMPT" FROM BOARD_ISSUE_JOURNAL') == [("a2",)]
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a2"}))
    assert keys(dest, "BOARD_ISSUE") == [(1, 2)]
    assert dest.journal_counts() == dict.fromkeys(TABLES, 0)


# --------------------------------------------------------------------------- journal and idempotence


def test_journal_pruned_after_merge(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "r1", 1, "a", [board(1)])
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, range(3)))
    assert dest.journal_counts() == {**dict.fromkeys(TABLES, 0), "BOARD": 1, "BOARD_ISSUE": 3}
    assert dest.journal_counts("r1")["BOARD_ISSUE"] == 3 and dest.journal_counts("rX")["BOARD_ISSUE"] == 0
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1}))
    assert dest.journal_counts()["BOARD_ISSUE"] == 0
    assert dest.journal_counts()["BOARD"] == 1  # other tables' journals untouched
    assert dest.merged_partitions("BOARD_ISSUE", "r1") == {1: "a"}


def test_idempotent_replay_of_plan(dest: SQLiteDestination, clock: FakeClock) -> None:
    _sprint_run(dest, "r1", {1: [sprint(1)], 2: [sprint(2)]})
    for b in (1, 2):
        dest.append_journal("BOARD", "r1", b, "a", [board(b)])
        dest.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, range(4)))
        dest.append_journal("BOARD_PROJECT", "r1", b, "a", [{"BOARD_ID": b, "PROJECT_ID": 10 + b}])
    p = plan("r1", {1: "a", 2: "a"}, {1, 2})
    order = ["BOARD", "BOARD_SPRINT", "SPRINT", "BOARD_PROJECT", "BOARD_ISSUE"]
    first = sum((dest.merge(t, p) for t in order), MergeResult())
    assert first.inserted == 2 + 2 + 2 + 2 + 8
    snapshot = {t: dest.fetch_rows(t, metadata=True) for t in order}
    clock.tick()
    for _ in range(2):  # replay the same plan: journal already pruned, nothing changes
        again = sum((dest.merge(t, p) for t in order), MergeResult())
        assert again.changed == 0 and again.skipped_partitions == 10
        assert {t: dest.fetch_rows(t, metadata=True) for t in order} == snapshot
    # re-append the same journal (a crash after the merge, before the state was saved) and merge again
    _sprint_run(dest, "r1", {1: [sprint(1)], 2: [sprint(2)]})
    for b in (1, 2):
        dest.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, range(4)))
    again = sum((dest.merge(t, p) for t in order), MergeResult())
    assert again.changed == 0
    assert {t: dest.fetch_rows(t, metadata=True) for t in order} == snapshot
    assert sum(dest.journal_counts().values()) == 0


def test_failed_merge_rolls_back(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2]))
    dest.conn.execute(
        'CREATE TRIGGER boom BEFORE INSERT ON "BOARD_ISSUE" WHEN NEW.ISSUE_ID = 2 '
        "BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    with pytest.raises(DestinationError, match="boom"):
        dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}))
    assert dest.counts()["BOARD_ISSUE"] == 0
    assert dest.journal_counts()["BOARD_ISSUE"] == 2
    assert dest.merged_partitions("BOARD_ISSUE", "r1") == {}
    dest.conn.execute("DROP TRIGGER boom")
    assert dest.merge("BOARD_ISSUE", plan("r1", {1: "a"})).inserted == 2


def test_prune_journal(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "old", 1, "a", [board(1)])
    dest.append_journal("BOARD_ISSUE", "old", 1, "a", issues(1, range(3)))
    dest.append_journal("BOARD_ISSUE", "new", 1, "a", issues(1, range(2)))
    dest.merge("BOARD", plan("old", {1: "a"}))
    assert dest.prune_journal("new") == 3
    assert dest.journal_counts() == {**dict.fromkeys(TABLES, 0), "BOARD_ISSUE": 2}
    assert dest.merged_partitions("BOARD", "old") == {}
    assert dest.prune_journal("new") == 0
    assert dest.prune_journal(None) == 2
    assert sum(dest.journal_counts().values()) == 0


def test_concurrent_append_journal_from_4_threads(dest: SQLiteDestination) -> None:
    errors: list[BaseException] = []

    def work(b: int) -> None:
        try:
            for batch in range(25):
                dest.append_journal("BOARD_ISSUE", "r1", b, "a", issues(b, range(batch * 40, batch * 40 + 40)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert dest.journal_counts()["BOARD_ISSUE"] == 4 * 1000
    result = dest.merge("BOARD_ISSUE", plan("r1", dict.fromkeys(range(1, 5), "a"), set(range(1, 5))))
    assert result.inserted == 4000 and dest.counts()["BOARD_ISSUE"] == 4000


def test_readers_see_committed_data_from_another_connection(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "r1", 1, "a", [board(1)])
    dest.merge("BOARD", plan("r1", {1: "a"}))
    other = sqlite3.connect(dest.path)
    assert other.execute("SELECT ID, NAME FROM BOARD").fetchall() == [(1, "Board 1")]
    other.close()


def test_merge_result_add_and_changed() -> None:
    a = MergeResult(1, 2, 3, 4)
    b = MergeResult(10, 0, 0, 1, skipped_partitions=2)
    assert a + b == MergeResult(11, 2, 3, 5, 2)
    assert a.changed == 6 and MergeResult(unchanged=9).changed == 0
    assert sum([a, b], MergeResult()) == a + b
