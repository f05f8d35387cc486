"""Component state: versioned str->str maps in SQLite, with compare-and-set updates.

One `state` row per (flow id, component, scope) holds the map's version; its entries are rows of
`state_entry`, one per key, so a write that changes a few keys of a large map (`StateService.patch`)
costs those keys, not the map. `Scope.FLOW` rows use the component name ``""`` so every component
of the flow sees the same map. A version is a counter that grows on every write; ``None`` means the
map was never written (or was cleared with `flowkit state clear`).

Databases written before `state_entry` existed keep their entries as JSON in `state.data`: they are
read from there (merged under any `state_entry` rows) and moved to `state_entry` by the map's next
whole-map write. Whole-map writes leave `state.data` as ``{}``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

STATE_DB = "state.db"
FLOW_COMPONENT = ""  # the component name under which Scope.FLOW state is stored


class Scope(enum.Enum):
    """Who shares a state map: one component, or every component of the flow."""

    COMPONENT = "component"
    FLOW = "flow"


@dataclass(frozen=True)
class StateMap:
    """An immutable snapshot of one state map; ``version is None`` means never written."""

    version: int | None = None
    data: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of `key`, or `default`."""
        return self.data.get(key, default)


@dataclass(frozen=True)
class StateUpdate:
    """One compare-and-set write: replace the map if its stored version still equals `expected_version`."""

    component: str
    scope: Scope
    expected_version: int | None
    data: Mapping[str, str]


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on a connection in autocommit mode, ``ROLLBACK`` on any error. IMMEDIATE
    takes the write lock first, waiting out the busy timeout, where a deferred transaction that reads and then
    writes may fail at once with "database is locked"."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS [state] ([flow_id] TEXT, [component] TEXT, [scope] TEXT, [version] INTEGER, "
    "[data] TEXT, [updated_at] TEXT, PRIMARY KEY ([flow_id], [component], [scope]))",
    "CREATE TABLE IF NOT EXISTS [state_entry] ([flow_id] TEXT, [component] TEXT, [scope] TEXT, [key] TEXT, "
    "[value] TEXT, PRIMARY KEY ([flow_id], [component], [scope], [key]))",
)


class StateService:
    """SQLite-backed state for every flow under one `$FLOWKIT_HOME`.

    Thread-safe (one connection per thread) and safe across processes: every read-compare-write
    runs inside ``BEGIN IMMEDIATE``, which takes SQLite's write lock before reading, so two
    processes can never both pass the version check.

    Args:
        home: the `$FLOWKIT_HOME` directory; the database is ``home/state.db`` (mode 0600, directory 0700).
    """

    def __init__(self, home: Path) -> None:
        ensure_private_dir(home)
        self.path = home / STATE_DB
        # Create the file ourselves so it is 0600 from its first byte (SQLite uses the db file's
        # mode for its -wal and -shm files too). Only when it is absent: opening and closing another
        # descriptor of a database this process already has open (a run, and a status read beside
        # it) drops SQLite's POSIX locks; another process may then delete the WAL under the run.
        if not self.path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # BEGIN IMMEDIATE: on a new file (not yet in WAL mode) an implicit transaction that reads the schema and
        # then writes it fails at once with "database is locked" when another connection (a status read, the
        # run history) creates its table at the same moment; an immediate one waits for the busy timeout.
        with self._write_transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection to state.db (plain sqlite3: sqlite-utils' Database wrapper added nothing
        here but its plugin discovery, a read of every installed distribution's metadata before a run's first
        request)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            # WAL lets readers (e.g. `flowkit state show`) proceed while a run writes; synchronous=FULL
            # fsyncs the WAL on every commit, so a committed state change survives a power loss or
            # crash (NORMAL could lose the last commits, which would replay work or lose a cursor).
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _write_transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._conn())

    @staticmethod
    def _row(conn: sqlite3.Connection, flow_id: str, component: str, scope: Scope) -> tuple[int, str] | None:
        """(version, legacy JSON data) of a map, or None when it was never written."""
        row = conn.execute(
            "SELECT version, data FROM state WHERE flow_id = ? AND component = ? AND scope = ?",
            (flow_id, component, scope.value),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    @classmethod
    def _version(cls, conn: sqlite3.Connection, flow_id: str, component: str, scope: Scope) -> int | None:
        row = cls._row(conn, flow_id, component, scope)
        return None if row is None else row[0]

    @classmethod
    def _read(cls, conn: sqlite3.Connection, flow_id: str, component: str, scope: Scope) -> StateMap:
        """The map; call inside a transaction, so its version and entries belong together."""
        row = cls._row(conn, flow_id, component, scope)
        if row is None:
            return StateMap()
        entries = conn.execute(
            "SELECT key, value FROM state_entry WHERE flow_id = ? AND component = ? AND scope = ?",
            (flow_id, component, scope.value),
        ).fetchall()
        return StateMap(row[0], {**_legacy_data(row[1]), **dict(entries)})

    @staticmethod
    def _write(
        conn: sqlite3.Connection,
        flow_id: str,
        component: str,
        scope: Scope,
        version: int,
        data: Mapping[str, str],
    ) -> None:
        """Replace the whole map (inside a write transaction)."""
        entries = _check_strings(data)
        conn.execute(
            "INSERT OR REPLACE INTO state (flow_id, component, scope, version, data, updated_at) "
            "VALUES (?, ?, ?, ?, '{}', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            (flow_id, component, scope.value, version),
        )
        conn.execute(
            "DELETE FROM state_entry WHERE flow_id = ? AND component = ? AND scope = ?",
            (flow_id, component, scope.value),
        )
        conn.executemany(
            "INSERT INTO state_entry (flow_id, component, scope, key, value) VALUES (?, ?, ?, ?, ?)",
            [(flow_id, component, scope.value, k, v) for k, v in entries.items()],
        )

    def get(self, flow_id: str, component: str, scope: Scope) -> StateMap:
        """The current map (an empty map with version None when never written)."""
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for the version and the entries while a writer commits
        try:
            return self._read(conn, flow_id, _component_key(component, scope), scope)
        finally:
            conn.execute("COMMIT")

    def set(self, flow_id: str, component: str, scope: Scope, data: Mapping[str, str]) -> None:
        """Overwrite the map unconditionally."""
        key = _component_key(component, scope)
        with self._write_transaction() as conn:
            self._write(conn, flow_id, key, scope, (self._version(conn, flow_id, key, scope) or 0) + 1, data)

    def replace(self, flow_id: str, component: str, scope: Scope, old: StateMap, new: Mapping[str, str]) -> bool:
        """Compare-and-set: write `new` only if the stored version still equals ``old.version``."""
        return self.replace_many(flow_id, [StateUpdate(component, scope, old.version, new)])

    def replace_many(self, flow_id: str, updates: Sequence[StateUpdate]) -> bool:
        """Apply several compare-and-set writes in one transaction: all of them, or none."""
        if not updates:
            return True
        with self._write_transaction() as conn:
            versions_match = all(
                self._version(conn, flow_id, _component_key(u.component, u.scope), u.scope) == u.expected_version
                for u in updates
            )
            if versions_match:
                for update in updates:
                    key = _component_key(update.component, update.scope)
                    version = (update.expected_version or 0) + 1
                    self._write(conn, flow_id, key, update.scope, version, update.data)
        return versions_match

    def patch(
        self,
        flow_id: str,
        component: str,
        scope: Scope,
        expected_version: int | None,
        changes: Mapping[str, str | None],
    ) -> bool:
        """Compare-and-set of some keys: if the stored version still equals `expected_version`, set each key of
        `changes` to its value (None deletes the key), keep every other key, and bump the version by one.

        Costs the changed keys, not the map: for large maps changed a little at a time.
        """
        key = _component_key(component, scope)
        with self._write_transaction() as conn:
            row = self._row(conn, flow_id, key, scope)
            if (None if row is None else row[0]) != expected_version:
                return False
            version = (expected_version or 0) + 1
            if row is None or _legacy_data(row[1]):
                # A new map, or one still stored the old way: written whole once (moves legacy JSON to rows).
                data = {**self._read(conn, flow_id, key, scope).data, **changes}
                self._write(conn, flow_id, key, scope, version, {k: v for k, v in data.items() if v is not None})
                return True
            conn.execute(
                "UPDATE state SET version = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                "WHERE flow_id = ? AND component = ? AND scope = ?",
                (version, flow_id, key, scope.value),
            )
            kept = _check_strings({k: v for k, v in changes.items() if v is not None})
            conn.executemany(
                "INSERT OR REPLACE INTO state_entry (flow_id, component, scope, key, value) VALUES (?, ?, ?, ?, ?)",
                [(flow_id, key, scope.value, k, v) for k, v in kept.items()],
            )
            conn.executemany(
                "DELETE FROM state_entry WHERE flow_id = ? AND component = ? AND scope = ? AND key = ?",
                [(flow_id, key, scope.value, k) for k, v in changes.items() if v is None],
            )
        return True

    def clear(self, flow_id: str, component: str, scope: Scope) -> None:
        """Empty the map. The version still grows, so a snapshot read before the clear cannot win a CAS."""
        self.set(flow_id, component, scope, {})

    def rows(self, flow_id: str | None = None) -> list[dict[str, object]]:
        """Every stored map (optionally of one flow), ordered by flow, component, scope; ``data`` is the map as JSON."""
        where, args = ("WHERE flow_id = ?", [flow_id]) if flow_id else ("", [])
        conn = self._conn()
        conn.execute("BEGIN")  # maps and entries from one snapshot
        try:
            maps = conn.execute(
                f"SELECT flow_id, component, scope, version, data, updated_at FROM state {where} "
                "ORDER BY flow_id, component, scope",
                args,
            ).fetchall()
            entries: dict[tuple[str, str, str], dict[str, str]] = {}
            for flow, component, scope, key, value in conn.execute(
                f"SELECT flow_id, component, scope, key, value FROM state_entry {where}", args
            ):
                entries.setdefault((flow, component, scope), {})[key] = value
        finally:
            conn.execute("COMMIT")
        return [
            {
                "flow_id": flow,
                "component": component,
                "scope": scope,
                "version": version,
                "data": json.dumps({**_legacy_data(data), **entries.get((flow, component, scope), {})}, sort_keys=True),
                "updated_at": updated_at,
            }
            for flow, component, scope, version, data, updated_at in maps
        ]

    def delete_flow(self, flow_id: str | None = None) -> int:
        """Delete every map of one flow (or of all flows); returns the number of maps deleted."""
        with self._write_transaction() as conn:
            if flow_id is None:
                conn.execute("DELETE FROM state_entry")
                return conn.execute("DELETE FROM state").rowcount
            conn.execute("DELETE FROM state_entry WHERE flow_id = ?", (flow_id,))
            return conn.execute("DELETE FROM state WHERE flow_id = ?", (flow_id,)).rowcount

    def close(self) -> None:
        """Close every connection opened by any thread."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _component_key(component: str, scope: Scope) -> str:
    return FLOW_COMPONENT if scope is Scope.FLOW else component


def _legacy_data(text: str) -> dict[str, str]:
    """Entries an older flowkit kept as JSON in `state.data` (``{}`` once the map was rewritten)."""
    return {} if text in ("", "{}") else dict(json.loads(text))


def _check_strings(data: Mapping[str, str]) -> dict[str, str]:
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"state maps hold str -> str; got key {key!r} of type {type(value).__name__}")
    return dict(data)


class StateManager:
    """The state of one component, bound to its flow; writes are immediate (not tied to a session).

    Example:
        >>> current = context.state.get()
        >>> context.state.replace(current, {"cursor": "42"})
        True
    """

    def __init__(self, service: StateService, flow_id: str, component: str) -> None:
        self._service = service
        self.flow_id = flow_id
        self.component = component

    def get(self, scope: Scope = Scope.COMPONENT) -> StateMap:
        """The current map."""
        return self._service.get(self.flow_id, self.component, scope)

    def set(self, mapping: Mapping[str, str], scope: Scope = Scope.COMPONENT) -> None:
        """Overwrite the map."""
        self._service.set(self.flow_id, self.component, scope, mapping)

    def replace(self, old: StateMap, new: Mapping[str, str], scope: Scope = Scope.COMPONENT) -> bool:
        """Compare-and-set on the version; False when someone else wrote since `old` was read."""
        return self._service.replace(self.flow_id, self.component, scope, old, new)

    def patch(
        self, expected_version: int | None, changes: Mapping[str, str | None], scope: Scope = Scope.COMPONENT
    ) -> bool:
        """Compare-and-set of some keys (None deletes one), the others kept; False when the version moved."""
        return self._service.patch(self.flow_id, self.component, scope, expected_version, changes)

    def clear(self, scope: Scope = Scope.COMPONENT) -> None:
        """Empty the map."""
        self._service.clear(self.flow_id, self.component, scope)
