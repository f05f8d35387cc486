"""Retry mechanics of the Jira client: the policy, the delay computation, and the shared rate gate.

Atlassian's recommended algorithm (rate-limiting page): at most 4 retries, initial delay 5 s, maximum 30 s,
jitter multiplier in [0.7, 1.3]; with ``Retry-After`` wait that many seconds. Two rules are stricter here:

* with ``Retry-After`` the wait is **never shorter** than the header: jitter only adds
  (up to ``jitter[1] - 1``, i.e. +30% by default);
* without it the wait is ``min(initial * 2**attempt, max_delay)`` times a jitter factor in ``jitter``.

A :class:`RateGate` is shared by every thread that talks to one Jira site: a rate-limit answer moves the
gate's ``resume_at`` forward, and every thread waits for the gate before it sends anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. ``max_retries`` counts retries (so at most ``max_retries + 1`` requests per call).

    ``max_retry_after``: a server asking to wait longer than this many seconds is not waited for; the call
    fails at once with :class:`~flowkit.jira.errors.JiraRetriesExhausted` (it is never retried sooner).
    """

    max_retries: int = 4
    initial_delay: float = 5.0
    max_delay: float = 30.0
    jitter: tuple[float, float] = (0.7, 1.3)
    max_retry_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays must be >= 0")
        low, high = self.jitter
        if not 0 < low <= high:
            raise ValueError("jitter must be (low, high) with 0 < low <= high")
        if self.max_retry_after < 0:
            raise ValueError("max_retry_after must be >= 0")


def compute_delay(policy: RetryPolicy, attempt: int, retry_after: float | None, rand: float) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` is 0 for the first retry).

    ``rand`` is a uniform random number in [0, 1]. With ``retry_after`` the result is in
    ``[retry_after, retry_after * max(1, jitter_high)]``; never below ``retry_after``.
    Without it: ``min(initial_delay * 2**attempt, max_delay) * (low + (high - low) * rand)``.
    """
    rand = min(max(rand, 0.0), 1.0)
    low, high = policy.jitter
    if retry_after is not None:
        extra = max(high - 1.0, 0.0) * rand
        return retry_after * (1.0 + extra)
    base = min(policy.initial_delay * (2.0 ** min(attempt, 62)), policy.max_delay)
    return base * (low + (high - low) * rand)


class RateGate:
    """A thread-safe "do not send before" time shared by every task talking to one Jira site.

    ``defer(seconds)`` moves ``resume_at`` to ``max(resume_at, now + seconds)``; ``wait()`` blocks until
    ``resume_at`` has passed (re-checking, since another thread may push it further while we sleep).
    ``clock`` must be monotonic; ``clock``/``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._clock = clock
        self._sleep: Callable[[float], None] | None = sleep
        self._lock = threading.Lock()
        self._resume_at = float("-inf")
        self._deferrals = 0
        self._waited = 0.0

    @property
    def resume_at(self) -> float:
        with self._lock:
            return self._resume_at

    @property
    def deferrals(self) -> int:
        """How many times the gate was pushed forward."""
        with self._lock:
            return self._deferrals

    @property
    def total_wait(self) -> float:
        """Seconds spent by all threads sleeping at the gate (sum over threads)."""
        with self._lock:
            return self._waited

    def defer(self, seconds: float) -> float:
        """Nobody sends before now + ``seconds``. Returns the (possibly unchanged) ``resume_at``."""
        target = self._clock() + max(seconds, 0.0)
        with self._lock:
            if target > self._resume_at:
                self._resume_at = target
                self._deferrals += 1
            return self._resume_at

    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        with self._lock:
            resume_at = self._resume_at
        return max(resume_at - self._clock(), 0.0)

    def wait(self, cancel: threading.Event | None = None) -> float:
        """Block until the gate is open (or ``cancel`` is set); return the seconds slept.

        Without an injected ``sleep``, the wait is on ``cancel`` so that closing a client wakes its threads.
        """
        slept = 0.0
        while True:
            if cancel is not None and cancel.is_set():
                break
            with self._lock:
                resume_at = self._resume_at
            delay = resume_at - self._clock()
            if delay <= 0:
                break
            if self._sleep is not None:
                self._sleep(delay)
            elif cancel is not None:
                cancel.wait(delay)
            else:
                time.sleep(delay)
            slept += delay
        if slept:
            with self._lock:
                self._waited += slept
        return slept
