"""Request counts per endpoint template and status, and retries that came earlier than Retry-After allowed."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any


class CallableCounter(Counter[Any]):
    """A Counter that can also be called for a plain-dict copy: ``log.counts["GET ..."]`` or ``log.counts()``."""

    def __call__(self) -> dict[Any, int]:
        return dict(self)


@dataclass(frozen=True)
class Entry:
    at: float  # time.monotonic() on arrival
    client: str
    method: str
    path: str
    endpoint: str  # "GET /rest/agile/1.0/board/{id}/sprint"
    status: int  # 0: no response (connection reset)
    early: bool


class RequestLog:
    """Thread-safe request log.

    A client (remote address + Authorization header) that received a 429/503 with ``Retry-After: N`` must
    not send another request in the same scope (the endpoint for per-endpoint limits, everything otherwise)
    before N seconds have passed; requests that do are counted in ``early_retries``. Requests arriving within
    ``grace_s`` of the 429 were already in flight and are not counted.
    """

    def __init__(self, grace_s: float = 0.25, keep: int = 100_000) -> None:
        self.grace_s = grace_s
        self._lock = threading.Lock()
        self._keep = keep
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.counts: CallableCounter = CallableCounter()  # endpoint -> requests
            self.statuses: CallableCounter = CallableCounter()  # HTTP status -> responses (0: reset)
            self.total = 0
            self.early_retries = 0
            self.in_flight = 0  # requests arrived and not yet answered
            self.peak_in_flight = 0
            self.finished: dict[str, float] = {}  # endpoint -> when its last answer left (monotonic)
            self.entries: deque[Entry] = deque(maxlen=self._keep)
            self._deadlines: dict[tuple[str, str], tuple[float, float]] = {}  # -> (sent at, deadline)

    def arrive(self, client: str, endpoint: str, now: float | None = None) -> bool:
        """Count a request; return whether it came before a Retry-After deadline told to this client."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.counts[endpoint] += 1
            self.total += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            early = False
            for scope in ("*", endpoint):
                sent, deadline = self._deadlines.get((client, scope), (0.0, 0.0))
                if sent + self.grace_s < now < deadline:
                    early = True
            if early:
                self.early_retries += 1
            return early

    def told_retry_after(self, client: str, scope: str, seconds: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._deadlines[(client, scope)] = (now, now + seconds)

    def done(self, entry: Entry) -> None:
        with self._lock:
            self.in_flight -= 1
            self.finished[entry.endpoint] = time.monotonic()
            self.statuses[entry.status] += 1
            self.entries.append(entry)

    def status_counts(self) -> dict[int, int]:
        return dict(self.statuses)

    def count(self, endpoint: str) -> int:
        return self.counts.get(endpoint, 0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "early_retries": self.early_retries,
                "peak_in_flight": self.peak_in_flight,
                "counts": dict(self.counts),
                "statuses": {str(k): v for k, v in self.statuses.items()},
            }
