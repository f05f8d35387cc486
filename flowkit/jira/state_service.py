"""StandardJiraIngestionStateService: the flow's central record of ingestion progress.

It keeps one `RunState` (see run_state.py) as JSON in the engine's SQLite state service, and
changes it only by compare-and-set, so every processor of the flow sees one consistent story
of the run, and a process that crashes at any point leaves a state the next start can finish.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from flowkit.engine import ConfigurationContext, ControllerService, StateManager, StateMap
from flowkit.jira.run_state import RunState, tables_for

RUN_KEY = "run"
PROGRESS_KEY = "progress"  # a one-line summary of RUN_KEY for people reading `flowkit state show`
LAST_RUN_KEY = "last_run"
_MAX_CAS_TRIES = 50


class StandardJiraIngestionStateService(ControllerService):
    """Central ingestion state of the Jira Cloud (Agile) flow, kept with versioned compare-and-set."""

    properties = ()

    def __init__(self) -> None:
        self._lock = threading.Lock()  # serialises our own writers; CAS still guards against others
        self._context: ConfigurationContext | None = None
        self._active_run: str | None = None  # the run this process started or resumed
        # The last state read or written, decoded. Every processor asks for the run many times per
        # board; re-reading and decoding the whole JSON each time made a run quadratic in boards.
        # While the flow runs this process holds the run lock, so it is the only writer; a failed
        # compare-and-set (someone wrote anyway) drops the cache and re-reads.
        self._cache: tuple[StateMap, RunState | None] | None = None
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
            stored, run = self._snapshot()
            if run is not None and run.phase != "done":
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
            data = {**stored.data, RUN_KEY: new.to_json(), PROGRESS_KEY: new.progress()}
            if not self._replace(stored, data, new):
                raise RuntimeError("ingestion state changed while starting a run; another process is writing it")
            self._active_run = new.run_id
            return new, False

    def update(self, run_id: str, change: Callable[[RunState], RunState]) -> RunState | None:
        """Apply a pure change to the stored run with compare-and-set, retrying on conflicts.

        Returns the new state, or None when the stored run is not `run_id` any more (a stale
        FlowFile from an earlier run, or state cleared meanwhile): the caller drops its work.
        """
        for _ in range(_MAX_CAS_TRIES):
            with self._lock:
                stored, run = self._snapshot()
                if run is None or run.run_id != run_id:
                    return None
                new = change(run)
                if new == run:
                    return run
                data = {**stored.data, RUN_KEY: new.to_json(), PROGRESS_KEY: new.progress()}
                if new.phase == "done":
                    data[LAST_RUN_KEY] = run_id
                if self._replace(stored, data, new):
                    return new
        raise RuntimeError(f"ingestion state kept changing under run {run_id}; giving up after {_MAX_CAS_TRIES} tries")

    # ---- plumbing -------------------------------------------------------------------------------

    def _manager(self) -> StateManager:
        if self._context is None:
            raise RuntimeError("StandardJiraIngestionStateService is not enabled")
        return self._context.state

    def _snapshot(self) -> tuple[StateMap, RunState | None]:
        """The cached (state, run), read from the store when there is none. Call with the lock held."""
        if self._cache is None:
            stored = self._manager().get()
            self._cache = (stored, _decode(stored))
        return self._cache

    def _replace(self, stored: StateMap, data: dict[str, str], run: RunState) -> bool:
        """Compare-and-set; on success the cache holds what was written, on conflict it is dropped."""
        if not self._manager().replace(stored, data):
            self._cache = None
            return False
        # The engine bumps the version by one per write; if that ever changes, the next
        # compare-and-set fails, the cache is dropped and the state re-read: slower, never wrong.
        self._cache = (StateMap((stored.version or 0) + 1, data), run)
        return True


def _decode(state: StateMap) -> RunState | None:
    text = state.get(RUN_KEY)
    return RunState.from_json(text) if text else None
