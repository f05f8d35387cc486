"""Snapshots of a running flow's status (NiFi's processor and connection status), as plain values.

A leaf module: the report, the history and the CLI use these types without importing the runtime.
`flowkit.engine.progress` takes them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProcessorStatus:
    """One processor: FlowFiles taken (in) and transferred (out) by committed sessions so far."""

    name: str
    type: str
    flowfiles_in: int
    flowfiles_out: int
    queued: int  # waiting in its incoming queues
    active_tasks: int
    triggers: int


@dataclass(frozen=True)
class ConnectionStatus:
    """One connection: what waits in its queue, and its back-pressure threshold."""

    source: str
    relationships: tuple[str, ...]
    destination: str
    queued: int
    threshold: int


@dataclass(frozen=True)
class FlowStatus:
    """A point-in-time picture of a run."""

    flow_id: str
    elapsed_s: float
    processors: tuple[ProcessorStatus, ...]
    connections: tuple[ConnectionStatus, ...]
    counters: dict[str, int]
    gauges: dict[str, object]
    warnings: int
    errors: int
    tables: dict[str, int] = field(default_factory=dict)  # destination table -> rows, from `ReportsRowCounts`
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (history, ``--log-format json``)."""
        return asdict(self)

    def processor(self, name: str) -> ProcessorStatus:
        """The status of one processor."""
        return next(p for p in self.processors if p.name == name)
