"""Live status of a running flow: NiFi's processor and connection status, as plain snapshots.

`snapshot(runtime)` reads, without stopping anything, what the canvas of NiFi shows: per processor
the FlowFiles in / out, the tasks running and what waits in its incoming queues; per connection its
queue against its back-pressure threshold; the run's counters and bulletin counts. Components can add
flow-specific *gauges* (e.g. the phase of an ingestion run, requests sent) by defining
``status_gauges(self) -> Mapping[str, object]`` (`ReportsStatus`); the engine only shows them.

`StatusTicker` calls a callback with a fresh snapshot every few seconds on its own thread: the CLI
draws live progress from it and the run history stores it, so another process can see a run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from flowkit.engine.status import ConnectionStatus, FlowStatus, ProcessorStatus

if TYPE_CHECKING:
    from flowkit.engine.runtime import FlowRuntime

logger = logging.getLogger("flowkit.engine.progress")

__all__ = [
    "ConnectionStatus",
    "FlowStatus",
    "ProcessorStatus",
    "ReportsRowCounts",
    "ReportsStatus",
    "StatusTicker",
    "gauges",
    "row_counts",
    "snapshot",
]


@runtime_checkable
class ReportsStatus(Protocol):
    """A processor or controller service that publishes gauges for the live status of a run.

    Values must be JSON-ready (str, int, float, bool) and never secret: they are printed, logged
    as JSON and stored in the run history. Called from another thread while the run works, so it
    must be cheap and must not block.
    """

    def status_gauges(self) -> Mapping[str, object]: ...


@runtime_checkable
class ReportsRowCounts(Protocol):
    """A component that knows the row count of each destination table it writes (as of its last write).

    Must return a cached value (no query per call): it is read every few seconds.
    """

    def row_counts(self) -> Mapping[str, int]: ...


def snapshot(runtime: FlowRuntime) -> FlowStatus:
    """The live status of `runtime` (safe to call from any thread)."""
    processors = tuple(
        ProcessorStatus(
            name=node.name,
            type=node.config.type_name,
            flowfiles_in=node.flowfiles_in,
            flowfiles_out=node.flowfiles_out,
            queued=node.queued(),
            active_tasks=node.active,
            triggers=node.triggers,
        )
        for node in runtime.nodes.values()
    )
    connections = tuple(
        ConnectionStatus(
            source=connection.config.source,
            relationships=connection.config.relationships,
            destination=connection.config.destination,
            queued=connection.size(),
            threshold=connection.threshold,
        )
        for node in runtime.nodes.values()
        for connection in node.incoming
    )
    bulletins = runtime.board.all()
    return FlowStatus(
        flow_id=runtime.flow.flow_id,
        elapsed_s=time.monotonic() - runtime.started,
        processors=processors,
        connections=connections,
        counters=runtime.counters(),
        gauges=gauges(runtime.components()),
        warnings=sum(1 for b in bulletins if b.level == "WARNING"),
        errors=sum(1 for b in bulletins if b.level == "ERROR"),
        tables=row_counts(runtime.components()),
    )


def gauges(components: Mapping[str, object]) -> dict[str, object]:
    """Every component's gauges merged (a failing component is skipped: status must never break a run)."""
    merged: dict[str, object] = {}
    for name, component in components.items():
        if not isinstance(component, ReportsStatus):
            continue
        try:
            merged.update(component.status_gauges())
        except Exception as exc:  # a gauge is informative only
            logger.debug("status_gauges of %s failed: %s", name, exc)
    return merged


def row_counts(components: Mapping[str, object]) -> dict[str, int]:
    """Every component's row counts merged (failures skipped, as for gauges)."""
    merged: dict[str, int] = {}
    for name, component in components.items():
        if not isinstance(component, ReportsRowCounts):
            continue
        try:
            merged.update(component.row_counts())
        except Exception as exc:
            logger.debug("row_counts of %s failed: %s", name, exc)
    return merged


class StatusTicker:
    """Calls each listener with `snapshot(runtime)` every `interval` seconds until stopped.

    Listener errors are logged and ignored: showing progress must never stop a run.
    """

    def __init__(
        self, runtime: FlowRuntime, listeners: list[tuple[float, Callable[[FlowStatus], None]]], tick: float = 0.25
    ) -> None:
        self._runtime = runtime
        self._listeners = [(max(interval, tick), call, [0.0]) for interval, call in listeners]
        self._tick = tick
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flowkit-status", daemon=True)

    def start(self) -> StatusTicker:
        """Start ticking (the first call comes after one interval)."""
        now = time.monotonic()
        for entry in self._listeners:
            entry[2][0] = now
        if self._listeners:
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop ticking; no listener is called after this returns."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(self._tick):
            now = time.monotonic()
            due = [(call, last) for interval, call, last in self._listeners if now - last[0] >= interval]
            if not due:
                continue
            status = snapshot(self._runtime)
            for call, last in due:
                last[0] = now
                try:
                    call(status)
                except Exception as exc:
                    logger.warning("status listener failed: %s: %s", type(exc).__name__, exc)
