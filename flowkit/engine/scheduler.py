"""`run_flow`: the timer-driven scheduler, the ``--once`` mode with its final pass, and the run lock.

Continuous mode: every processor is triggered when its run schedule allows, it is not yielding,
no outgoing queue is at its back-pressure threshold, and it has something to do (a source, a
``trigger_when_empty`` processor, or a non-penalized FlowFile in an incoming queue).

``--once``: every source is triggered once; then processors are triggered while any queue holds
work (waiting out penalties and yields, ignoring run schedules); then the final pass triggers each
``trigger_when_empty`` processor once more with ``context.final_pass``, upstream first, draining
the queues after each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowkit.engine.errors import ConfigurationError, FlowRunningError
from flowkit.engine.flow import Flow
from flowkit.engine.history import DEFAULT_KEEP_RUNS, RunHistory
from flowkit.engine.locking import RunLock
from flowkit.engine.progress import FlowStatus, StatusTicker, snapshot
from flowkit.engine.report import RunReport
from flowkit.engine.runtime import FlowRuntime, ProcessorNode
from flowkit.engine.state import StateService

MAX_IDLE_WAIT_S = 0.05  # upper bound on how long the scheduler sleeps before re-checking stop/penalties


HISTORY_INTERVAL_S = 2.0  # how often a running run refreshes its row in the run history


def run_flow(
    flow: Flow,
    *,
    once: bool,
    home: Path,
    stop: threading.Event | None = None,
    on_started: Callable[[], None] | None = None,
    on_status: Callable[[FlowStatus], None] | None = None,
    status_interval: float = 1.0,
    keep_runs: int = DEFAULT_KEEP_RUNS,
) -> RunReport:
    """Run a loaded flow until it is done (``once``) or `stop` is set; record it in the run history.

    Args:
        flow: from `load_flow`.
        once: run every source once, drain every queue, run the final pass, then return.
        home: ``$FLOWKIT_HOME`` (state database, run history and run locks).
        stop: set it (e.g. from a signal handler) for a graceful stop.
        on_started: called once the run lock is held, services are enabled and every processor is
            scheduled (the CLI prints its "running flow" line then, so a refused start is one line).
        on_status: called with the live `FlowStatus` every `status_interval` seconds from another
            thread while the run works (live progress); its errors are logged and ignored.
        keep_runs: the run history keeps this many runs of the flow (older ones are pruned).

    Raises:
        FlowRunningError: another run of this flow holds the run lock.
        ConfigurationError: a component hook raised it; the run was stopped gracefully first.
    """
    started = time.monotonic()
    stop = stop or threading.Event()
    with RunLock(home, flow.flow_id):
        state = StateService(home)
        history = RunHistory(home, secrets=[p.value for p in flow.parameters.values() if p.sensitive and p.value])
        try:
            run_id = history.start(flow.flow_id, once=once, keep=keep_runs)
            runtime = FlowRuntime(flow, state, home, once=once, stop=stop)
            listeners: list[tuple[float, Callable[[FlowStatus], None]]] = [
                (HISTORY_INTERVAL_S, lambda status: history.update(run_id, status, runtime.board.all()))
            ]
            if on_status is not None:
                listeners.append((status_interval, on_status))
            ticker = StatusTicker(runtime, listeners)
            finished = False
            try:
                try:
                    if runtime.start():
                        if on_started is not None:
                            on_started()
                        ticker.start()
                        finished = _run_once(runtime) if once else _run_continuously(runtime)
                finally:
                    runtime.shutdown()
                    ticker.stop()
            except BaseException as exc:  # recorded, then raised as before
                _record_end(history, run_id, runtime, outcome="error", exit_code=2, error=_describe(exc))
                raise
            final = snapshot(runtime)
            report = RunReport(
                flow_id=flow.flow_id,
                counters=runtime.counters(),
                bulletins=runtime.board.all(),
                duration_s=time.monotonic() - started,
                once=once,
                interrupted=once and not finished and not runtime.startup_failed,
                run_id=run_id,
                status=final,
            )
            if runtime.fatal is not None:
                _record_end(history, run_id, runtime, outcome="error", exit_code=2, error=str(runtime.fatal))
                raise runtime.fatal
            history.finish(run_id, final, report.bulletins, outcome=_outcome(report), exit_code=report.exit_code)
        finally:
            history.close()
            state.close()
    return report


def _outcome(report: RunReport) -> str:
    if report.interrupted:
        return "interrupted"
    if report.failed:
        return "failed"
    return "succeeded" if report.once else "stopped"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConfigurationError | FlowRunningError):
        return str(exc)  # written to be shown: one line, no secret
    return type(exc).__name__  # other messages are not vetted for secrets


def _record_end(history: RunHistory, run_id: str, runtime: FlowRuntime, **outcome: Any) -> None:
    history.finish(run_id, snapshot(runtime), runtime.board.all(), **outcome)


def _ready(node: ProcessorNode, now: float) -> bool:
    return now >= node.yield_until and not node.back_pressured()


def _run_continuously(runtime: FlowRuntime) -> bool:
    while not runtime.stop.is_set():
        now = time.monotonic()
        next_event = now + MAX_IDLE_WAIT_S
        for node in runtime.nodes.values():
            wants_trigger = node.is_source or node.config.cls.trigger_when_empty or node.has_work()
            if wants_trigger and _ready(node, now) and now >= node.next_run_at:
                runtime.submit(node)
            due = max(node.next_run_at, node.yield_until)
            if due > now:
                next_event = min(next_event, due)
        runtime.wait(next_event - time.monotonic())
    return True


def _run_once(runtime: FlowRuntime) -> bool:
    """Returns True if the run went to its end (not stopped early)."""
    for node in runtime.nodes.values():
        if node.is_source:
            runtime.submit(node)
    if not _drain(runtime):
        return False
    for name in runtime.flow.topological_order():
        node = runtime.nodes[name]
        if not node.config.cls.trigger_when_empty:
            continue
        runtime.submit(node, final_pass=True)
        if not _drain(runtime):
            return False
    return not runtime.stop.is_set()


def _drain(runtime: FlowRuntime) -> bool:
    """Trigger processors while any queue holds work; False if the run was stopped meanwhile."""
    while not runtime.stop.is_set():
        now = time.monotonic()
        for node in runtime.nodes.values():
            if not node.is_source and node.has_work() and _ready(node, now):
                while node.has_work() and runtime.submit(node):
                    pass
        if not runtime.busy() and runtime.queued() == 0:
            return True
        runtime.wait(_next_wake(runtime, now) - time.monotonic())
    return False


def _next_wake(runtime: FlowRuntime, now: float) -> float:
    """The earliest penalty or yield expiry, bounded by MAX_IDLE_WAIT_S."""
    wake = now + MAX_IDLE_WAIT_S
    for node in runtime.nodes.values():
        if node.yield_until > now:
            wake = min(wake, node.yield_until)
        for connection in node.incoming:
            available_at = connection.next_available_at()
            if available_at is not None and available_at > now:
                wake = min(wake, available_at)
    return wake
