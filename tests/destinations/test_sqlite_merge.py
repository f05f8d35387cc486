"""SQLiteDestination internals on real SQLite files: file and WAL setup, stored forms, journal and
merge-log bookkeeping, SQL-level writes, rollback, threads.

The Destination contract itself (merge rules, idempotence, prune_journal, counts...) is checked for
every destination by tests/destinations/test_conformance.py.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from flowkit.destinations import DestinationError, JournalBatch, MergeResult, SQLiteDestination
from flowkit.destinations.sqlite import Prestage
from flowkit.jira.tables import SCHEMA, TABLES
from tests.destinations.test_conformance import T0, FakeClock, board, issues, keys, plan

ALL = list(TABLES)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dest(tmp_path: Path, clock: FakeClock) -> Iterator[SQLiteDestination]:
    d = SQLiteDestination(tmp_path / "nested" / "dir" / "warehouse.db", clock=clock, schema=SCHEMA)
    d.ensure_tables(ALL)
    yield d
    d.close()


def raw(d: SQLiteDestination, sql: str) -> list[tuple[Any, ...]]:
    return d.conn.execute(sql).fetchall()


# --------------------------------------------------------------------------- setup


def test_creates_parent_dirs_wal_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "w.db"
    d = SQLiteDestination(path, schema=SCHEMA)
    d.ensure_tables(["BOARD", "BOARD_ISSUE"])
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
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 16384  # a new warehouse's pages
    conn.close()
    d.close()


def test_an_existing_warehouse_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with closing(sqlite3.connect(path)) as old:  # made by SQLite's defaults (or an older flowkit)
        old.execute("CREATE TABLE other (x)")
        old.commit()
        assert old.execute("PRAGMA page_size").fetchone()[0] == 4096
    with SQLiteDestination(path, schema=SCHEMA) as d:
        d.ensure_tables(["BOARD", "BOARD_ISSUE"])
        d.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2]))
        d.prepare_merge("BOARD_ISSUE", "r1")
        assert d.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1})).inserted == 2
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert conn.execute("SELECT COUNT(*) FROM BOARD_ISSUE").fetchone()[0] == 2


def test_ensure_tables_refuses_incompatible_existing_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "w.db")
    conn.execute('CREATE TABLE "BOARD" ("ID" INTEGER PRIMARY KEY, "NAME" TEXT)')
    conn.commit()
    conn.close()
    d = SQLiteDestination(tmp_path / "w.db", schema=SCHEMA)
    with pytest.raises(DestinationError, match=r"BOARD.*lacks column"):
        d.ensure_tables(["BOARD"])
    d.close()


def test_tables_must_exist_before_they_are_read_or_merged(tmp_path: Path) -> None:
    with SQLiteDestination(tmp_path / "w.db", schema=SCHEMA) as d:
        with pytest.raises(DestinationError, match=r"table BOARD does not exist in .*call ensure_tables first"):
            d.fetch_rows("BOARD")
        d.conn.execute('CREATE TABLE "board" ("ID" INTEGER)')  # another name's case is another name, as before
        with pytest.raises(DestinationError, match=r"table BOARD does not exist"):
            d.merge("BOARD", plan("r1", {1: "a"}))
        assert d.merged_partitions("BOARD", "r1") == {}  # no merge log yet
        d.conn.execute('DROP TABLE "board"')
        d.ensure_tables(["BOARD"])
        assert d.fetch_rows("BOARD") == []


OLD_JOURNAL = (
    'CREATE TABLE "BOARD_JOURNAL" ("_SEQ" INTEGER PRIMARY KEY, "_RUN_ID", "_SCOPE", "_ATTEMPT", "_ROW_COUNT", "_ROWS")'
)


def test_an_empty_journal_of_an_older_layout_is_replaced_one_with_rows_refused(tmp_path: Path) -> None:
    """Journals and the merge log of the layout before `_SCOPE` became `_PARTITION`: dropped when empty,
    refused by the column check when they still hold rows."""
    path = tmp_path / "w.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(OLD_JOURNAL)
        conn.execute('CREATE TABLE "_FLOWKIT_MERGE_LOG" ("TABLE_NAME", "RUN_ID", "SCOPE", "ATTEMPT", "MERGED_AT")')
        conn.commit()
    with SQLiteDestination(path, schema=SCHEMA) as d:
        d.ensure_tables(["BOARD"])
        columns = {r[1] for r in raw(d, "PRAGMA table_info(BOARD_JOURNAL)")}
        assert "_PARTITION" in columns and "_SCOPE" not in columns
        assert "PARTITION" in {r[1] for r in raw(d, "PRAGMA table_info(_FLOWKIT_MERGE_LOG)")}
        d.append_journal("BOARD", "r1", 1, "a", [board(1)])
        assert d.merge("BOARD", plan("r1", {1: "a"})).inserted == 1
    with closing(sqlite3.connect(path)) as conn:
        conn.execute('DROP TABLE "BOARD_JOURNAL"')
        conn.execute(OLD_JOURNAL)
        conn.execute("""INSERT INTO "BOARD_JOURNAL" VALUES (1, 'r0', 1, 'a', 0, '[]')""")
        conn.commit()
    with SQLiteDestination(path, schema=SCHEMA) as d:
        with pytest.raises(DestinationError, match=r"table BOARD_JOURNAL in .* lacks column\(s\) _PARTITION;"):
            d.ensure_tables(["BOARD"])
        assert raw(d, "SELECT COUNT(*) FROM BOARD_JOURNAL") == [(1,)]  # kept as it was


def test_refused_rows_leave_the_journal_empty(dest: SQLiteDestination) -> None:
    with pytest.raises(DestinationError, match="unknown column"):
        dest.append_journal("BOARD_ISSUE", "r", 1, "a", [{"BOARD_ID": 1, "ISSUE_ID": 2, "KEY": "x"}])
    with pytest.raises(DestinationError, match="NULL primary key"):
        dest.append_journal("BOARD_ISSUE", "r", 1, "a", [{"BOARD_ID": 1, "ISSUE_KEY": "x"}])
    assert dest.journal_counts()["BOARD_ISSUE"] == 0
    dest.append_journal_many(
        [JournalBatch("BOARD", "r", 1, "a", [board(1)]), JournalBatch("BOARD_ISSUE", "r", 1, "b", issues(1, range(3)))]
    )
    assert dest.journal_counts()["BOARD"] == 1 and dest.journal_counts()["BOARD_ISSUE"] == 3
    with pytest.raises(DestinationError, match="NULL primary key"):
        dest.append_journal_many(
            [
                JournalBatch("BOARD_ISSUE", "r", 3, "d", issues(3, range(2))),
                JournalBatch("BOARD_ISSUE", "r", 4, "e", [{}]),
            ]
        )
    assert dest.journal_counts()["BOARD_ISSUE"] == 3  # the good batch before the bad one was not written either


# --------------------------------------------------------------------------- stored form and SQL-level writes


def test_values_are_stored_in_sqlite_form(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "r1", 1, "a1", [board(1, COLUMN_CONFIG={"b": 2, "a": [1]}, IS_PRIVATE=True)])
    dest.merge("BOARD", plan("r1", {1: "a1"}))
    assert raw(dest, 'SELECT "IS_PRIVATE", "COLUMN_CONFIG" FROM BOARD WHERE ID = 1') == [(1, '{"a":[1],"b":2}')]


def test_no_change_remerge_writes_nothing(dest: SQLiteDestination, clock: FakeClock) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, range(5)))
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a1"}, {1}))
    assert raw(dest, "SELECT * FROM BOARD_ISSUE_JOURNAL") == []
    snapshot = raw(dest, "SELECT * FROM BOARD_ISSUE ORDER BY 1, 2")
    clock.tick(60)
    dest.append_journal("BOARD_ISSUE", "r2", 1, "a1", issues(1, range(5)))
    # record every write to the destination table (merges run on the destination's merging connection)
    merging = dest.merge_conn
    merging.execute("CREATE TEMP TABLE writes (op TEXT)")
    for op in ("INSERT", "UPDATE", "DELETE"):
        merging.execute(
            f"CREATE TEMP TRIGGER w_{op} AFTER {op} ON main.BOARD_ISSUE BEGIN INSERT INTO writes VALUES ('{op}'); END"
        )
    result = dest.merge("BOARD_ISSUE", plan("r2", {1: "a1"}, {1}))
    assert result == MergeResult(inserted=0, updated=0, deleted=0, unchanged=5)
    assert merging.execute("SELECT op FROM writes").fetchall() == []
    assert raw(dest, "SELECT * FROM BOARD_ISSUE ORDER BY 1, 2") == snapshot
    assert {r[3] for r in snapshot} == {T0} and {r[4] for r in snapshot} == {T0}
    # and a real change is seen by the same triggers
    dest.append_journal("BOARD_ISSUE", "r3", 1, "a1", issues(1, range(4)))
    assert dest.merge("BOARD_ISSUE", plan("r3", {1: "a1"}, {1})).deleted == 1
    assert merging.execute("SELECT op FROM writes").fetchall() == [("DELETE",)]


def test_sprint_merge_needs_board_sprint(dest: SQLiteDestination) -> None:
    dest.conn.execute('DROP TABLE "BOARD_SPRINT"')
    with pytest.raises(DestinationError, match="BOARD_SPRINT"):
        dest.merge("SPRINT", plan("r1", {}))


# --------------------------------------------------------------------------- journal and merge-log bookkeeping


def test_merge_prunes_accepted_and_superseded_journal_rows(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, [1, 2, 3], suffix="-old"))  # superseded
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a2", issues(1, [1, 2]))  # accepted
    dest.append_journal("BOARD_ISSUE", "r1", 2, "a1", issues(2, [9]))  # partial, never accepted
    dest.append_journal("BOARD_ISSUE", "r0", 1, "a2", issues(1, [99]))  # another (stale) run
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a2"}, None))
    # accepted and superseded attempts of board 1 pruned; board 2's partial attempt and run r0 kept
    left = raw(dest, 'SELECT "_RUN_ID", "_PARTITION", "_ATTEMPT" FROM BOARD_ISSUE_JOURNAL ORDER BY "_SEQ"')
    assert left == [("r1", 2, "a1"), ("r0", 1, "a2")]


def test_attempt_appended_after_accepted_one_is_not_pruned(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, [1]))
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a2", issues(1, [2]))  # a newer attempt, still running
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a1"}))
    assert raw(dest, 'SELECT "_ATTEMPT" FROM BOARD_ISSUE_JOURNAL') == [("a2",)]
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a2"}))
    assert dest.journal_counts() == dict.fromkeys(TABLES, 0)


def test_journal_pruned_after_merge(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "r1", 1, "a", [board(1)])
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, range(3)))
    assert dest.journal_counts() == {**dict.fromkeys(TABLES, 0), "BOARD": 1, "BOARD_ISSUE": 3}
    assert dest.journal_counts("r1")["BOARD_ISSUE"] == 3 and dest.journal_counts("rX")["BOARD_ISSUE"] == 0
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1}))
    assert dest.journal_counts()["BOARD_ISSUE"] == 0
    assert dest.journal_counts()["BOARD"] == 1  # other tables' journals untouched
    assert dest.merged_partitions("BOARD_ISSUE", "r1") == {1: "a"}


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
    assert keys(dest, "BOARD_ISSUE") == [(1, 1), (1, 2)]


def test_prune_journal_clears_journal_and_merge_log(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD", "old", 1, "a", [board(1)])
    dest.append_journal("BOARD_ISSUE", "old", 1, "a", issues(1, range(3)))
    dest.append_journal("BOARD_ISSUE", "new", 1, "a", issues(1, range(2)))
    dest.merge("BOARD", plan("old", {1: "a"}))
    assert dest.merged_partitions("BOARD", "old") == {1: "a"}
    assert dest.prune_journal("new") == 3
    assert dest.journal_counts() == {**dict.fromkeys(TABLES, 0), "BOARD_ISSUE": 2}
    assert dest.merged_partitions("BOARD", "old") == {}
    assert dest.prune_journal(None) == 2
    assert sum(dest.journal_counts().values()) == 0


# --------------------------------------------------------------------------- threads and other connections


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


# --------------------------------------------------------------------------- journal layout upgrade


def test_row_layout_journal_left_by_an_older_flowkit_is_carried_over(tmp_path: Path, clock: FakeClock) -> None:
    """A run left unfinished by a flowkit that journaled one row per row: its journal is the only copy of what
    it fetched, so it is converted to pages (not dropped) and merges to exactly what the old rows said."""
    from flowkit.destinations.rows import row_hash, to_sqlite_values

    path = tmp_path / "w.db"
    conn = sqlite3.connect(path)
    old_rows = {"BOARD": [board(1, COLUMN_CONFIG={"b": [1, "é"]}, IS_PRIVATE=True), board(2)]}
    old_rows["BOARD_ISSUE"] = issues(1, [11, 12]) + issues(1, [12], suffix="-later")  # the later row wins
    for table, rows in old_rows.items():
        spec = TABLES[table]
        cols = ", ".join(f'"{c.name}" {c.sqlite_type}' for c in spec.columns)
        conn.execute(
            f'CREATE TABLE "{table}_JOURNAL" ("_SEQ" INTEGER PRIMARY KEY AUTOINCREMENT, "_RUN_ID" TEXT NOT NULL, '
            f'"_PARTITION" INTEGER NOT NULL, "_ATTEMPT" TEXT NOT NULL, {cols}, "_SNOWFLAKE_HASH" TEXT NOT NULL)'
        )
        conn.execute(
            f'CREATE INDEX "{table}_JOURNAL_RUN_PARTITION_ATTEMPT_IDX" ON "{table}_JOURNAL" '
            '("_RUN_ID", "_PARTITION", "_ATTEMPT")'
        )
        marks = ", ".join("?" * (len(spec.columns) + 1))  # business columns and the hash
        for row in rows:
            part = row.get("BOARD_ID", row.get("ID"))
            values = (*to_sqlite_values(spec, row), row_hash(spec, row))
            conn.execute(f'INSERT INTO "{table}_JOURNAL" VALUES (NULL, ?, ?, ?, {marks})', ("r1", part, "a", *values))
    conn.commit()
    conn.close()

    d = SQLiteDestination(path, clock=clock, schema=SCHEMA)
    d.ensure_tables(ALL)
    assert d.journal_counts("r1") == {"BOARD": 2, "BOARD_ISSUE": 3, "BOARD_PROJECT": 0, "BOARD_SPRINT": 0, "SPRINT": 0}
    d.merge("BOARD", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    d.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1, 2}))
    stored = d.fetch_rows("BOARD", metadata=True)
    assert [(r["ID"], r["IS_PRIVATE"], r["COLUMN_CONFIG"]) for r in stored] == [
        (1, True, {"b": [1, "é"]}),
        (2, False, None),
    ]
    assert [r["_SNOWFLAKE_HASH"] for r in stored] == [row_hash(TABLES["BOARD"], r) for r in old_rows["BOARD"]]
    assert [r["ISSUE_KEY"] for r in d.fetch_rows("BOARD_ISSUE")] == ["P1-11", "P1-12-later"]
    assert not raw(d, "SELECT name FROM sqlite_master WHERE name LIKE '%ROW_LAYOUT%'")
    d.close()


def test_journal_holds_one_row_per_page(dest: SQLiteDestination) -> None:
    dest.append_journal_many(
        [
            JournalBatch("BOARD_ISSUE", "r1", 1, "a", issues(1, range(1, 501))),
            JournalBatch("BOARD_ISSUE", "r1", 2, "a", []),
        ]
    )
    assert raw(dest, 'SELECT "_PARTITION", "_ROW_COUNT" FROM BOARD_ISSUE_JOURNAL') == [(1, 500)]
    assert dest.journal_counts("r1")["BOARD_ISSUE"] == 500
    assert dest.prune_journal(None) == 500


# --------------------------------------------------------------------------- prepare_merge (a head start)


@pytest.mark.parametrize(("taken", "expected"), [("a2", ["P1-2-new", "P1-3-new"]), ("a1", ["P1-1", "P1-2"])])
def test_a_partition_merges_the_attempt_the_plan_takes_whatever_was_prepared(
    dest: SQLiteDestination, taken: str, expected: list[str]
) -> None:
    """The head start follows the attempt appended last (a2); a plan taking a1 gets a1's rows all the same."""
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a1", issues(1, [1, 2]))
    dest.prepare_merge("BOARD_ISSUE", "r1")
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a2", issues(1, [2, 3], suffix="-new"))
    dest.append_journal("BOARD_ISSUE", "r1", 2, "b1", issues(2, [7]))
    dest.prepare_merge("BOARD_ISSUE", "r1")
    result = dest.merge("BOARD_ISSUE", plan("r1", {1: taken, 2: "b1"}, {1, 2}))
    assert [r["ISSUE_KEY"] for r in dest.fetch_rows("BOARD_ISSUE")] == [*expected, "P2-7"]
    assert (result.inserted, result.updated, result.deleted) == (3, 0, 0)


def test_pages_appended_after_a_head_start_are_merged_after_the_prepared_ones(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2]))
    dest.prepare_merge("BOARD_ISSUE", "r1")
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [2, 3], suffix="-late"))  # same attempt, later page
    result = dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1}))
    assert [r["ISSUE_KEY"] for r in dest.fetch_rows("BOARD_ISSUE")] == ["P1-1", "P1-2-late", "P1-3-late"]
    assert result.inserted == 3


def test_a_partition_not_in_the_plan_leaves_the_prepared_stage(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1]))
    dest.append_journal("BOARD_ISSUE", "r1", 2, "a", issues(2, [1]))  # board 2 failed later: not accepted
    dest.prepare_merge("BOARD_ISSUE", "r1")
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1, 2}))
    assert keys(dest, "BOARD_ISSUE") == [(1, 1)]


def test_prestage_bookkeeping_follows_the_last_attempt_of_each_partition() -> None:
    start = Prestage("r1")
    after, ranges, restarted = start.advanced([(1, "a", 3), (2, "b", 4)])
    assert (after.seen_seq, after.parts, ranges, restarted) == (
        4,
        {1: ("a", 3), 2: ("b", 4)},
        [(1, "a", 0, 3), (2, "b", 0, 4)],
        [],
    )
    # more pages of 1's attempt: from where it stopped; a new attempt of 2: from its first page, old rows out
    later, ranges, restarted = after.advanced([(1, "a", 6), (2, "c", 7)])
    assert later.parts == {1: ("a", 6), 2: ("c", 7)} and later.seen_seq == 7
    assert ranges == [(1, "a", 3, 6), (2, "c", 0, 7)] and restarted == [2]
    # two attempts of a new partition in one call: only the one appended last is unpacked
    _, ranges, restarted = later.advanced([(5, "x", 8), (5, "y", 9)])
    assert ranges == [(5, "y", 0, 9)] and restarted == []
    assert later.advanced([]) == (later, [], [])


def test_a_prepared_replay_changes_nothing(dest: SQLiteDestination, clock: FakeClock) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2]))
    dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1}))
    before = dest.fetch_rows("BOARD_ISSUE", metadata=True)
    clock.tick()
    dest.prepare_merge("BOARD_ISSUE", "r1")  # the journal was pruned: nothing to unpack
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2], suffix="-again"))  # re-appended
    dest.prepare_merge("BOARD_ISSUE", "r1")
    result = dest.merge("BOARD_ISSUE", plan("r1", {1: "a"}, {1}))
    assert result.skipped_partitions == 1 and result.changed == 0
    assert dest.fetch_rows("BOARD_ISSUE", metadata=True) == before


def test_a_head_start_for_another_run_is_not_used(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1]))
    dest.prepare_merge("BOARD_ISSUE", "r1")
    dest.append_journal("BOARD_ISSUE", "r2", 1, "a", issues(1, [5]))
    dest.merge("BOARD_ISSUE", plan("r2", {1: "a"}, {1}))
    assert [r["ISSUE_ID"] for r in dest.fetch_rows("BOARD_ISSUE")] == [5]
    assert not prestaged(dest)


def test_tables_keyed_across_partitions_are_not_prepared(dest: SQLiteDestination) -> None:
    """SPRINT rows of one sprint come from several boards: only a merge over every board can pick the last one."""
    dest.append_journal("SPRINT", "r1", 1, "a", [{"ID": 9, "NAME": "S"}])
    dest.prepare_merge("SPRINT", "r1")
    assert not prestaged(dest)


def test_a_head_start_changes_nothing_a_reader_sees(dest: SQLiteDestination) -> None:
    dest.append_journal("BOARD_ISSUE", "r1", 1, "a", issues(1, [1, 2]))
    dest.prepare_merge("BOARD_ISSUE", "r1")
    assert prestaged(dest) == ["_FK_PRESTAGE_BOARD_ISSUE"]
    assert dest.fetch_rows("BOARD_ISSUE") == [] and dest.journal_counts("r1")["BOARD_ISSUE"] == 2
    dest.append_journal("BOARD_ISSUE", "r1", 2, "a", issues(2, [3]))  # appends go on meanwhile
    dest.prepare_merge("BOARD_ISSUE", "r1")
    result = dest.merge("BOARD_ISSUE", plan("r1", {1: "a", 2: "a"}, {1, 2}))
    assert result.inserted == 3 and keys(dest, "BOARD_ISSUE") == [(1, 1), (1, 2), (2, 3)]
    assert prestaged(dest) == []


def prestaged(dest: SQLiteDestination) -> list[str]:
    """The head-start stages now in the merging connection's TEMP database."""
    rows = dest.merge_conn.execute("SELECT name FROM temp.sqlite_master WHERE name LIKE '_FK_PRESTAGE_%'")
    return [r[0] for r in rows]


def test_a_merge_during_a_head_start_is_exact(dest: SQLiteDestination) -> None:
    """A merge asking for the connection while a head start unpacks waits for it, then unpacks the rest."""
    for board_id in (1, 2, 3):
        for page in range(4):
            ids = range(page * 20_000, (page + 1) * 20_000)
            dest.append_journal("BOARD_ISSUE", "r1", board_id, "a", issues(board_id, ids))
    dest.prepare_merge("BOARD_ISSUE", "r1")
    started = threading.Event()

    def head_start() -> None:
        started.set()
        dest.prepare_merge("BOARD_ISSUE", "r1")

    thread = threading.Thread(target=head_start)
    thread.start()
    started.wait()
    result = dest.merge("BOARD_ISSUE", plan("r1", {1: "a", 2: "a", 3: "a"}, {1, 2, 3}))
    thread.join()
    assert result.inserted == 240_000 and dest.counts()["BOARD_ISSUE"] == 240_000
    assert raw(dest, "SELECT BOARD_ID, COUNT(*), MAX(ISSUE_ID) FROM BOARD_ISSUE GROUP BY 1") == [
        (b, 80_000, 79_999) for b in (1, 2, 3)
    ]
