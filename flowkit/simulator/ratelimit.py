"""A token-bucket rate limiter answering like Jira's burst limits (jira-api.md §7)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimit:
    """``rate`` requests per second refill a bucket of ``burst`` (the X-RateLimit-Limit).

    ``per_endpoint``: one bucket per (method, endpoint template), like ``jira-burst-based``; else one
    global bucket.
    ``retry_after``: send ``Retry-After`` and ``X-RateLimit-Reset`` on 429 (False: a bare 429).
    """

    rate: float
    burst: int = 0  # 0 -> max(1, int(rate))
    per_endpoint: bool = True
    retry_after: bool = True

    @property
    def limit(self) -> int:
        return self.burst or max(1, int(self.rate))


@dataclass
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int = 0  # whole seconds until a token is available (>= 1 when refused)
    scope: str = "*"


@dataclass
class RateLimiter:
    config: RateLimit
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, endpoint: str, now: float | None = None) -> Decision:
        cfg = self.config
        scope = endpoint if cfg.per_endpoint else "*"
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(scope, (float(cfg.limit), now))
            tokens = min(float(cfg.limit), tokens + (now - last) * cfg.rate)
            if tokens >= 1.0:
                tokens -= 1.0
                self._buckets[scope] = (tokens, now)
                return Decision(True, cfg.limit, int(tokens), scope=scope)
            self._buckets[scope] = (tokens, now)
            wait = (1.0 - tokens) / cfg.rate if cfg.rate > 0 else 3600.0
            return Decision(False, cfg.limit, 0, max(1, math.ceil(wait)), scope=scope)
