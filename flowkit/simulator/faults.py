"""Fault injection: by path regex and/or seeded probability, optionally limited to a number of hits."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

FAULT_KINDS = ("503", "500", "status", "reset", "slow", "malformed", "truncated", "shape")


@dataclass
class Fault:
    """One fault rule.

    kind: ``503`` (with ``Retry-After: retry_after`` unless it is None), ``500``, ``status`` (any ``status``
    with a Jira error body; 429 gets the rate-limit headers), ``reset`` (close the socket without answering),
    ``slow`` (sleep ``delay_s`` then answer normally), ``malformed`` (200 whose JSON body is cut in half but
    complete at HTTP level), ``truncated`` (Content-Length of the full body, half of it sent, then the
    connection closes), ``shape`` (200 with well-formed JSON whose listed items lost their ``id``: the kind of
    answer a proxy or an API change produces, which no retry fixes).
    path: a regex searched in the request path (no query string); None matches every Jira endpoint.
    rate: probability of firing on a match (seeded RNG); None fires on every match.
    count: how many times it may still fire; None is unlimited.
    headers: extra headers on the fault's answer (``status``, ``500``, ``503`` kinds).
    """

    kind: str
    path: str | None = None
    method: str | None = None
    rate: float | None = None
    count: int | None = None
    status: int = 503
    retry_after: int | None = 1
    delay_s: float = 2.0
    message: str | None = None
    headers: dict[str, str] | None = None  # extra response headers (e.g. X-Authentication-Denied-Reason)
    hits: int = 0
    _regex: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if self.kind == "500":
            self.status = 500
        elif self.kind == "503":
            self.status = 503
        self._regex = re.compile(self.path) if self.path else None

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class FaultInjector:
    def __init__(self, seed: int = 1) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def pick(self, method: str, path: str) -> Fault | None:
        """The first active rule that fires for this request (consumes one of its ``count``)."""
        with self._lock:
            for f in self.faults:
                if f.count is not None and f.count <= 0:
                    continue
                if f.method and f.method.upper() != method:
                    continue
                if f._regex is not None and not f._regex.search(path):
                    continue
                if f.rate is not None and self._rng.random() >= f.rate:
                    continue
                if f.count is not None:
                    f.count -= 1
                f.hits += 1
                return f
        return None
