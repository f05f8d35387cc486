"""Token-bucket rate limiters answering like Jira's limits (jira-api.md §7).

Jira limits API-token traffic per second per endpoint and method (``RateLimit-Reason: jira-burst-based``)
and per site (here ``jira-cost-based``); a simulator may run several limiters at once (e.g. a site-wide one
and a tighter one on the search endpoint) and a request must pass all of them.
"""

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
    ``endpoint``: apply only to this endpoint key (e.g. ``"POST /rest/api/3/search/jql"``); None: to all.
    """

    rate: float
    burst: int = 0  # 0 -> max(1, int(rate))
    per_endpoint: bool = True
    retry_after: bool = True
    endpoint: str | None = None

    @property
    def reason(self) -> str:
        """``RateLimit-Reason`` of a refusal: burst limits are per endpoint, the cost budget per site."""
        return "jira-burst-based" if self.per_endpoint else "jira-cost-based"

    def applies(self, endpoint: str) -> bool:
        return self.endpoint is None or self.endpoint == endpoint

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
    reason: str = "jira-burst-based"


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
                return Decision(True, cfg.limit, int(tokens), scope=scope, reason=cfg.reason)
            self._buckets[scope] = (tokens, now)
            wait = (1.0 - tokens) / cfg.rate if cfg.rate > 0 else 3600.0
            return Decision(False, cfg.limit, 0, max(1, math.ceil(wait)), scope=scope, reason=cfg.reason)


def take_all(limiters: list[RateLimiter], endpoint: str, now: float | None = None) -> Decision | None:
    """Pass a request through every limiter that applies to ``endpoint``, in order.

    Returns the first refusal, else the allowed decision with the least budget left (what the answer's
    ``X-RateLimit-*`` headers report), or None when no limiter applies.
    """
    tightest: Decision | None = None
    for limiter in limiters:
        if not limiter.config.applies(endpoint):
            continue
        decision = limiter.take(endpoint, now)
        if not decision.allowed:
            return decision
        if tightest is None or decision.remaining / decision.limit < tightest.remaining / tightest.limit:
            tightest = decision
    return tightest
