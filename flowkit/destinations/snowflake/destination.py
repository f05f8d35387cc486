"""SnowflakeDestination: the Destination contract on a Snowflake schema, cheap on warehouse time.

Where things live, and why (docs/destinations.md, "Snowflake"):

- The **journal and the change detection are local**: a SQLite *mirror* under ``$FLOWKIT_HOME``
  holds the journal tables and a copy of each destination table (the same `SQLiteDestination`
  and the same merge SQL as the embedded warehouse). Merging a run there says exactly which rows
  were inserted, updated or deleted; triggers record their keys in a change table, in the same
  transaction as the merge.
- **Snowflake receives only the changes**: per table, one transaction that stages the changed rows
  (array binding), MERGEs them comparing ``_SNOWFLAKE_HASH`` and DELETEs the vanished keys. A run
  in which nothing changed in Jira sends no statement that needs a warehouse: only metadata
  (``CREATE TABLE IF NOT EXISTS``, ``SHOW TABLES``), answered by cloud services.
- **Drift**: before trusting the mirror, each sync compares the row count Snowflake reports in
  ``SHOW TABLES`` (metadata) with the mirror's. A mismatch (the table was dropped or edited, the
  mirror was deleted) triggers a full reconcile of that table: all rows staged, MERGE, and DELETE
  of every key the mirror does not have.
- **Crash safety**: the change keys are removed from the mirror only after Snowflake committed;
  replaying them changes nothing (hash-compared MERGE, deletes of deleted keys).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowkit.destinations.base import DestinationError, JournalBatch, MergePlan, MergeResult
from flowkit.destinations.rows import OVERSIZED_LIMIT, normalize_timestamp, to_sqlite_values
from flowkit.destinations.schema import BOOLEAN, NUMBER, TIMESTAMP_NTZ, TIMESTAMP_TZ, VARIANT, Schema, TableSpec
from flowkit.destinations.snowflake import sql
from flowkit.destinations.sqlite import SQLiteDestination
from flowkit.destinations.sqlite import quote as sqlite_quote
from flowkit.engine.errors import ConfigurationError

if TYPE_CHECKING:
    from flowkit.destinations.snowflake import ConnectionSettings

log = logging.getLogger(__name__)

#: Rows per `executemany` into the stage. The connector sends one request with array bindings and,
#: above CLIENT_STAGE_ARRAY_BINDING_THRESHOLD bind values, uploads them to a temporary stage itself.
CHUNK_ROWS = 16_384

CHANGES_PREFIX = "_FLOWKIT_CHANGES_"

#: How many of the newest statements `SnowflakeDestination.statements` keeps.
STATEMENTS_KEPT = 10_000

#: How long the connector keeps retrying a login (its default is 120 s) before the run stops.
LOGIN_TIMEOUT_S = 60


class SnowflakeDestination:
    """Journal and change detection in a local mirror; only changed rows go to Snowflake (module doc).

    ``connect`` opens a DB-API connection from keyword arguments (default: the Snowflake connector,
    imported on first use). ``statements`` keeps the newest statements sent, for cost accounting.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        schema: Schema,
        home: Path,
        connect: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.max_value_bytes = OVERSIZED_LIMIT
        self.database, self.schema_name = settings.database, settings.schema
        self.mirror_path = mirror_path(home, settings)
        self.mirror = SQLiteDestination(self.mirror_path, schema=schema, clock=clock)
        self._connect = connect
        self._chunk_rows = chunk_rows
        self._lock = threading.RLock()
        self._conn: Any = None
        self._closed = False
        # The newest statements sent, for cost accounting; bounded, since a continuous flow never closes.
        self.statements: deque[str] = deque(maxlen=STATEMENTS_KEPT)
        self.rows_sent = 0  # rows bound into stage tables, for cost accounting

    # ----------------------------------------------------------------- Snowflake side

    def _spec(self, table: str) -> TableSpec:
        try:
            return self.schema[table]
        except KeyError as exc:
            raise DestinationError(str(exc.args[0])) from None

    def _connection(self) -> Any:
        if self._closed:
            raise DestinationError(
                f"Snowflake destination {sql.quote(self.database)}.{sql.quote(self.schema_name)} is closed"
            )
        if self._conn is None:
            connect = self._connect or _connector_connect
            try:
                conn = connect(
                    **self.settings.connect_args(),
                    paramstyle="qmark",  # server-side binding: executemany sends arrays, not SQL text
                    autocommit=True,
                    # no probing of cloud metadata endpoints at login (the connector's platform detection)
                    platform_detection_timeout_seconds=0.0,
                    login_timeout=LOGIN_TIMEOUT_S,
                )
            except Exception as exc:
                # Nothing can land without a session: stop the run with one line (exit 2) rather than retry
                # forever; its state is kept, so the next start resumes once the connection works.
                raise ConfigurationError(
                    "cannot connect to Snowflake with the 'Snowflake Authentication Strategy' settings "
                    f"(account, user, key or session token; 'Snowflake Host'): {_describe(exc)}"
                ) from None
            try:
                # The session's current schema holds the temporary stage tables (sql.create_stage_sql).
                with closing(conn.cursor()) as cursor:
                    self._execute(cursor, sql.use_schema_sql(self.database, self.schema_name))
            except Exception as exc:
                with suppress(Exception):
                    conn.close()
                if _errno(exc) == 2003:  # does not exist, or not authorized
                    raise ConfigurationError(self._missing_schema_message()) from None
                raise DestinationError(f"cannot use schema in Snowflake: {_describe(exc)}") from None
            self._conn = conn
        return self._conn

    def _missing_schema_message(self) -> str:
        return (
            f"'Destination Database' / 'Destination Schema': {sql.quote(self.database)}."
            f"{sql.quote(self.schema_name)} does not exist or the role cannot use it "
            "(flowkit never creates them; see the Snowflake quickstart in README.md)"
        )

    def _drop_connection(self) -> None:
        """After a failure the next statement opens a new connection (re-reading a rotated token)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # closing a broken connection may fail too
                conn.close()

    def _execute(self, cursor: Any, statement: str) -> Any:
        self.statements.append(statement)
        return cursor.execute(statement)

    def _executemany(self, cursor: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self.statements.append(statement)
        self.rows_sent += len(rows)
        cursor.executemany(statement, rows)

    def warehouse_statements(self) -> list[str]:
        """The statements kept in `statements` that need a running warehouse."""
        return [s for s in self.statements if sql.needs_warehouse(s)]

    def _remote_count(self, cursor: Any, spec: TableSpec) -> int:
        """The table's row count in Snowflake: ``SELECT COUNT(*)`` with no filter is answered from
        metadata, without a warehouse."""
        self._execute(cursor, sql.count_sql(spec, self.database, self.schema_name))
        return int(cursor.fetchone()[0])

    # ----------------------------------------------------------------- contract

    def ensure_tables(self, tables: Sequence[str]) -> None:
        """Create the tables in Snowflake (never the database or schema) and the journal, mirror and
        change tables locally. Idempotent; metadata statements only."""
        with self._lock:
            names = self.schema.with_dependencies(self._spec(t).name for t in tables)
            self.mirror.ensure_tables(names)
            with closing(self.mirror_connection()) as local:
                for name in names:
                    for stmt in change_capture_sql(self.schema[name]):
                        local.execute(stmt)
            try:
                with closing(self._connection().cursor()) as cursor:
                    for name in names:
                        self._execute(cursor, sql.create_table_sql(self.schema[name], self.database, self.schema_name))
                    for name in names:
                        self._adopt_if_mirror_lost(cursor, self.schema[name])
            except (DestinationError, ConfigurationError):
                raise
            except Exception as exc:
                self._drop_connection()
                if _errno(exc) == 2003:  # object does not exist or not authorized
                    raise ConfigurationError(self._missing_schema_message()) from None
                raise DestinationError(f"cannot create tables in Snowflake: {_describe(exc)}") from None

    def _adopt_if_mirror_lost(self, cursor: Any, spec: TableSpec) -> None:
        """An empty mirror table beside a Snowflake table that has rows (a new `$FLOWKIT_HOME`, a deleted
        mirror) is first filled from Snowflake, once: the mirror must hold what Snowflake holds, or a run
        in which some boards fail would look like drift and the reconcile would delete their rows."""
        if self._mirror_count(spec) or self._pending(spec) or not self._remote_count(cursor, spec):
            return
        log.warning("%s: no local mirror of the rows in Snowflake; reading them once to rebuild it", spec.name)
        self._execute(cursor, sql.select_sql(spec, self.database, self.schema_name, metadata=True))
        names = [c.name for c in spec.all_columns]
        insert = (
            f"INSERT INTO {sqlite_quote(spec.name)} ({', '.join(sqlite_quote(n) for n in names)}) "
            f"VALUES ({', '.join('?' * len(names))})"
        )
        with closing(self.mirror_connection()) as local:
            local.execute("BEGIN IMMEDIATE")
            try:
                while batch := cursor.fetchmany(10_000):
                    local.executemany(insert, [mirror_values(spec, decode_row(spec, r, metadata=True)) for r in batch])
                # The rows came from Snowflake: nothing to send back.
                local.execute(f"DELETE FROM {sqlite_quote(CHANGES_PREFIX + spec.name)}")
                local.execute("COMMIT")
            except BaseException:
                local.execute("ROLLBACK")
                raise

    def mirror_connection(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.mirror_path), isolation_level=None, timeout=30)

    def append_journal(
        self, table: str, run_id: str, partition: int, attempt: str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        self.mirror.append_journal(table, run_id, partition, attempt, rows)

    def append_journal_many(self, batches: Sequence[JournalBatch]) -> None:
        self.mirror.append_journal_many(batches)

    def prepare_merge(self, table: str, run_id: str) -> None:
        """The mirror's head start (the local part of the merge); Snowflake itself is not touched before the merge."""
        self.mirror.prepare_merge(table, run_id)

    def merge(self, table: str, plan: MergePlan) -> MergeResult:
        """Merge into the mirror (one local transaction, recording the changed keys), then apply the
        pending changes to Snowflake in one transaction; a drifted table is reconciled in full."""
        with self._lock:
            result = self.mirror.merge(table, plan)
            self.sync(table)
            return result

    def sync(self, table: str) -> int:
        """Send the table's pending changes to Snowflake; returns the rows sent (0: nothing needed a warehouse).

        A table dropped in Snowflake while the flow runs is created again and refilled from the mirror.
        """
        spec = self._spec(table)
        with self._lock:
            try:
                try:
                    return self._sync(spec)
                except (DestinationError, ConfigurationError):
                    raise
                except Exception as exc:
                    if _errno(exc) != 2003:  # 2003: the table does not exist (any more)
                        raise
                    log.warning("%s was dropped in Snowflake; creating it again and refilling it", spec.name)
                    with closing(self._connection().cursor()) as cursor:
                        self._execute(cursor, sql.create_table_sql(spec, self.database, self.schema_name))
                    return self._sync(spec)
            except (DestinationError, ConfigurationError):
                self._drop_connection()
                raise
            except Exception as exc:
                self._drop_connection()
                raise DestinationError(f"Snowflake sync of {spec.name} failed: {_describe(exc)}") from None

    def _sync(self, spec: TableSpec) -> int:
        with closing(self._connection().cursor()) as cursor:
            sent = 0
            if self._pending(spec):
                sent += self._push(cursor, spec, full=False)
            if self._remote_count(cursor, spec) != self._mirror_count(spec):
                log.warning(
                    "%s in Snowflake does not hold the rows flowkit last wrote; reconciling it in full", spec.name
                )
                sent += self._push(cursor, spec, full=True)
            return sent

    def prune_journal(self, keep_run_id: str | None) -> int:
        return self.mirror.prune_journal(keep_run_id)

    def counts(self) -> dict[str, int]:
        """Row counts in Snowflake of the flow's tables that exist (metadata only: no warehouse)."""
        with self._lock, closing(self._connection().cursor()) as cursor:
            self._execute(cursor, sql.show_tables_sql(self.database, self.schema_name))
            names = [d[0].lower() for d in cursor.description]
            existing = {str(r[names.index("name")]) for r in cursor.fetchall()}
            return {s.name: self._remote_count(cursor, s) for s in self.schema if s.name in existing}

    def fetch_rows(self, table: str, *, metadata: bool = False) -> list[dict[str, Any]]:
        """The table's rows as Snowflake holds them, in row format (reads table data: needs a warehouse)."""
        spec = self._spec(table)
        with self._lock, closing(self._connection().cursor()) as cursor:
            self._execute(cursor, sql.select_sql(spec, self.database, self.schema_name, metadata=metadata))
            return [decode_row(spec, r, metadata=metadata) for r in cursor.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_connection()
            self.mirror.close()

    # ----------------------------------------------------------------- the sync itself

    def _pending(self, spec: TableSpec) -> int:
        with closing(self.mirror_connection()) as local:
            row = local.execute(f"SELECT COUNT(*) FROM {sqlite_quote(CHANGES_PREFIX + spec.name)}").fetchone()
            return int(row[0])

    def _mirror_count(self, spec: TableSpec) -> int:
        with closing(self.mirror_connection()) as local:
            return int(local.execute(f"SELECT COUNT(*) FROM {sqlite_quote(spec.name)}").fetchone()[0])

    def _push(self, cursor: Any, spec: TableSpec, *, full: bool) -> int:
        """One Snowflake transaction applying the pending changes (or, ``full``, the whole mirror table)."""
        db, sch = self.database, self.schema_name
        with closing(self.mirror_connection()) as local:
            self._execute(cursor, sql.create_stage_sql(spec))
            self._execute(cursor, "BEGIN")
            try:
                sent = 0
                for chunk in _chunks(changed_rows(local, spec, full=full), self._chunk_rows):
                    self._executemany(cursor, sql.stage_insert_sql(spec), chunk)
                    sent += len(chunk)
                if sent:
                    self._execute(cursor, sql.merge_sql(spec, db, sch))
                    self._execute(cursor, sql.delete_sql(spec, db, sch))
                if full:
                    self._execute(cursor, sql.delete_missing_sql(spec, db, sch))
                self._execute(cursor, "COMMIT")
            except BaseException:
                with suppress(Exception):  # the connection may be gone; the transaction dies with it
                    self._execute(cursor, "ROLLBACK")
                raise
            # Only now that Snowflake committed: forget the changes sent (replaying them would be harmless).
            local.execute(f"DELETE FROM {sqlite_quote(CHANGES_PREFIX + spec.name)}")
            return sent


def _connector_connect(**kwargs: Any) -> Any:
    import snowflake.connector  # lazily: only a Snowflake run loads the connector

    return snowflake.connector.connect(**kwargs)


def _errno(exc: BaseException) -> int | None:
    value = getattr(exc, "errno", None)
    return value if isinstance(value, int) else None


def _describe(exc: BaseException) -> str:
    """The connector's message without its request ids and URLs (never a credential: none is in it)."""
    message = getattr(exc, "raw_msg", None) or str(exc)
    return " ".join(str(message).split())[:500]


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --------------------------------------------------------------------------- local mirror (pure SQL + helpers)


def mirror_path(home: Path, settings: ConnectionSettings) -> Path:
    """One mirror per Snowflake account, database and schema under ``$FLOWKIT_HOME/snowflake/``."""
    where = f"{settings.account}|{settings.endpoint.get('host', '')}|{settings.database}|{settings.schema}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{settings.database}.{settings.schema}")[:60]
    return home / "snowflake" / f"{readable}-{digest}.db"


def change_capture_sql(spec: TableSpec) -> list[str]:
    """The change table of a mirror table and the triggers that fill it, in the merge's own transaction.

    One row per changed key, the latest change winning: ``U`` after an insert or update, ``D`` after a
    delete. Only `SnowflakeDestination.merge` changes a mirror table, and it syncs under the same
    lock, so a sync sees every change and may forget them all once Snowflake committed.
    """
    t, changes = sqlite_quote(spec.name), sqlite_quote(CHANGES_PREFIX + spec.name)
    keys = ", ".join(sqlite_quote(k) for k in spec.primary_key)
    stmts = [f"CREATE TABLE IF NOT EXISTS {changes} ({keys}, OP TEXT NOT NULL, PRIMARY KEY ({keys}))"]
    for event, row, op in (("INSERT", "NEW", "U"), ("UPDATE", "NEW", "U"), ("DELETE", "OLD", "D")):
        values = ", ".join(f"{row}.{sqlite_quote(k)}" for k in spec.primary_key)
        trigger = sqlite_quote(f"{CHANGES_PREFIX}{spec.name}_{event}")
        stmts.append(
            f"CREATE TRIGGER IF NOT EXISTS {trigger} AFTER {event} ON {t} BEGIN "
            f"INSERT OR REPLACE INTO {changes} ({keys}, OP) VALUES ({values}, '{op}'); END"
        )
    return stmts


def changed_rows(local: sqlite3.Connection, spec: TableSpec, *, full: bool) -> Iterator[tuple[Any, ...]]:
    """Stage rows for Snowflake: every column in table order, then the op. Upserts carry the mirror's
    current row; deletes only their key. ``full``: every mirror row as an upsert."""
    t, changes = sqlite_quote(spec.name), sqlite_quote(CHANGES_PREFIX + spec.name)
    names = [c.name for c in spec.all_columns]
    cols = ", ".join(f"t.{sqlite_quote(n)}" for n in names)
    if full:
        cursor = local.execute(f"SELECT {cols}, 'U' FROM {t} AS t")
    else:
        on = " AND ".join(f"t.{sqlite_quote(k)} = c.{sqlite_quote(k)}" for k in spec.primary_key)
        cursor = local.execute(f"SELECT {cols}, 'U' FROM {changes} AS c JOIN {t} AS t ON {on} WHERE c.OP = 'U'")
    for values in cursor:
        yield stage_values(spec, values)
    if not full:
        key_cols = ", ".join(sqlite_quote(k) for k in spec.primary_key)
        positions = [names.index(k) for k in spec.primary_key]
        for key in local.execute(f"SELECT {key_cols} FROM {changes} WHERE OP = 'D'"):
            row: list[Any] = [None] * len(names)
            for pos, value in zip(positions, key, strict=True):
                row[pos] = value
            yield (*row, "D")


def stage_values(spec: TableSpec, values: Sequence[Any]) -> tuple[Any, ...]:
    """A mirror row (SQLite form) + op -> the values bound into the stage: booleans as bool, VARIANT as
    its JSON text, timestamps as ``YYYY-MM-DD HH:MM:SS.fff`` (+ ``+00:00`` for TIMESTAMP_TZ)."""
    out: list[Any] = []
    for column, value in zip(spec.all_columns, values, strict=False):
        kind = column.snowflake_type
        if value is None:
            out.append(None)
        elif kind == BOOLEAN:
            out.append(bool(value))
        elif kind == TIMESTAMP_TZ:
            out.append(_sql_timestamp(value) + "+00:00")
        elif kind == TIMESTAMP_NTZ:
            out.append(_sql_timestamp(value))
        else:
            out.append(value)
    out.extend(values[len(spec.all_columns) :])
    return tuple(out)


def _sql_timestamp(text: str) -> str:
    """``2026-02-02T09:00:00.000Z`` -> ``2026-02-02 09:00:00.000`` (UTC)."""
    return text.replace("T", " ").removesuffix("Z")


def mirror_values(spec: TableSpec, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row read from Snowflake (row format, with metadata) -> the mirror table's values, in column order."""
    return (*to_sqlite_values(spec, row), *(row.get(c.name) for c in spec.all_columns[len(spec.columns) :]))


def decode_row(spec: TableSpec, values: Sequence[Any], *, metadata: bool) -> dict[str, Any]:
    """A row read with `sql.select_sql` -> row format (what `SQLiteDestination.fetch_rows` returns)."""
    out: dict[str, Any] = {}
    it = iter(values)
    for column in spec.all_columns if metadata else spec.columns:
        value = next(it)
        kind = column.snowflake_type
        if kind in (TIMESTAMP_TZ, TIMESTAMP_NTZ):
            value = None if next(it) else normalize_timestamp(value)
        elif value is None:
            pass
        elif kind == VARIANT:
            value = json.loads(value) if isinstance(value, str) else value
        elif kind == BOOLEAN:
            value = bool(value)
        elif kind == NUMBER:
            value = int(value)  # the connector returns Decimal or int depending on scale and size
        out[column.name] = value
    return out
