"""The embedded SQLite warehouse: journal tables + set-based merge (architecture.md section 2).

Concurrency: one connection shared by all threads for the journal and everything else, every operation
under one re-entrant lock. SQLite allows a single writer at a time anyway, so per-thread connections would
only trade the lock for SQLITE_BUSY waits (busy_timeout polling, with sleep granularity in the milliseconds)
and would let a long merge starve appenders unpredictably; a lock around one connection is FIFO-ish, costs
nothing when uncontended, and keeps ``BEGIN IMMEDIATE ... COMMIT`` trivially correct. Row encoding and
hashing (the CPU part of ``append_journal``) happen before the lock is taken. Merges, and their head start
(``prepare_merge``), use a second connection whose TEMP database holds the stage: preparing reads the
journal from a WAL snapshot and writes only TEMP tables, so it takes neither lock from the appenders, and a
merge holds both. WAL lets other processes (the ``sqlite3`` shell, a BI tool) read while the flow writes.

The SQL is built by pure functions (``create_table_sql``, ``create_journal_sql``,
``merge_steps``...) so it can be unit-tested and reused by other SQL destinations.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowkit.destinations.base import Destination, DestinationError, JournalBatch, MergePlan, MergeResult
from flowkit.destinations.registry import DestinationType, Values
from flowkit.destinations.rows import OVERSIZED_LIMIT, format_timestamp, from_sqlite, make_journal_page_encoder
from flowkit.destinations.schema import HASH, INSERTED_AT, UPDATED_AT, Schema, TableSpec
from flowkit.engine import validators
from flowkit.engine.components import PropertyDescriptor

#: Journal bookkeeping columns, before the business columns.
SEQ = "_SEQ"
RUN_ID = "_RUN_ID"
PARTITION = "_PARTITION"
ATTEMPT = "_ATTEMPT"
#: A journal row is one page of rows: how many, and their JSON (``rows.make_journal_page_encoder``).
ROW_COUNT = "_ROW_COUNT"
ROWS = "_ROWS"
JOURNAL_COLUMNS = (SEQ, RUN_ID, PARTITION, ATTEMPT, ROW_COUNT, ROWS)

#: Page size of a new warehouse file (bytes).
PAGE_SIZE = 16384

#: Which (table, run, partition, attempt) were merged: makes replaying a plan a no-op even after the
#: merged journal rows were pruned.
MERGE_LOG = "_FLOWKIT_MERGE_LOG"

_STAGE = "_FK_STAGE"
_PRESTAGE = "_FK_PRESTAGE_"  # + table name: rows of partitions unpacked ahead of the merge (prepare_merge)
_NEW_PAIRS = "_FK_NEW_PAIRS"
_ACCEPTED = "_FK_ACCEPTED"
_LISTED = "_FK_LISTED"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote(name: str) -> str:
    """Quote an identifier; refuses anything but ``[A-Za-z_][A-Za-z0-9_]*``."""
    if not _IDENT.fullmatch(name):
        raise DestinationError(f"unsafe SQL identifier {name!r}")
    return f'"{name}"'


def _cols(names: Iterable[str], prefix: str = "") -> str:
    return ", ".join(prefix + quote(n) for n in names)


def _pk_match(spec: TableSpec, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in spec.primary_key)


# --------------------------------------------------------------------------- DDL (pure)


def _column_defs(spec: TableSpec) -> list[str]:
    out = []
    for c in spec.columns:
        not_null = " NOT NULL" if c.name in spec.primary_key else ""
        out.append(f"{quote(c.name)} {c.sqlite_type}{not_null}")
    return out


def _pk_clause(spec: TableSpec) -> tuple[str, str]:
    """(table constraint, table option): composite keys use WITHOUT ROWID (the key is the btree)."""
    pk = f"PRIMARY KEY ({_cols(spec.primary_key)})"
    return pk, (" WITHOUT ROWID" if len(spec.primary_key) > 1 else "")


def create_table_sql(spec: TableSpec) -> list[str]:
    """CREATE statements (table + extra indexes) for a destination table, idempotent."""
    pk, option = _pk_clause(spec)
    defs = [*_column_defs(spec), *(f"{quote(c.name)} {c.sqlite_type}" for c in spec.all_columns[-3:]), pk]
    stmts = [f"CREATE TABLE IF NOT EXISTS {quote(spec.name)} (\n  " + ",\n  ".join(defs) + f"\n){option}"]
    for cols in spec.indexes:
        ix = quote(f"{spec.name}_{'_'.join(cols)}_IDX")
        stmts.append(f"CREATE INDEX IF NOT EXISTS {ix} ON {quote(spec.name)} ({_cols(cols)})")
    return stmts


def create_journal_sql(spec: TableSpec) -> list[str]:
    """CREATE statements for ``<TABLE>_JOURNAL``: bookkeeping columns, then one *page* of rows per
    journal row (``_ROWS``: a JSON array of [business values in SQLite form..., row hash]), and the
    (run, partition, attempt) index. A page per row keeps appending at one INSERT per page."""
    defs = [
        f"{quote(SEQ)} INTEGER PRIMARY KEY AUTOINCREMENT",
        f"{quote(RUN_ID)} TEXT NOT NULL",
        f"{quote(PARTITION)} INTEGER NOT NULL",
        f"{quote(ATTEMPT)} TEXT NOT NULL",
        f"{quote(ROW_COUNT)} INTEGER NOT NULL",
        f"{quote(ROWS)} TEXT NOT NULL",
    ]
    j = spec.journal_name
    return [
        f"CREATE TABLE IF NOT EXISTS {quote(j)} (\n  " + ",\n  ".join(defs) + "\n)",
        f"CREATE INDEX IF NOT EXISTS {quote(j + '_RUN_PARTITION_ATTEMPT_IDX')} "
        f"ON {quote(j)} ({_cols((RUN_ID, PARTITION, ATTEMPT))})",
    ]


def upgrade_row_journal_sql(spec: TableSpec, old: str) -> str:
    """Copy a journal of the older one-row-per-row layout (business columns + hash) into the page layout,
    one page per old row, in the old order: ``json_array`` writes exactly what the page encoder would
    (VARIANT columns were already canonical JSON text, BOOLEAN 0/1)."""
    values = _cols((*spec.column_names, HASH))
    return (
        f"INSERT INTO {quote(spec.journal_name)} ({_cols((RUN_ID, PARTITION, ATTEMPT, ROW_COUNT, ROWS))}) "
        f"SELECT {_cols((RUN_ID, PARTITION, ATTEMPT))}, 1, json_array(json_array({values})) "
        f"FROM {quote(old)} ORDER BY {quote(SEQ)}"
    )


def create_merge_log_sql() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {quote(MERGE_LOG)} (\n"
        '  "TABLE_NAME" TEXT NOT NULL,\n  "RUN_ID" TEXT NOT NULL,\n  "PARTITION" INTEGER NOT NULL,\n'
        '  "ATTEMPT" TEXT NOT NULL,\n  "MERGED_AT" TEXT NOT NULL,\n'
        '  PRIMARY KEY ("TABLE_NAME", "RUN_ID", "PARTITION", "ATTEMPT")\n) WITHOUT ROWID'
    ]


def journal_insert_sql(spec: TableSpec) -> str:
    cols = (RUN_ID, PARTITION, ATTEMPT, ROW_COUNT, ROWS)
    return f"INSERT INTO {quote(spec.journal_name)} ({_cols(cols)}) VALUES ({', '.join('?' * len(cols))})"


def merge_setup_sql(spec: TableSpec) -> list[str]:
    """TEMP tables of one merge: accepted (partition, attempt) pairs, listed partitions, staged rows."""
    return [
        *merge_teardown_sql(),
        f"CREATE TEMP TABLE {quote(_ACCEPTED)} (PART INTEGER PRIMARY KEY, ATTEMPT TEXT NOT NULL, "
        "NEW INTEGER NOT NULL DEFAULT 1, LAST_SEQ INTEGER, STAGED_SEQ INTEGER NOT NULL DEFAULT 0)",
        f"CREATE TEMP TABLE {quote(_LISTED)} (ID INTEGER PRIMARY KEY)",
        stage_table_sql(spec, _STAGE),
    ]


def stage_table_sql(spec: TableSpec, name: str) -> str:
    """A TEMP table of staged rows: business columns and hash, one row per primary key."""
    pk, _ = _pk_clause(spec)
    defs = [*_column_defs(spec), f"{quote(HASH)} TEXT NOT NULL", pk]
    return f"CREATE TEMP TABLE {quote(name)} (" + ", ".join(defs) + ") WITHOUT ROWID"


def can_prestage(spec: TableSpec) -> bool:
    """A table whose key holds its partition column: two partitions never stage the same key, so each
    partition's rows can be unpacked on their own, as soon as the partition is accepted."""
    return spec.partition_column is not None and spec.partition_column in spec.primary_key


def unpack_sql(spec: TableSpec, target: str, pairs: str, condition: str) -> str:
    """Unpack the journal pages of ``:run_id`` whose (partition, attempt) is in the TEMP table ``pairs`` (and
    meets ``condition`` on it, alias ``a``) into the TEMP table ``target``, deduplicated by primary key: the
    row appended last (highest ``_SEQ``, then position in its page) wins."""
    j = quote(spec.journal_name)
    biz = spec.column_names
    return (
        f"INSERT OR REPLACE INTO temp.{quote(target)} ({_cols((*biz, HASH))}) "
        f"SELECT {', '.join(f'json_extract(e.value, {_json_path(i)})' for i in range(len(biz) + 1))} "
        f"FROM {j} AS j JOIN temp.{quote(pairs)} AS a "
        f"ON a.PART = j.{quote(PARTITION)} AND a.ATTEMPT = j.{quote(ATTEMPT)}{condition}, "
        f"json_each(j.{quote(ROWS)}) AS e "
        f"WHERE j.{quote(RUN_ID)} = :run_id ORDER BY j.{quote(SEQ)}, e.key"
    )


def merge_teardown_sql(*, stage: bool = True) -> list[str]:
    """Drop a merge's TEMP tables; ``stage=False`` keeps the stage (dropping a million staged rows walks every
    page of it: ~0.4 s inside the merge transaction; the next merge's setup drops it, or closing the
    connection deletes the TEMP file at once)."""
    tables = (_STAGE, _ACCEPTED, _LISTED) if stage else (_ACCEPTED, _LISTED)
    return [f"DROP TABLE IF EXISTS temp.{quote(t)}" for t in tables]


@dataclass(frozen=True)
class MergeStep:
    """One statement of a merge. ``kind`` says what its row count means: ``inserted``,
    ``updated``, ``deleted`` or ``other``. Named parameters: ``:table``, ``:run_id``, ``:now``."""

    name: str
    kind: str
    sql: str


def merge_steps(spec: TableSpec, *, listed_partitions: bool) -> list[MergeStep]:
    """The statements that merge the staged journal rows into ``spec``'s table, in order.

    Runs after ``merge_setup_sql`` and after the accepted pairs (and, when ``listed_partitions``,
    the listed partitions) are inserted into the TEMP tables; all inside one transaction.
    """
    t = quote(spec.name)
    j = quote(spec.journal_name)
    stage = f"temp.{quote(_STAGE)}"
    acc = f"temp.{quote(_ACCEPTED)}"
    listed = f"temp.{quote(_LISTED)}"
    log = quote(MERGE_LOG)
    biz = spec.column_names
    steps = [
        # Pairs already merged in this run (a replay, or a re-appended journal) are not applied again.
        MergeStep(
            "skip_merged",
            "other",
            f"UPDATE {acc} SET NEW = 0 WHERE EXISTS (SELECT 1 FROM {log} AS m WHERE m.TABLE_NAME = :table "
            f"AND m.RUN_ID = :run_id AND m.PARTITION = {quote(_ACCEPTED)}.PART "
            f"AND m.ATTEMPT = {quote(_ACCEPTED)}.ATTEMPT)",
        ),
        # Last journal row of each accepted attempt: rows of older attempts of the same partition
        # (appended before it) are superseded and pruned with it.
        MergeStep(
            "last_seq",
            "other",
            f"UPDATE {acc} SET LAST_SEQ = (SELECT MAX(j.{quote(SEQ)}) FROM {j} AS j "
            f"WHERE j.{quote(RUN_ID)} = :run_id AND j.{quote(PARTITION)} = {quote(_ACCEPTED)}.PART "
            f"AND j.{quote(ATTEMPT)} = {quote(_ACCEPTED)}.ATTEMPT)",
        ),
    ]
    if can_prestage(spec):
        # Partitions unpacked ahead of the merge (prepare_merge) but merged already (a replay): not again.
        steps.append(
            MergeStep(
                "unstage_merged",
                "other",
                f"DELETE FROM {stage} WHERE {quote(spec.partition_column or '')} IN "
                f"(SELECT PART FROM {acc} WHERE NEW = 0 AND STAGED_SEQ > 0)",
            )
        )
    steps += [
        # Stage accepted rows, expanded from their pages and deduplicated by primary key: the row appended
        # last wins. Pages unpacked ahead of the merge (prepare_merge, up to STAGED_SEQ) are in the stage.
        MergeStep(
            "stage", "other", unpack_sql(spec, _STAGE, _ACCEPTED, f" AND a.NEW = 1 AND j.{quote(SEQ)} > a.STAGED_SEQ")
        ),
    ]
    # One pass inserts new keys and updates rows whose hash changed (rows with an unchanged hash are not
    # written). Its row count is inserted + updated; merge() tells them apart by the table's row count.
    sets = [f"{quote(c)} = excluded.{quote(c)}" for c in (*spec.non_key_columns, HASH, UPDATED_AT)]
    steps.append(
        MergeStep(
            "upsert",
            "upserted",
            f"INSERT INTO {t} ({_cols((*biz, HASH, INSERTED_AT, UPDATED_AT))}) "
            f"SELECT {_cols((*biz, HASH), 's.')}, :now, :now FROM {stage} AS s WHERE true "
            f"ON CONFLICT ({_cols(spec.primary_key)}) DO UPDATE SET {', '.join(sets)} "
            f"WHERE {t}.{quote(HASH)} IS NOT excluded.{quote(HASH)}",
        )
    )
    if spec.replace_partition and spec.partition_column:
        # An accepted partition's rows become exactly its accepted rows.
        part = quote(spec.partition_column)
        changed = f"SELECT PART FROM {acc} WHERE NEW = 1"
        if spec.partition_column in spec.primary_key:
            # After the upsert every staged row of a partition is in the table under its key, so a partition
            # with as many rows in the table as in the stage has nothing to delete: counting both (two key
            # range scans) spares the row-by-row lookup of every row of an unchanged partition.
            changed += (
                f" AND (SELECT COUNT(*) FROM {t} AS c WHERE c.{part} = PART) "
                f"> (SELECT COUNT(*) FROM {stage} AS c WHERE c.{part} = PART)"
            )
        steps.append(
            MergeStep(
                "delete_replaced",
                "deleted",
                f"DELETE FROM {t} AS t WHERE t.{part} IN ({changed}) "
                f"AND NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {_pk_match(spec, 's', 't')})",
            )
        )
    if listed_partitions and spec.partition_column:
        steps.append(MergeStep("delete_unlisted", "deleted", _delete_unlisted_sql(spec, listed)))
    if spec.retained_by:
        ref_table, ref_col = spec.retained_by
        (key,) = spec.primary_key
        steps.append(
            MergeStep(
                "delete_unretained",
                "deleted",
                f"DELETE FROM {t} AS t WHERE NOT EXISTS (SELECT 1 FROM {stage} AS s "
                f"WHERE s.{quote(key)} = t.{quote(key)}) "
                f"AND NOT EXISTS (SELECT 1 FROM {quote(ref_table)} AS r "
                f"WHERE r.{quote(ref_col)} = t.{quote(key)})",
            )
        )
    steps.append(
        MergeStep(
            "log",
            "other",
            f"INSERT OR IGNORE INTO {log} (TABLE_NAME, RUN_ID, PARTITION, ATTEMPT, MERGED_AT) "
            f"SELECT :table, :run_id, PART, ATTEMPT, :now FROM {acc} WHERE NEW = 1",
        )
    )
    steps.append(
        MergeStep(
            "prune_journal",
            "other",
            f"DELETE FROM {j} AS j WHERE j.{quote(RUN_ID)} = :run_id AND EXISTS (SELECT 1 FROM {acc} AS a "
            f"WHERE a.PART = j.{quote(PARTITION)} AND (a.ATTEMPT = j.{quote(ATTEMPT)} "
            f"OR j.{quote(SEQ)} < a.LAST_SEQ))",
        )
    )
    return steps


def present_partitions_sql(spec: TableSpec) -> str | None:
    """``SELECT ID FROM present WHERE ...``-ready CTE listing the partitions that have rows in the table, by a
    skip scan (one key lookup per partition) instead of reading every row; None when no key or index starts
    with the partition column. Append ``SELECT ID FROM present WHERE ID IS NOT NULL``."""
    if spec.partition_column is None:
        return None
    if spec.primary_key[0] != spec.partition_column and not any(ix[0] == spec.partition_column for ix in spec.indexes):
        return None
    t = quote(spec.name)
    part = quote(spec.partition_column)
    return (
        f"WITH RECURSIVE present(ID) AS (SELECT MIN({part}) FROM {t} "
        f"UNION ALL SELECT (SELECT MIN({part}) FROM {t} WHERE {part} > present.ID) FROM present "
        "WHERE present.ID IS NOT NULL) "
    )


def _delete_unlisted_sql(spec: TableSpec, listed: str) -> str:
    """Delete the rows of partitions that are not listed (found by a skip scan when the key allows it)."""
    t = quote(spec.name)
    part = quote(spec.partition_column or "")
    present = present_partitions_sql(spec)
    if present is None:
        return f"DELETE FROM {t} AS t WHERE t.{part} NOT IN (SELECT ID FROM {listed})"
    # The CTE sits in the subquery: a statement starting with WITH has no row count in Python's sqlite3.
    return (
        f"DELETE FROM {t} WHERE {part} IN "
        f"({present}SELECT ID FROM present WHERE ID IS NOT NULL AND ID NOT IN (SELECT ID FROM {listed}))"
    )


def _json_path(index: int) -> str:
    return f"'$[{index}]'"


def merge_statements(spec: TableSpec, *, listed_partitions: bool = True) -> list[str]:
    """The SQL of ``merge_steps`` (for tests and documentation)."""
    return [s.sql for s in merge_steps(spec, listed_partitions=listed_partitions)]


# --------------------------------------------------------------------------- destination


@dataclass
class Prestage:
    """What prepare_merge has unpacked for one table of one run: every journal page up to ``seen_seq`` was
    looked at, and ``parts`` maps each partition in the stage to (the attempt unpacked, its last page's _SEQ).
    Pure bookkeeping; ``advanced`` says what the next unpacking must do."""

    run_id: str
    seen_seq: int = 0
    parts: dict[int, tuple[str, int]] = field(default_factory=dict)

    def advanced(
        self, appended: Sequence[tuple[int, str, int]]
    ) -> tuple[Prestage, list[tuple[int, str, int, int]], list[int]]:
        """Given the (partition, attempt, last _SEQ) of pages appended since ``seen_seq`` (ordered by their last
        _SEQ), returns the bookkeeping after unpacking them, the (partition, attempt, from _SEQ, to _SEQ) ranges
        to unpack, and the partitions whose rows must first leave the stage (another attempt came after)."""
        parts = dict(self.parts)
        ranges: dict[int, tuple[str, int, int]] = {}
        restarted: set[int] = set()
        for part, attempt, last in appended:
            part, attempt, last = int(part), str(attempt), int(last)
            held = parts.get(part)
            if held is not None and held[0] != attempt:
                restarted.add(part)  # the attempt appended last is the one a merge will most likely accept
                start = 0
            elif part in ranges:
                start = ranges[part][1]
            else:
                start = held[1] if held is not None else 0
            ranges[part] = (attempt, start, last)
            parts[part] = (attempt, last)
        seen = max([self.seen_seq, *(int(last) for _, _, last in appended)])
        pairs = [(p, a, start, last) for p, (a, start, last) in ranges.items()]
        return Prestage(self.run_id, seen, parts), pairs, sorted(restarted & set(self.parts))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SQLiteDestination:
    """The Destination contract on one SQLite file (WAL, thread-safe; a second connection merges).

    ``clock`` returns the time written to ``_SNOWFLAKE_INSERTED_AT`` / ``_SNOWFLAKE_UPDATED_AT``
    (UTC ``YYYY-MM-DDTHH:MM:SS.fffZ`` text). ``synchronous`` is the SQLite ``PRAGMA synchronous``
    (``FULL``: a committed journal batch or merge survives power loss, not only a process crash).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        schema: Schema,
        clock: Callable[[], datetime] | None = None,
        synchronous: str = "FULL",
        busy_timeout_s: float = 30.0,
    ) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise DestinationError(f"bad synchronous mode {synchronous!r}")
        self.path = Path(path)
        self.schema = schema
        self.max_value_bytes = OVERSIZED_LIMIT
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock or _utc_now
        self._synchronous = synchronous.upper()
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = self._connect()
        self._encoders: dict[str, Callable[[Sequence[Mapping[str, Any]]], str]] = {}
        # Merges (and their head start, prepare_merge) run on a second connection: its TEMP tables hold the
        # stage, and unpacking journal pages there does not hold up appends to the journal on the first one.
        # Lock order: _lock before _merge_lock.
        self._merge_lock = threading.Lock()
        self._merge_waiting = 0  # merges waiting for _merge_lock: no head start begins meanwhile
        self._merge_conn: sqlite3.Connection | None = None
        # table -> what prepare_merge unpacked into temp._FK_PRESTAGE_<table>
        self._prestaged: dict[str, Prestage] = {}

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_s
            )
            # A new warehouse gets 16 KiB pages (SQLite's default is 4 KiB; an existing file keeps its size):
            # a million-row merge writes fewer, fuller pages and a journal page spans a shorter overflow
            # chain. At 943k BOARD_ISSUE rows the upsert, prune and commit took ~1.75 s with 4 KiB, ~1.45 s.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.Error as exc:
            raise DestinationError(f"cannot open SQLite destination {self.path}: {exc}") from exc
        if str(mode).lower() != "wal":
            conn.close()
            raise DestinationError(f"cannot switch {self.path} to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        # A merge stages the accepted journal rows in TEMP tables. On disk (through the page cache)
        # their memory stays bounded by cache_size whatever the table size; in memory they grew by
        # ~120 MB for 377k rows, with no measurable speed gain.
        conn.execute("PRAGMA temp_store=FILE")
        # 8 MiB of page cache: with 64 MiB a 1M-row run held ~60 MB more at its peak, and merges were no faster
        # (the staged rows arrive in key order, so the btrees are written sequentially).
        conn.execute("PRAGMA cache_size=-8192")
        return conn

    @property
    def merge_conn(self) -> sqlite3.Connection:
        """The merging connection (opened on first use); hold _merge_lock."""
        self.conn  # noqa: B018 - raises DestinationError once closed
        if self._merge_conn is None:
            self._merge_conn = self._connect()
            # The TEMP stage is written once and read once in key order: a small cache is enough.
            self._merge_conn.execute("PRAGMA temp.cache_size=-2048")
        return self._merge_conn

    # ----------------------------------------------------------------- helpers

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DestinationError(f"SQLite destination {self.path} is closed")
        return self._conn

    def _spec(self, table: str) -> TableSpec:
        try:
            return self.schema[table]
        except KeyError as exc:
            raise DestinationError(str(exc.args[0])) from None

    # Table lookups read SQLite's catalog directly (sqlite-utils' Table did the same: importing it cost
    # ~55 ms before every run's first Jira request). Names compare exactly, as sqlite-utils' did.
    def _exists(self, name: str) -> bool:
        sql = "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?"
        return self.conn.execute(sql, (name,)).fetchone() is not None

    def _columns(self, name: str) -> list[str]:
        """The column names of table ``name`` in table order (empty if there is no such table)."""
        return [row[0] for row in self.conn.execute("SELECT name FROM pragma_table_info(?, 'main')", (name,))]

    def _require(self, spec: TableSpec) -> None:
        for name in (spec.name, spec.journal_name):
            if not self._exists(name):
                raise DestinationError(f"table {name} does not exist in {self.path}; call ensure_tables first")

    @contextmanager
    def _transaction(self, failure: str, *, merging: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock: BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any error.
        SQLite errors become one `DestinationError` line: "<failure> in <path>: <error>". ``merging``: on the
        merging connection (the caller holds _merge_lock)."""
        with self._lock:
            conn = self.merge_conn if merging else self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise DestinationError(f"{failure} in {self.path}: {exc}") from exc

    def _now(self) -> str:
        return format_timestamp(self._clock())

    def _encoder(self, spec: TableSpec) -> Callable[[Sequence[Mapping[str, Any]]], str]:
        enc = self._encoders.get(spec.name)
        if enc is None:
            enc = self._encoders[spec.name] = make_journal_page_encoder(spec)
        return enc

    def _check_columns(self, name: str, expected: Sequence[str]) -> None:
        actual = self._columns(name)
        missing = [c for c in expected if c not in actual]
        if missing:
            raise DestinationError(
                f"table {name} in {self.path} exists but lacks column(s) {', '.join(missing)}; drop it or migrate it"
            )

    # ----------------------------------------------------------------- contract

    def ensure_tables(self, tables: Sequence[str]) -> None:
        """Create destination + journal tables (and the merge log) if absent; check existing ones
        have the expected columns. A table kept by another's rows (SPRINT by BOARD_SPRINT) brings
        that table along."""
        for table in tables:
            self._spec(table)
        with self._transaction("cannot create tables") as conn:
            self._drop_if_stale(MERGE_LOG, ["PARTITION"])
            for stmt in create_merge_log_sql():
                conn.execute(stmt)
            for name in self.schema.with_dependencies(tables):
                spec = self.schema[name]
                self._drop_if_stale(spec.journal_name, JOURNAL_COLUMNS)
                old_journal = self._upgrade_row_journal(spec)
                for stmt in (*create_table_sql(spec), *create_journal_sql(spec)):
                    conn.execute(stmt)
                if old_journal is not None:
                    conn.execute(upgrade_row_journal_sql(spec, old_journal))
                    conn.execute(f"DROP TABLE {quote(old_journal)}")
                self._check_columns(spec.name, [c.name for c in spec.all_columns])
                self._check_columns(spec.journal_name, JOURNAL_COLUMNS)

    def _drop_if_stale(self, name: str, expected: Sequence[str]) -> None:
        """Journals and the merge log are transient: one of an older layout (before `_SCOPE` became
        `_PARTITION`) is dropped when it holds nothing; one with rows is refused by the column check."""
        if not self._exists(name):
            return
        actual = set(self._columns(name))
        empty = self.conn.execute(f"SELECT 1 FROM {quote(name)} LIMIT 1").fetchone() is None
        if empty and not actual.issuperset(expected):
            self.conn.execute(f"DROP TABLE {quote(name)}")

    def _upgrade_row_journal(self, spec: TableSpec) -> str | None:
        """A journal of the older one-row-per-row layout that still holds rows (a run left unfinished by
        an older flowkit) is renamed, to be copied into the page layout in the same transaction: its
        rows are the only copy of what that run fetched. Returns the old table's new name."""
        name = spec.journal_name
        if not self._exists(name) or ROWS in self._columns(name):
            return None
        old = f"{name}_ROW_LAYOUT"
        self.conn.execute(f"DROP TABLE IF EXISTS {quote(old)}")
        self.conn.execute(f"ALTER TABLE {quote(name)} RENAME TO {quote(old)}")
        # The renamed table keeps its index under the old name: drop it so the new journal can create its own.
        self.conn.execute(f"DROP INDEX IF EXISTS {quote(name + '_RUN_PARTITION_ATTEMPT_IDX')}")
        return old

    def append_journal(
        self, table: str, run_id: str, partition: int, attempt: str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Append rows to ``<TABLE>_JOURNAL`` in one transaction. Rows are validated, converted to
        SQLite form and hashed before the lock is taken. Apply the oversized-value strategy
        (``rows.apply_oversized_strategy``) before calling this."""
        self.append_journal_many([JournalBatch(table, run_id, partition, attempt, rows)])

    def append_journal_many(self, batches: Sequence[JournalBatch]) -> None:
        """Append several batches in one transaction (one commit, one fsync, for a whole PutJournal trigger)."""
        statements = [self._encode_batch(batch) for batch in batches if batch.rows]
        if not statements:
            return
        with self._transaction("cannot append to the journal") as conn:
            for sql, data in statements:
                conn.executemany(sql, data)

    def _encode_batch(self, batch: JournalBatch) -> tuple[str, list[tuple[Any, ...]]]:
        spec = self._spec(batch.table)
        page = self._encoder(spec)(batch.rows)
        return journal_insert_sql(spec), [
            (str(batch.run_id), int(batch.partition), str(batch.attempt), len(batch.rows), page)
        ]

    def prepare_merge(self, table: str, run_id: str) -> None:
        """A head start on this run's merge of ``table``: unpack the journal pages appended since the last call
        (json_each over every row: most of a merge's time) into a TEMP stage while the run still fetches,
        so that the merge at its end only unpacks the pages appended after it.

        Per partition the stage follows the attempt appended last (a board fetched again starts over); the
        merge keeps what matches the attempts it accepts and unpacks the rest. Only for tables whose key holds
        the partition column (see can_prestage). Nothing a reader can see changes: the stage lives in the
        merging connection's TEMP database, which reads the journal from a WAL snapshot and takes no write
        lock on the warehouse, so appends go on meanwhile. A crash loses only the head start; an error rolls
        back to the stage it had."""
        spec = self._spec(table)
        if not can_prestage(spec):
            return
        run_id = str(run_id)
        with self._merge_lock:
            if self._merge_waiting:
                return  # a merge is waiting for the connection: it unpacks what is left itself
            known = self._prestaged.get(spec.name)
            fresh = known is None or known.run_id != run_id
            before = Prestage(run_id) if known is None or fresh else known
            name = _PRESTAGE + spec.name
            j = quote(spec.journal_name)
            try:
                conn = self.merge_conn
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (spec.journal_name,)).fetchone():
                    return
                conn.execute("BEGIN")
            except (sqlite3.Error, DestinationError):
                return
            try:
                appended = conn.execute(
                    f"SELECT {_cols((PARTITION, ATTEMPT))}, MAX({quote(SEQ)}) FROM {j} "
                    f"WHERE {quote(SEQ)} > ? AND {quote(RUN_ID)} = ? GROUP BY 1, 2 ORDER BY 3",
                    (before.seen_seq, run_id),
                ).fetchall()
                after, pairs, restarted = before.advanced(appended)
                if fresh:
                    conn.execute(f"DROP TABLE IF EXISTS temp.{quote(name)}")
                    conn.execute(stage_table_sql(spec, name))
                conn.executemany(
                    f"DELETE FROM temp.{quote(name)} WHERE {quote(spec.partition_column or '')} = ?",
                    [(p,) for p in restarted],
                )
                if pairs:
                    conn.execute(f"DROP TABLE IF EXISTS temp.{quote(_NEW_PAIRS)}")
                    conn.execute(
                        f"CREATE TEMP TABLE {quote(_NEW_PAIRS)} "
                        "(PART INTEGER PRIMARY KEY, ATTEMPT TEXT, FROM_SEQ INTEGER, TO_SEQ INTEGER)"
                    )
                    conn.executemany(f"INSERT INTO temp.{quote(_NEW_PAIRS)} VALUES (?, ?, ?, ?)", pairs)
                    condition = f" AND j.{quote(SEQ)} > a.FROM_SEQ AND j.{quote(SEQ)} <= a.TO_SEQ"
                    conn.execute(unpack_sql(spec, name, _NEW_PAIRS, condition), {"run_id": run_id})
                    conn.execute(f"DROP TABLE temp.{quote(_NEW_PAIRS)}")
                conn.execute("COMMIT")
            except sqlite3.Error:
                # Rolled back: the stage is as it was before this call.
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    self._prestaged.pop(spec.name, None)  # unknown: merge() unpacks everything itself
                return
            self._prestaged[spec.name] = after

    @contextmanager
    def _merging(self) -> Iterator[None]:
        """Hold _merge_lock for a merge (or close). No new head start begins while a merge waits; one in
        progress is let finish, not interrupted: what it unpacks, the merge would have to unpack anyway."""
        with self._lock:  # re-entrant: the caller holds it; makes the counter safe
            self._merge_waiting += 1
        try:
            self._merge_lock.acquire()
        finally:
            with self._lock:
                self._merge_waiting -= 1
        try:
            yield
        finally:
            self._merge_lock.release()

    def _take_prestage(self, conn: sqlite3.Connection, spec: TableSpec, run_id: str) -> Prestage | None:
        """What prepare_merge unpacked for this run (its TEMP stage then becomes the merge's), or None."""
        prestage = self._prestaged.pop(spec.name, None)
        name = _PRESTAGE + spec.name
        exists = conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = ?", (name,)).fetchone()
        if prestage is not None and prestage.run_id == run_id and prestage.parts and exists:
            return prestage
        conn.execute(f"DROP TABLE IF EXISTS temp.{quote(name)}")
        return None

    def merge(self, table: str, plan: MergePlan) -> MergeResult:
        """Apply the plan to one table in one transaction (rules: architecture.md section 2 and
        docs/destinations.md), then prune the merged journal rows in that same transaction."""
        spec = self._spec(table)
        steps = merge_steps(spec, listed_partitions=plan.listed_partitions is not None)
        accepted = [(int(part), str(attempt)) for part, attempt in plan.accepted.items()]
        listed = [(int(p),) for p in plan.listed_partitions] if plan.listed_partitions is not None else []
        with self._lock, self._merging():
            self._require(spec)
            if spec.retained_by and not self._exists(spec.retained_by[0]):
                raise DestinationError(f"{spec.name} cannot be merged without table {spec.retained_by[0]}")
            params = {"table": spec.name, "run_id": str(plan.run_id), "now": self._now()}
            result = MergeResult()
            prestaged = self._take_prestage(self.merge_conn, spec, str(plan.run_id))
            with self._transaction(f"merge of {spec.name} failed", merging=True) as conn:
                for stmt in merge_setup_sql(spec):
                    conn.execute(stmt)
                conn.executemany(f"INSERT INTO temp.{quote(_ACCEPTED)} (PART, ATTEMPT) VALUES (?, ?)", accepted)
                if prestaged is not None:
                    self._use_prestage(conn, spec, prestaged, dict(accepted))
                conn.executemany(f"INSERT OR IGNORE INTO temp.{quote(_LISTED)} (ID) VALUES (?)", listed)
                rows = staged = 0
                for step in steps:
                    if step.name == "delete_replaced" and rows == staged:
                        # After the upsert every staged key is in the table: as many rows in the table as in the
                        # stage means the table holds exactly the staged rows, so no accepted board has a row
                        # to delete (the common case of a full run, known from two counts the merge has anyway).
                        continue
                    before = self._row_count(conn, spec) if step.kind == "upserted" else 0
                    count = conn.execute(step.sql, params).rowcount
                    if step.kind == "upserted":
                        rows = self._row_count(conn, spec)
                        staged = conn.execute(f"SELECT COUNT(*) FROM temp.{quote(_STAGE)}").fetchone()[0]
                        inserted = rows - before
                        result.inserted += inserted
                        result.updated += count - inserted
                    elif step.kind == "inserted":
                        result.inserted += count
                    elif step.kind == "updated":
                        result.updated += count
                    elif step.kind == "deleted":
                        result.deleted += count
                result.unchanged = staged - result.inserted - result.updated
                result.skipped_partitions = conn.execute(
                    f"SELECT COUNT(*) FROM temp.{quote(_ACCEPTED)} WHERE NEW = 0"
                ).fetchone()[0]
                for stmt in merge_teardown_sql(stage=False):
                    conn.execute(stmt)
        return result

    @staticmethod
    def _use_prestage(
        conn: sqlite3.Connection, spec: TableSpec, prestage: Prestage, accepted: Mapping[int, str]
    ) -> None:
        """Make the prepared stage the merge's: a partition unpacked with the attempt the plan accepts keeps its
        rows (STAGED_SEQ says up to which page); the rows of any other partition are dropped from it."""
        conn.execute(f"DROP TABLE temp.{quote(_STAGE)}")
        conn.execute(f"ALTER TABLE temp.{quote(_PRESTAGE + spec.name)} RENAME TO {quote(_STAGE)}")
        conn.executemany(
            f"UPDATE temp.{quote(_ACCEPTED)} SET STAGED_SEQ = ? WHERE PART = ? AND ATTEMPT = ?",
            [(seq, p, a) for p, (a, seq) in prestage.parts.items() if accepted.get(p) == a],
        )
        conn.executemany(
            f"DELETE FROM temp.{quote(_STAGE)} WHERE {quote(spec.partition_column or '')} = ?",
            [(p,) for p, (a, _) in prestage.parts.items() if accepted.get(p) != a],
        )

    @staticmethod
    def _row_count(conn: sqlite3.Connection, spec: TableSpec) -> int:
        return int(conn.execute(f"SELECT COUNT(*) FROM {quote(spec.name)}").fetchone()[0])

    def prune_journal(self, keep_run_id: str | None) -> int:
        """Delete journal rows (and merge-log entries) of every run except ``keep_run_id``
        (everything when None). Returns the number of journal rows deleted."""
        deleted = 0
        with self._transaction("cannot prune the journal") as conn:
            for spec in self.schema:
                if not self._exists(spec.journal_name):
                    continue
                where, args = ("", ()) if keep_run_id is None else (f" WHERE {quote(RUN_ID)} IS NOT ?", (keep_run_id,))
                j = quote(spec.journal_name)
                deleted += conn.execute(
                    f"SELECT COALESCE(SUM({quote(ROW_COUNT)}), 0) FROM {j}{where}", args
                ).fetchone()[0]
                conn.execute(f"DELETE FROM {j}{where}", args)
            if self._exists(MERGE_LOG):
                sql = f"DELETE FROM {quote(MERGE_LOG)}"
                if keep_run_id is not None:
                    sql += " WHERE RUN_ID IS NOT ?"
                conn.execute(sql, () if keep_run_id is None else (keep_run_id,))
        return deleted

    def counts(self) -> dict[str, int]:
        """Row count of every existing destination table (merge order)."""
        with self._lock:
            return {
                name: self.conn.execute(f"SELECT COUNT(*) FROM {quote(name)}").fetchone()[0]
                for name in self.schema.names
                if self._exists(name)
            }

    def journal_counts(self, run_id: str | None = None) -> dict[str, int]:
        """Journaled rows (not pages) per destination table name (of one run when given)."""
        out = {}
        with self._lock:
            for spec in self.schema:
                if not self._exists(spec.journal_name):
                    continue
                sql = f"SELECT COALESCE(SUM({quote(ROW_COUNT)}), 0) FROM {quote(spec.journal_name)}"
                args: tuple[str, ...] = ()
                if run_id is not None:
                    sql += f" WHERE {quote(RUN_ID)} = ?"
                    args = (run_id,)
                out[spec.name] = self.conn.execute(sql, args).fetchone()[0]
        return out

    def fetch_rows(self, table: str, *, metadata: bool = False) -> list[dict[str, Any]]:
        """Rows of a destination table in row format (architecture.md section 2), ordered by
        primary key; with ``metadata`` the three ``_SNOWFLAKE_*`` columns too."""
        spec = self._spec(table)
        with self._lock:
            self._require(spec)
            return read_rows(self.conn, spec, metadata=metadata)

    def merged_partitions(self, table: str, run_id: str) -> dict[int, str]:
        """(partition -> attempt) pairs of ``run_id`` already merged into ``table`` (state/debugging)."""
        self._spec(table)
        with self._lock:
            if not self._exists(MERGE_LOG):
                return {}
            cur = self.conn.execute(
                f"SELECT PARTITION, ATTEMPT FROM {quote(MERGE_LOG)} WHERE TABLE_NAME = ? AND RUN_ID = ? "
                "ORDER BY PARTITION, MERGED_AT",
                (table, run_id),
            )
            return {int(s): str(a) for s, a in cur.fetchall()}

    def close(self) -> None:
        with self._lock, self._merging():
            if self._merge_conn is not None:
                self._merge_conn.close()
                self._merge_conn = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SQLiteDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_rows(conn: sqlite3.Connection, spec: TableSpec, *, metadata: bool = False) -> list[dict[str, Any]]:
    """Rows of a warehouse table in row format, ordered by primary key; [] when the table does not exist.

    Works on any connection (a reader need not open a `SQLiteDestination`, which would write pragmas).
    """
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (spec.name,)).fetchone()
    if not exists:
        return []
    cols = [c.name for c in (spec.all_columns if metadata else spec.columns)]
    cur = conn.execute(f"SELECT {_cols(cols)} FROM {quote(spec.name)} ORDER BY {_cols(spec.primary_key)}")
    return [from_sqlite(spec, dict(zip(cols, r, strict=True))) for r in cur.fetchall()]


class SQLiteDestinationType(DestinationType):
    """``Destination Type = SQLITE``: the embedded warehouse, one file."""

    name = "SQLITE"
    description = "the embedded SQLite warehouse"
    PATH = PropertyDescriptor(
        "SQLite Path",
        "Warehouse file (SQLITE only)",
        default="flowkit-data/warehouse.db",
        validator=validators.NON_EMPTY,
    )
    properties = (PATH,)

    @classmethod
    def identity(cls, values: Values) -> str:
        return f"SQLITE:{Path(values.get(cls.PATH.name) or cls.PATH.default or '').resolve()}"

    @classmethod
    def open(cls, values: Values, *, schema: Schema, home: Path, env: Mapping[str, str]) -> Destination:
        return SQLiteDestination(Path(values.get(cls.PATH.name) or cls.PATH.default or ""), schema=schema)
