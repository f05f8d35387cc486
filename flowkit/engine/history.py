"""Run history: a light provenance of every `run_flow`, kept in ``$FLOWKIT_HOME/state.db``.

One row per run (table ``runs``): start, end, outcome, mode, pid, and as JSON the counters, the
per-processor status, the components' gauges and the bulletins. A run writes its row when it starts
(outcome ``running``), refreshes it every few seconds while it works (so `flowkit status` in another
process sees it move), and completes it when it ends. A ``running`` row whose process is gone (its
run lock is free) is reported as ``died``.

Bounded: when a run starts, the flow's rows beyond the newest `keep` (default 100,
``$FLOWKIT_HISTORY_RUNS``) are deleted, and a run keeps at most `MAX_BULLETINS` bulletins (the first
ones; `bulletins_dropped` counts the rest). Nothing secret is stored: counters, gauges and bulletin
texts are what the run already prints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowkit.engine.admin import state_document
from flowkit.engine.locking import LOCKS_DIR, RunLock
from flowkit.engine.progress import FlowStatus
from flowkit.engine.report import Bulletin
from flowkit.engine.state import STATE_DB, ensure_private_dir, immediate_transaction

logger = logging.getLogger("flowkit.engine.history")

DEFAULT_KEEP_RUNS = 100
MAX_BULLETINS = 200
OUTCOMES = ("running", "succeeded", "failed", "interrupted", "stopped", "error", "died")

_COLUMNS = (
    "run_id TEXT NOT NULL, flow_id TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, "
    "outcome TEXT NOT NULL, exit_code INTEGER, mode TEXT NOT NULL, pid INTEGER, duration_s REAL, "
    "counters TEXT, processors TEXT, connections TEXT, gauges TEXT, tables TEXT, bulletins TEXT, "
    "bulletins_dropped INTEGER DEFAULT 0, error TEXT"
)
_KEY = ", PRIMARY KEY (flow_id, run_id)"
_JSON_FIELDS = ("counters", "processors", "connections", "gauges", "tables", "bulletins")


def utc_now() -> str:
    """Now, as ISO-8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def keep_runs_from_env(env: dict[str, str] | None = None) -> int:
    """``$FLOWKIT_HISTORY_RUNS`` (a positive integer), else `DEFAULT_KEEP_RUNS`.

    Raises:
        ValueError: the variable is set but is not a positive integer.
    """
    text = (env if env is not None else dict(os.environ)).get("FLOWKIT_HISTORY_RUNS", "").strip()
    if not text:
        return DEFAULT_KEEP_RUNS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"FLOWKIT_HISTORY_RUNS must be a positive integer, got {text!r}")
    return int(text)


class RunHistory:
    """Writes and reads the ``runs`` table; thread-safe (one connection, one lock).

    Args:
        home: ``$FLOWKIT_HOME``; the table lives in its state database (created 0600 if absent).
    """

    def __init__(self, home: Path, secrets: Sequence[str] = ()) -> None:
        ensure_private_dir(home)
        path = home / STATE_DB
        if not path.exists():
            # Create it 0600 as the state service does. Only when absent: opening and closing another
            # descriptor of a database this process has open would drop SQLite's POSIX locks on it.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
        self._conn = sqlite3.connect(home / STATE_DB, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with immediate_transaction(self._conn) as conn:  # why IMMEDIATE: StateService.__init__
            conn.execute(f"CREATE TABLE IF NOT EXISTS runs ({_COLUMNS}{_KEY})")
            existing = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
            for column in _COLUMNS.split(", "):  # a database from an older flowkit gains the new columns
                if column.split()[0] not in existing:
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {column.replace(' NOT NULL', '')}")
            conn.execute("CREATE INDEX IF NOT EXISTS runs_by_flow ON runs (flow_id, started_at)")
        self._lock = threading.Lock()
        # the flow's sensitive parameter values: replaced in stored texts, whatever a component logged
        self._secrets = sorted({v for v in secrets if v and len(v) >= 4}, key=len, reverse=True)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def start(self, flow_id: str, *, once: bool, keep: int = DEFAULT_KEEP_RUNS) -> str:
        """Record a new run (outcome ``running``), prune the flow's oldest rows; returns the run id ("1", "2", ...)."""
        started = utc_now()
        with self._lock:
            # run ids count up per flow ("1", "2", ...); pruning keeps the newest, so they never repeat
            last = self._conn.execute(
                "SELECT MAX(CAST(run_id AS INTEGER)) FROM runs WHERE flow_id = ?", (flow_id,)
            ).fetchone()[0]
            run_id = str((last or 0) + 1)
            self._conn.execute(
                "INSERT INTO runs (run_id, flow_id, started_at, outcome, mode, pid) VALUES (?, ?, ?, 'running', ?, ?)",
                (run_id, flow_id, started, "once" if once else "continuous", os.getpid()),
            )
            self._prune(flow_id, keep)
        return run_id

    def prune(self, flow_id: str, keep: int) -> int:
        """Delete the flow's runs beyond the newest `keep`; returns how many were deleted."""
        with self._lock:
            return self._prune(flow_id, keep)

    def _prune(self, flow_id: str, keep: int) -> int:
        return self._conn.execute(
            "DELETE FROM runs WHERE flow_id = ? AND rowid NOT IN "
            "(SELECT rowid FROM runs WHERE flow_id = ? ORDER BY rowid DESC LIMIT ?)",
            (flow_id, flow_id, keep),
        ).rowcount

    def update(self, run_id: str, status: FlowStatus, bulletins: Sequence[Bulletin]) -> None:
        """Refresh a running run's counts (called every few seconds)."""
        self._write(run_id, status, bulletins, {"duration_s": round(status.elapsed_s, 3)})

    def finish(
        self,
        run_id: str,
        status: FlowStatus,
        bulletins: Sequence[Bulletin],
        *,
        outcome: str,
        exit_code: int,
        error: str | None = None,
    ) -> None:
        """Complete a run's row."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self._write(
            run_id,
            status,
            bulletins,
            {
                "duration_s": round(status.elapsed_s, 3),
                "ended_at": utc_now(),
                "outcome": outcome,
                "exit_code": exit_code,
                "error": error,
            },
        )

    def _write(self, run_id: str, status: FlowStatus, bulletins: Sequence[Bulletin], extra: dict[str, Any]) -> None:
        kept = [
            {"level": b.level, "component": b.component, "message": self._redact(b.message), "time": _iso(b.time)}
            for b in bulletins[:MAX_BULLETINS]
        ]
        if isinstance(extra.get("error"), str):
            extra = {**extra, "error": self._redact(extra["error"])}
        values: dict[str, Any] = {
            "counters": _dumps(status.counters),
            "processors": _dumps([_processor(p) for p in status.to_dict()["processors"]]),
            "connections": _dumps(status.to_dict()["connections"]),
            "gauges": _dumps(status.gauges),
            "tables": _dumps(status.tables),
            "bulletins": _dumps(kept),
            "bulletins_dropped": max(0, len(bulletins) - MAX_BULLETINS),
            **extra,
        }
        assignments = ", ".join(f"{column} = ?" for column in values)
        try:
            with self._lock:
                self._conn.execute(
                    f"UPDATE runs SET {assignments} WHERE flow_id = ? AND run_id = ?",
                    (*values.values(), status.flow_id, run_id),
                )
        except sqlite3.Error as exc:  # the history is informative: never fail a run over it
            logger.warning("run history: cannot record run %s: %s", run_id, exc)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def runs(self, flow_id: str | None = None, limit: int | None = 10) -> list[dict[str, Any]]:
        """The newest runs first (of one flow, or of all), JSON columns decoded."""
        where, args = ("WHERE flow_id = ?", [flow_id]) if flow_id else ("", [])
        sql = f"SELECT * FROM runs {where} ORDER BY rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            cursor = self._conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for name in _JSON_FIELDS:
                row[name] = (
                    json.loads(row[name]) if row[name] else ({} if name in ("counters", "gauges", "tables") else [])
                )
        return rows


def read_history(home: Path, flow_id: str | None = None, limit: int | None = 10) -> list[dict[str, Any]]:
    """Runs of one flow (or all), newest first; never creates ``$FLOWKIT_HOME``.

    A ``running`` row whose flow is not running any more (its run lock is free) reads as ``died``:
    the process was killed before it could complete its row.
    """
    if not (home / STATE_DB).exists():
        return []
    history = RunHistory(home)
    try:
        rows = history.runs(flow_id, limit)
    finally:
        history.close()
    free: dict[str, bool] = {}
    for row in rows:
        if row["outcome"] == "running":
            flow = row["flow_id"]
            if flow not in free:
                free[flow] = RunLock.holder(home, flow) is None
            if free[flow]:
                row["outcome"] = "died"
    return rows


def _processor(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("name", "type", "flowfiles_in", "flowfiles_out", "queued", "triggers")}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)  # insertion order kept (tables in merge order)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_document(home: Path, flow_id: str | None = None, limit: int = 10) -> dict[str, dict[str, Any]]:
    """What `flowkit status` shows, per flow: running or not, its state, the last runs, rows per table.

    ``{flow_id: {"running": bool, "pid": int | None, "state": {...} (as `state_document`),
    "runs": [newest first, at most `limit`], "tables": {table: rows}, "tables_run_id": str | None}}``.
    ``tables`` are the row counts recorded by the newest run that reported any (components count
    them after writing; see `ReportsRowCounts`), so reading the status never touches a warehouse.
    Never creates ``$FLOWKIT_HOME``.
    """
    runs = read_history(home, flow_id, limit=None)
    states = state_document(home, flow_id)
    flows = [flow_id] if flow_id else sorted({r["flow_id"] for r in runs} | set(states))
    document: dict[str, dict[str, Any]] = {}
    for each in flows:
        mine = [r for r in runs if r["flow_id"] == each]
        counted = next((r for r in mine if r["tables"]), None)
        pid = RunLock.holder(home, each) if (home / LOCKS_DIR).exists() else None
        document[each] = {
            "running": pid is not None,
            "pid": pid or None,
            "state": states.get(each, {"flow": None, "components": {}}),
            "runs": mine[:limit],
            "tables": counted["tables"] if counted else {},
            "tables_run_id": counted["run_id"] if counted else None,
        }
    return document
