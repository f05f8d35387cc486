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

from flowkit.engine import ConfigurationContext, ControllerService, StateMap
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

    def on_enabled(self, context: ConfigurationContext) -> None:
        self._context = context
        self._active_run = None

    def on_disabled(self) -> None:
        self._context = None
        self._active_run = None

    # ---- reading --------------------------------------------------------------------------------

    def current(self) -> RunState | None:
        return _decode(self._read())

    def run_is_active_here(self, run_id: str) -> bool:
        return self._active_run == run_id

    # ---- writing --------------------------------------------------------------------------------

    def begin_run(self, enabled: tuple[str, ...]) -> tuple[RunState, bool] | None:
        """Start a new run, or resume one a previous process left unfinished.

        Returns (run, resumed), or None while this process is still working on a run (the
        next scheduled trigger must not start an overlapping one).
        """
        with self._lock:
            stored = self._read()
            run = _decode(stored)
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
            if not self._manager().replace(stored, data):
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
                stored = self._read()
                run = _decode(stored)
                if run is None or run.run_id != run_id:
                    return None
                new = change(run)
                if new == run:
                    return run
                data = {**stored.data, RUN_KEY: new.to_json(), PROGRESS_KEY: new.progress()}
                if new.phase == "done":
                    data[LAST_RUN_KEY] = run_id
                if self._manager().replace(stored, data):
                    return new
        raise RuntimeError(f"ingestion state kept changing under run {run_id}; giving up after {_MAX_CAS_TRIES} tries")

    # ---- plumbing -------------------------------------------------------------------------------

    def _manager(self):  # type: ignore[no-untyped-def]
        if self._context is None:
            raise RuntimeError("StandardJiraIngestionStateService is not enabled")
        return self._context.state

    def _read(self) -> StateMap:
        state: StateMap = self._manager().get()
        return state


def _decode(state: StateMap) -> RunState | None:
    text = state.get(RUN_KEY)
    return RunState.from_json(text) if text else None
