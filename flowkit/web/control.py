"""The canvas's actions (run now, stop, clear state) with the CLI's rules, and the live status of a run here.

A run started from the canvas is a `run_flow(..., once=True)` on a thread of this process; a run of
another `flowkit run` on this machine is seen through its run lock and the run history. `flowkit run
FLOW --ui` hands its own run to `attach`, so the canvas's stop does what Ctrl+C does.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from flowkit.engine.admin import clear_state
from flowkit.engine.errors import ConfigurationError, FlowRunningError
from flowkit.engine.flow import Flow
from flowkit.engine.history import DEFAULT_KEEP_RUNS
from flowkit.engine.locking import RunLock
from flowkit.engine.scheduler import run_flow
from flowkit.engine.status import FlowStatus

logger = logging.getLogger("flowkit.web")

START_WAIT_S = 30.0  # how long "run now" waits for the run to start (services enabled) before answering
LIVE_INTERVAL_S = 0.5


class ActionRefused(Exception):
    """An action the rules refuse; the message is one line for the operator (no secret)."""


class RunControl:
    """Runs of one flow: started and stopped from the canvas, or attached from `flowkit run --ui`.

    Args:
        home: ``$FLOWKIT_HOME``.
        flow_id: the flow's id.
        flow: the loaded flow (parameters resolved); None when the canvas only watches (no "run now").
        keep_runs: history size, as `flowkit run` reads it.
        on_finished: called with a one-line outcome when a run started here ends (the CLI prints it).
    """

    def __init__(
        self,
        home: Path,
        flow_id: str,
        flow: Flow | None,
        *,
        keep_runs: int = DEFAULT_KEEP_RUNS,
        on_finished: Callable[[str], None] | None = None,
    ) -> None:
        self.home = home
        self.flow_id = flow_id
        self.flow = flow
        self.keep_runs = keep_runs
        self.on_finished = on_finished
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._live: FlowStatus | None = None
        self._attached = False

    # -- what the status shows -------------------------------------------------------------------
    def live(self) -> FlowStatus | None:
        """The newest snapshot of a run of this process while it runs, else None."""
        with self._lock:
            return self._live if self._busy() else None

    def in_process(self) -> bool:
        """A run of this process is in progress."""
        with self._lock:
            return self._busy()

    def _busy(self) -> bool:
        return self._attached or (self._thread is not None and self._thread.is_alive())

    def update(self, status: FlowStatus) -> None:
        """`run_flow`'s ``on_status``: keep the newest snapshot."""
        with self._lock:
            self._live = status

    # -- `flowkit run --ui` ------------------------------------------------------------------------
    def attach(self, stop: threading.Event) -> None:
        """The CLI's own run is in progress: the canvas's stop sets its `stop` event."""
        with self._lock:
            self._stop, self._attached, self._live = stop, True, None

    def detach(self) -> None:
        """The CLI's own run ended."""
        with self._lock:
            self._attached = False

    # -- actions -----------------------------------------------------------------------------------
    def run_now(self) -> str:
        """Start one full pass (``--once``) of the flow on a thread; refused while the flow runs anywhere.

        Raises:
            ActionRefused: the flow runs, the canvas only watches, or the run could not start.
        """
        if self.flow is None:
            raise ActionRefused("this canvas only watches the flow; start it with 'flowkit run'")
        flow = self.flow
        with self._lock:
            if self._busy():
                raise ActionRefused(f"flow '{self.flow_id}' is already running (pid {os.getpid()})")
            holder = RunLock.holder(self.home, self.flow_id)
            if holder is not None:
                raise ActionRefused(f"flow '{self.flow_id}' is already running (pid {holder or 'unknown'})")
            stop = threading.Event()
            started = threading.Event()
            outcome: dict[str, str] = {}

            def work() -> None:
                try:
                    report = run_flow(
                        flow,
                        once=True,
                        home=self.home,
                        stop=stop,
                        on_started=started.set,
                        on_status=self.update,
                        status_interval=LIVE_INTERVAL_S,
                        keep_runs=self.keep_runs,
                    )
                    state = "interrupted" if report.interrupted else "failed" if report.failed else "succeeded"
                    outcome["line"] = f"run #{report.run_id} {state} in {report.duration_s:.1f} s"
                except (ConfigurationError, FlowRunningError) as exc:
                    outcome["error"] = str(exc)
                    outcome["line"] = f"run stopped: {exc}"
                except Exception as exc:  # never vetted for secrets: the type only
                    outcome["error"] = f"the run failed: {type(exc).__name__}"
                    outcome["line"] = outcome["error"]
                    logger.debug("run from the canvas failed", exc_info=True)
                finally:
                    started.set()
                    if self.on_finished is not None:
                        self.on_finished(outcome.get("line", "run ended"))

            self._stop, self._live = stop, None
            self._thread = threading.Thread(target=work, name="flowkit-ui-run", daemon=True)
            self._thread.start()
        started.wait(START_WAIT_S)
        if "error" in outcome:
            raise ActionRefused(outcome["error"])
        return f"started a run of flow '{self.flow_id}'"

    def stop(self) -> str:
        """Stop the run: this process's run gracefully; another process's run with SIGTERM (as Ctrl+C would).

        Raises:
            ActionRefused: the flow is not running.
        """
        with self._lock:
            if self._busy() and self._stop is not None:
                self._stop.set()
                return f"stopping flow '{self.flow_id}'"
        holder = RunLock.holder(self.home, self.flow_id)
        if holder is None:
            raise ActionRefused(f"flow '{self.flow_id}' is not running")
        if not holder or holder == os.getpid():  # never signal ourselves: a run of ours is stopped above
            raise ActionRefused(f"flow '{self.flow_id}' is running but its pid is unknown; stop it where it runs")
        try:
            os.kill(holder, signal.SIGTERM)
        except OSError as exc:
            raise ActionRefused(f"cannot stop flow '{self.flow_id}' (pid {holder}): {exc.strerror}") from None
        return f"sent SIGTERM to flow '{self.flow_id}' (pid {holder}); it stops after its running tasks"

    def clear(self) -> str:
        """`flowkit state clear FLOW`: same rule (refused while the flow runs) and same words.

        Raises:
            ActionRefused: the flow runs.
        """
        try:
            count = clear_state(self.home, self.flow_id)
        except FlowRunningError as exc:
            raise ActionRefused(str(exc)) from None
        return f"cleared {count} state map(s) of flow {self.flow_id!r}"

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop a run started here and wait for it (the server is closing)."""
        with self._lock:
            thread, stop = self._thread, self._stop
        if thread is not None and thread.is_alive():
            if stop is not None:
                stop.set()
            thread.join(timeout)
