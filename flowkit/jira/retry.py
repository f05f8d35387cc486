"""Retry mechanics of the Jira client: the policy, the delay computation, and the shared rate gate.

Atlassian's recommended algorithm (rate-limiting page): at most 4 retries, initial delay 5 s, maximum 30 s,
jitter multiplier in [0.7, 1.3]; with ``Retry-After`` wait that many seconds. Two rules are stricter here:

* with ``Retry-After`` the wait is **never shorter** than the header: jitter only adds
  (up to ``jitter[1] - 1``, i.e. +30% by default);
* without it the wait is ``min(initial * 2**attempt, max_delay)`` times a jitter factor in ``jitter``.

Retries are counted in two budgets: ``max_retries`` for errors (5xx or 429 without ``Retry-After``, timeouts,
resets, malformed JSON) and ``max_throttle_retries`` for rate-limit answers that say when to come back
(429/503 with ``Retry-After``). Both are bounded.

A :class:`RateGate` is shared by every thread that talks to one Jira site. It holds a "do not send before"
time (a rate-limit answer moves it forward and every thread waits for it) and an AIMD concurrency window
(:class:`AimdWindow`, as in TCP congestion control): at most ``window.slots`` requests are in flight at once;
a rate-limit answer halves the window (once per window), each answered request grows it by ``1/limit`` back
toward the maximum. After a pause the threads therefore trickle back instead of bursting together.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rate_manager builds on this module
    from flowkit.jira.rate_manager import RateSignal


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries, in two budgets.

    ``max_retries``: retries after errors (5xx or 429 without ``Retry-After``, 408, timeouts, resets, malformed
    JSON). ``max_throttle_retries``: retries after rate-limit answers carrying ``Retry-After`` (429, 503 or
    any status with the header): the server said when to come back, so these get their own, larger budget.
    A call makes at most ``max_retries + max_throttle_retries + 1`` requests.

    ``near_limit_pause``: when an answer says ``X-RateLimit-NearLimit: true`` (less than 20% of a budget left)
    every thread pauses this many seconds and the concurrency window shrinks as for a 429 (0 disables).

    ``max_retry_after``: a server asking to wait longer than this many seconds is not waited for; the call
    fails at once with :class:`~flowkit.jira.errors.JiraRetriesExhausted` (it is never retried sooner).
    """

    max_retries: int = 4
    initial_delay: float = 5.0
    max_delay: float = 30.0
    jitter: tuple[float, float] = (0.7, 1.3)
    max_retry_after: float = 600.0
    max_throttle_retries: int = 10
    near_limit_pause: float = 0.5

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.max_throttle_retries < 0:
            raise ValueError("max_throttle_retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays must be >= 0")
        low, high = self.jitter
        if not 0 < low <= high:
            raise ValueError("jitter must be (low, high) with 0 < low <= high")
        if self.near_limit_pause < 0:
            raise ValueError("near_limit_pause must be >= 0")
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


class Feedback(enum.Enum):
    """What an answer tells the concurrency window (see :meth:`RateGate.release`)."""

    SUCCESS = "success"  # the server answered without throttling (2xx, and 4xx too): additive increase
    THROTTLED = "throttled"  # 429/503 or an answer with Retry-After: multiplicative decrease
    NEAR_LIMIT = "near_limit"  # a success saying X-RateLimit-NearLimit: true: decrease, as for a throttle
    NEUTRAL = "neutral"  # no answer or an error that says nothing about load (reset, timeout, plain 5xx)


@dataclass
class AimdWindow:
    """An additive-increase / multiplicative-decrease concurrency window. Pure: no lock, no clock.

    ``limit`` (a float) starts at ``maximum``; ``slots`` (``floor(limit)``, at least ``minimum``) is how
    many requests may be in flight. :meth:`on_throttle` multiplies ``limit`` by ``decrease_factor`` (min
    ``minimum``), but only once per window: a throttle answer to a request sent before the last decrease
    (an older ``epoch``) belongs to the same congestion event and changes nothing. :meth:`on_success`
    adds ``1/limit`` (so about +1 per window of answers, as in TCP congestion avoidance), up to ``maximum``.
    """

    maximum: int
    minimum: int = 1
    decrease_factor: float = 0.5
    limit: float = field(init=False)
    epoch: int = field(default=0, init=False)
    decreases: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.minimum < 1 or self.maximum < self.minimum:
            raise ValueError("the window needs 1 <= minimum <= maximum")
        if not 0 < self.decrease_factor < 1:
            raise ValueError("decrease_factor must be in (0, 1)")
        self.limit = float(self.maximum)

    @property
    def slots(self) -> int:
        return max(self.minimum, min(self.maximum, int(self.limit)))

    def on_success(self) -> None:
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)

    def on_throttle(self, epoch: int) -> bool:
        """A throttle answer to a request sent in ``epoch``; True when the window was decreased."""
        if epoch != self.epoch:
            return False
        self.limit = max(float(self.minimum), self.limit * self.decrease_factor)
        self.epoch += 1
        self.decreases += 1
        return True

    def grow_maximum(self, maximum: int) -> None:
        """Raise ``maximum`` (never lowers it); before any decrease ``limit`` follows it."""
        if maximum > self.maximum:
            self.maximum = maximum
            if self.decreases == 0:
                self.limit = float(maximum)


class Slot:
    """Permission to have one request in flight, from :meth:`RateGate.acquire`; give it back with ``release``."""

    __slots__ = ("epoch", "released")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.released = False

    def __repr__(self) -> str:
        return f"Slot(epoch={self.epoch}, released={self.released})"


class RateGate:
    """What every task talking to one Jira site shares: a "do not send before" time and a concurrency window.

    ``defer(seconds)`` moves ``resume_at`` to ``max(resume_at, now + seconds)``; ``wait()`` blocks until
    ``resume_at`` has passed (re-checking, since another thread may push it further while we sleep).

    ``acquire()`` waits for the gate **and** for a free slot of the :class:`AimdWindow`, and returns a
    :class:`Slot`; ``release(slot, feedback)`` gives it back after the answer and feeds the window
    (``Feedback.THROTTLED`` halves it, ``Feedback.SUCCESS`` grows it). ``max_concurrency`` is the window's
    maximum (and start); None means "the largest ``pool_size`` of the clients using this gate"
    (:meth:`adopt_pool_size`), and no bound at all until one is known.

    ``clock`` must be monotonic; ``clock``/``sleep`` are injectable for tests (slot waits use real time).
    """

    def __init__(
        self,
        *,
        max_concurrency: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        poll: float = 0.05,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._clock = clock
        self._sleep: Callable[[float], None] | None = sleep
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._poll = poll
        self._resume_at = float("-inf")
        self._deferrals = 0
        self._waited = 0.0
        self._fixed_maximum = max_concurrency is not None
        self._window: AimdWindow | None = AimdWindow(max_concurrency) if max_concurrency is not None else None
        self._in_flight = 0
        self._peak_in_flight = 0
        # Threads waiting for a slot, oldest first: a freed slot goes to the longest waiter, not to whichever
        # thread asks next (the one that just released it, still holding the GIL, would always win, and the
        # fetchers of the first boards would wait until every board was enriched).
        self._waiting: deque[object] = deque()

    # ------------------------------------------------------------------ state

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

    @property
    def concurrency_limit(self) -> int | None:
        """How many requests may be in flight now (None: no bound known yet)."""
        with self._lock:
            return self._window.slots if self._window is not None else None

    @property
    def max_concurrency(self) -> int | None:
        with self._lock:
            return self._window.maximum if self._window is not None else None

    @property
    def window_decreases(self) -> int:
        """How many times the concurrency window was halved."""
        with self._lock:
            return self._window.decreases if self._window is not None else 0

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def waiting(self) -> int:
        """Threads waiting for a slot now."""
        with self._lock:
            return len(self._waiting)

    @property
    def peak_in_flight(self) -> int:
        """The most requests ever in flight at once through this gate."""
        with self._lock:
            return self._peak_in_flight

    def adopt_pool_size(self, pool_size: int) -> None:
        """A client with ``pool_size`` connections uses this gate: without an explicit ``max_concurrency``
        the window's maximum becomes the largest pool size seen."""
        if pool_size < 1:
            raise ValueError("pool_size must be >= 1")
        with self._cond:
            if self._fixed_maximum:
                return
            if self._window is None:
                self._window = AimdWindow(pool_size)
            else:
                self._window.grow_maximum(pool_size)
            self._cond.notify_all()

    # ------------------------------------------------------------------ the time gate

    def defer(self, seconds: float) -> float:
        """Nobody sends before now + ``seconds``. Returns the (possibly unchanged) ``resume_at``."""
        with self._lock:
            return self._defer_locked(seconds)

    def _defer_locked(self, seconds: float) -> float:
        target = self._clock() + max(seconds, 0.0)
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

    # ------------------------------------------------------------------ the concurrency window

    def acquire(self, cancel: threading.Event | None = None, endpoint: str | None = None) -> Slot | None:
        """Wait until the gate is open and a slot is free; take the slot. None when ``cancel`` was set.

        ``endpoint`` ("METHOD /template") is for gates that pace per endpoint (the rate manager); ignored here.

        The gate is checked again under the lock when the slot is taken, so a thread that waited for a slot
        while another thread moved ``resume_at`` goes back to waiting for the gate.
        """
        while True:
            self.wait(cancel)
            with self._cond:
                ticket = object()
                self._waiting.append(ticket)
                took = False
                try:
                    while True:
                        if cancel is not None and cancel.is_set():
                            return None
                        if self._resume_at > self._clock():
                            break  # pushed again: back to the gate
                        window = self._window
                        # first come, first served: of the waiting threads, only as many as there are free
                        # slots, the oldest, may take one
                        if window is None or self._waiting.index(ticket) < window.slots - self._in_flight:
                            self._in_flight += 1
                            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
                            took = True
                            return Slot(window.epoch if window is not None else 0)
                        self._cond.wait(self._poll)
                finally:
                    self._waiting.remove(ticket)
                    if not took:
                        # the threads behind moved up with no slot taken: one of them may now be among the first.
                        # (Taking a slot moves them up by one and uses one: nobody new qualifies, so no wake-up.)
                        self._cond.notify_all()

    def release(
        self,
        slot: Slot,
        feedback: Feedback = Feedback.NEUTRAL,
        *,
        defer: float | None = None,
        signal: RateSignal | None = None,
    ) -> None:
        """Give ``slot`` back after the answer and feed the window; ``defer`` also moves the gate, atomically
        (so no thread waiting for the slot can send before the pause is in place). Releasing twice is a no-op.
        ``signal`` (the answer's rate-limit headers) is for the rate manager, which scopes by it; ignored here.
        """
        with self._cond:
            if slot.released:
                return
            slot.released = True
            self._in_flight -= 1
            if defer is not None:
                self._defer_locked(defer)
            window = self._window
            if window is not None:
                if feedback is Feedback.THROTTLED or feedback is Feedback.NEAR_LIMIT:
                    window.on_throttle(slot.epoch)
                elif feedback is Feedback.SUCCESS:
                    window.on_success()
            self._cond.notify_all()
