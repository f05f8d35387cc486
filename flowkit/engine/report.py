"""Bulletins (WARNING+ log records of components) and the report of a run."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowkit.engine.status import FlowStatus

COMPONENT_LOGGER_ROOT = "flowkit.flow"


@dataclass(frozen=True)
class Bulletin:
    """A WARNING or ERROR emitted by a component (or by the engine on its behalf)."""

    level: str  # "WARNING" or "ERROR"
    component: str
    message: str
    time: float = field(default_factory=time.time)

    def __str__(self) -> str:
        return f"{self.level} {self.component}: {self.message}"


class BulletinBoard:
    """Collects bulletins of one run; thread-safe."""

    def __init__(self) -> None:
        self._bulletins: list[Bulletin] = []
        self._lock = threading.Lock()

    def add(self, bulletin: Bulletin) -> None:
        """Record a bulletin."""
        with self._lock:
            self._bulletins.append(bulletin)

    def all(self) -> list[Bulletin]:
        """Every bulletin so far, oldest first."""
        with self._lock:
            return list(self._bulletins)


class _BulletinHandler(logging.Handler):
    def __init__(self, board: BulletinBoard, component: str) -> None:
        super().__init__(logging.WARNING)
        self._board = board
        self._component = component

    def emit(self, record: logging.LogRecord) -> None:
        level = "ERROR" if record.levelno >= logging.ERROR else "WARNING"
        self._board.add(Bulletin(level, self._component, record.getMessage(), record.created))


def component_logger(flow_id: str, component: str, board: BulletinBoard) -> logging.Logger:
    """A logger for one component of one run whose WARNING+ records become bulletins.

    The logger is not registered in `logging`'s global manager (so runs do not leak loggers), but
    propagates to ``flowkit.flow`` so the CLI's log handler still prints its records.
    """
    logger = logging.Logger(f"{COMPONENT_LOGGER_ROOT}.{flow_id}.{component}")
    parent = logging.getLogger(COMPONENT_LOGGER_ROOT)
    logger.parent = parent
    # Bulletins need WARNING records even when the CLI only prints ERROR.
    logger.setLevel(min(logging.WARNING, parent.getEffectiveLevel()))
    logger.addHandler(_BulletinHandler(board, component))
    return logger


@dataclass
class RunReport:
    """What a run did.

    Attributes:
        flow_id: the flow's id.
        counters: totals of every `session.adjust_counter` name.
        bulletins: WARNING and ERROR bulletins, oldest first.
        duration_s: wall-clock seconds.
        interrupted: a ``--once`` run was stopped (signal / stop event) before it finished.
        run_id: the run's id in the run history.
        status: the final per-processor / per-connection status and gauges.
    """

    flow_id: str
    counters: dict[str, int]
    bulletins: list[Bulletin]
    duration_s: float
    once: bool
    interrupted: bool = False
    run_id: str = ""
    status: FlowStatus | None = None

    @property
    def failed(self) -> bool:
        """True if any ERROR bulletin was emitted, or a ``--once`` run did not finish."""
        return self.interrupted or any(b.level == "ERROR" for b in self.bulletins)

    @property
    def exit_code(self) -> int:
        """0 when the run succeeded, 1 when it failed."""
        return 1 if self.failed else 0
