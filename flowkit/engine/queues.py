"""Connections as in-memory FIFO queues with penalties and an object-count back-pressure threshold.

Queues are deliberately not durable: what must survive a crash lives in the state service and in
the destinations, and sources re-read what they need on the next run.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from flowkit.engine.flow import ConnectionConfig
from flowkit.engine.flowfile import FlowFile


@dataclass
class _Entry:
    flowfile: FlowFile
    penalized_until: float  # time.monotonic(); 0 = not penalized
    sequence: int


class Connection:
    """A thread-safe queue between a processor relationship and another processor.

    Example:
        >>> queue = Connection(config)
        >>> queue.put(FlowFile())
        >>> queue.poll(10)
        [FlowFile(...)]
    """

    _sequence = itertools.count()

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self.threshold = config.back_pressure_object_threshold
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        self._taken = threading.Condition(self._lock)  # notified when FlowFiles leave: room for a waiting producer

    def __repr__(self) -> str:
        return f"Connection({self.config.source} -> {self.config.destination}, size={self.size()})"

    def put(self, flowfile: FlowFile, penalized_until: float = 0.0) -> None:
        """Append a FlowFile (penalized until the given monotonic time)."""
        with self._lock:
            self._entries.append(_Entry(flowfile, penalized_until, next(self._sequence)))

    def requeue(self, flowfile: FlowFile, penalized_until: float, sequence: int) -> None:
        """Put a FlowFile back at its original position (rollback keeps FIFO order)."""
        with self._lock:
            self._entries.append(_Entry(flowfile, penalized_until, sequence))
            self._entries.sort(key=lambda e: e.sequence)

    def poll(self, limit: int) -> list[tuple[FlowFile, int]]:
        """Take up to `limit` non-penalized FlowFiles, oldest first, with their sequence numbers."""
        now = time.monotonic()
        taken: list[tuple[FlowFile, int]] = []
        with self._lock:
            kept: list[_Entry] = []
            for entry in self._entries:
                if len(taken) < limit and entry.penalized_until <= now:
                    taken.append((entry.flowfile, entry.sequence))
                else:
                    kept.append(entry)
            self._entries = kept
            if taken:
                self._taken.notify_all()
        return taken

    def drain(self) -> list[FlowFile]:
        """Take every queued FlowFile, penalized or not, oldest first (flowkit.engine.testing)."""
        with self._lock:
            entries, self._entries = sorted(self._entries, key=lambda e: e.sequence), []
            self._taken.notify_all()
        return [e.flowfile for e in entries]

    def size(self) -> int:
        """FlowFiles queued, penalized or not."""
        with self._lock:
            return len(self._entries)

    def has_available(self) -> bool:
        """True when a non-penalized FlowFile is queued."""
        if not self._entries:  # most queues, most of the time; a racy read, but so is any answer once returned
            return False
        now = time.monotonic()
        with self._lock:
            for e in self._entries:
                if e.penalized_until <= now:
                    return True
        return False

    def next_available_at(self) -> float | None:
        """Monotonic time when the earliest penalty ends, if all queued FlowFiles are penalized (a time not
        after now otherwise; None when empty)."""
        now = time.monotonic()
        earliest: float | None = None
        with self._lock:
            for e in self._entries:
                if e.penalized_until <= now:
                    return e.penalized_until  # one is available: the scheduler loop called this for every queue
                if earliest is None or e.penalized_until < earliest:  # and scanning a long queue cost it O(n)
                    earliest = e.penalized_until
        return earliest

    def wait_until_not_full(self, timeout: float) -> bool:
        """Block until the queue is below its threshold (True) or `timeout` seconds pass (False)."""
        with self._taken:
            return self._taken.wait_for(lambda: len(self._entries) < self.threshold, timeout)

    def is_full(self) -> bool:
        """Back pressure: the queue holds at least its object threshold."""
        with self._lock:
            return len(self._entries) >= self.threshold
