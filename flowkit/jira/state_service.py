"""StandardJiraIngestionStateService: the flow's central record of ingestion progress.

It keeps one `RunState` (see run_state.py) in the engine's SQLite state service, as a header
key plus one key per board, and changes it only by compare-and-set, so every processor of the
flow sees one consistent story of the run, and a process that crashes at any point leaves a
state the next start can finish. An update writes only the keys it changed (`StateManager.patch`,
one SQLite transaction), so recording a page costs the same at 5 boards and at 5,000.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from flowkit.engine import ConfigurationContext, ControllerService, StateManager
from flowkit.jira.run_state import (
    RUN_KEY,
    RunState,
    decode_run,
    encode_changes,
    encode_run,
    is_run_key,
    stored_as_one_document,
    tables_for,
)

__all__ = ["LAST_RUN_KEY", "PROGRESS_KEY", "RUN_KEY", "StandardJiraIngestionStateService"]

PROGRESS_KEY = "progress"  # a one-line summary of the run for people reading `flowkit state show`
LAST_RUN_KEY = "last_run"
_MAX_CAS_TRIES = 50
# The progress line walks every board: it is rewritten with the header (phase, board list, merges)
# and otherwise at most this often, so a long run does not pay for it on every page.
PROGRESS_EVERY_S = 1.0


class StandardJiraIngestionStateService(ControllerService):
    """Central ingestion state of the Jira Cloud (Agile) flow, kept with versioned compare-and-set."""

    properties = ()

    def __init__(self) -> None:
        self._lock = threading.Lock()  # serialises our own writers; CAS still guards against others
        self._context: ConfigurationContext | None = None
        self._active_run: str | None = None  # the run this process started or resumed
        # (stored version, run decoded, run stored in the old one-document form): the last state read or
        # written. Every processor asks for the run many times per board; re-reading and decoding it each
        # time made a run quadratic in boards. While the flow runs this process holds the run lock, so it
        # is the only writer; a failed compare-and-set (someone wrote anyway) drops the cache and re-reads.
        self._cache: tuple[int | None, RunState | None, bool] | None = None
        self._progress_at = 0.0  # time.monotonic() of the last progress line written
        self._progress_stale = False  # a change was written without its progress line
        self._last_gauges: dict[str, object] = {}

    def status_gauges(self) -> dict[str, object]:
        """The run's phase and boards done of total, from the cached run (never blocks on the store)."""
        cached = self._cache
        if cached is not None and cached[1] is not None:
            self._last_gauges = cached[1].gauges()
        return self._last_gauges

    def on_enabled(self, context: ConfigurationContext) -> None:
        self._context = context
        self._active_run = None
        self._cache = None

    def on_disabled(self) -> None:
        self.status_gauges()  # keep the last picture for the run's final status
        self._write_progress()
        self._context = None
        self._active_run = None
        self._cache = None

    # ---- reading --------------------------------------------------------------------------------

    def current(self) -> RunState | None:
        cached = self._cache  # one atomic read: readers need not wait for a writer's fsync
        if cached is not None:
            return cached[1]
        with self._lock:
            return self._snapshot()[1]

    def run_is_active_here(self, run_id: str) -> bool:
        return self._active_run == run_id

    # ---- writing --------------------------------------------------------------------------------

    def begin_run(self, enabled: tuple[str, ...]) -> tuple[RunState, bool] | None:
        """Start a new run, or resume one a previous process left unfinished.

        Returns (run, resumed), or None while this process is still working on a run (the
        next scheduled trigger must not start an overlapping one).
        """
        with self._lock:
            self._cache = None  # a new run starts from what is really stored
            stored = self._manager().get()
            run = decode_run(stored.data)
            if run is not None and run.phase != "done":
                self._cache = (stored.version, run, stored_as_one_document(stored.data))
                if self._active_run == run.run_id:
                    return None
                self._active_run = run.run_id
                return run, True
            now = datetime.now(UTC)
            new = RunState(
                run_id=f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
                started_at=now.isoformat(timespec="seconds"),
                tables=tables_for(enabled),
            )
            # The one whole-map write of a run: the previous run's keys go.
            data = {k: v for k, v in stored.data.items() if not is_run_key(k)}
            data.update(encode_run(new))
            data[PROGRESS_KEY] = new.progress()
            if not self._manager().replace(stored, data):
                raise RuntimeError("ingestion state changed while starting a run; another process is writing it")
            self._cache = ((stored.version or 0) + 1, new, False)
            self._progress_at = time.monotonic()
            self._active_run = new.run_id
            return new, False

    def update(self, run_id: str, change: Callable[[RunState], RunState]) -> RunState | None:
        """Apply a pure change to the stored run with compare-and-set, retrying on conflicts.

        Writes only the keys the change touched. Returns the new state, or None when the stored
        run is not `run_id` any more (a stale FlowFile from an earlier run, or state cleared
        meanwhile): the caller drops its work.
        """
        for _ in range(_MAX_CAS_TRIES):
            with self._lock:
                version, run, old_form = self._snapshot()
                if run is None or run.run_id != run_id:
                    return None
                new = change(run)
                changes: dict[str, str | None] = encode_changes(None if old_form else run, new)
                if not changes:
                    return run
                now = time.monotonic()
                if RUN_KEY in changes or now - self._progress_at >= PROGRESS_EVERY_S:
                    changes[PROGRESS_KEY] = new.progress()
                if new.phase == "done":
                    changes[LAST_RUN_KEY] = run_id
                if self._manager().patch(version, changes):
                    # The engine bumps the version by one per write; if that ever changes, the next
                    # compare-and-set fails, the cache is dropped and the state re-read: slower, never wrong.
                    stored = new.stored()
                    self._cache = ((version or 0) + 1, stored, False)
                    self._progress_stale = PROGRESS_KEY not in changes
                    if not self._progress_stale:
                        self._progress_at = now
                    return stored
                self._cache = None
        raise RuntimeError(f"ingestion state kept changing under run {run_id}; giving up after {_MAX_CAS_TRIES} tries")

    # ---- plumbing -------------------------------------------------------------------------------

    def _manager(self) -> StateManager:
        if self._context is None:
            raise RuntimeError("StandardJiraIngestionStateService is not enabled")
        return self._context.state

    def _snapshot(self) -> tuple[int | None, RunState | None, bool]:
        """The cached (version, run, old form), read from the store when there is none. Call with the lock held."""
        if self._cache is None:
            stored = self._manager().get()
            self._cache = (stored.version, decode_run(stored.data), stored_as_one_document(stored.data))
        return self._cache

    def _write_progress(self) -> None:
        """Bring a lagging progress line up to date (at shutdown); a failure here never fails the run."""
        with self._lock:
            if not self._progress_stale or self._context is None or self._cache is None:
                return
            version, run, old_form = self._cache
            if run is None or old_form:
                return
            try:
                written = self._manager().patch(version, {PROGRESS_KEY: run.progress()})
            except Exception:  # only a summary line for people
                return
            self._cache = ((version or 0) + 1, run, False) if written else None
            self._progress_stale = False
