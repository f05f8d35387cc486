"""The site's request budget: one rate manager shared by every processor talking to one Jira site.

Jira Cloud limits API-token traffic per site and, per second, per endpoint and HTTP method
(``RateLimit-Reason: jira-burst-based``). A well-behaved client therefore

* bounds the requests it has in flight to the site (``Max Requests In Flight``, default 8);
* never sends more than an optional ceiling of requests per second (``Max Requests Per Second``,
  for sites whose budget is shared with other integrations);
* learns the rate the site admits from its answers and paces *before* it is refused: a 429 sets the
  scope's rate to what was admitted in the second before it, ``X-RateLimit-NearLimit: true`` or a low
  ``X-RateLimit-Remaining`` trims it, every plain answer grows it back (additive increase);
* scopes a slowdown: a burst-limit refusal slows only the endpoint+method that hit it, any other
  refusal (site-wide, cost or quota based, 503) slows everything;
* never sends a request earlier than a ``Retry-After`` allowed (quota refusals also wait for
  ``X-RateLimit-Reset``).

The pacing rules are pure (:func:`read_signal`, :class:`Pacer`: no lock, no clock) and unit-tested on
hand-built header sequences; :class:`RequestRateManager` adds the lock and the sleeping and plugs into the
client as its :class:`~flowkit.jira.retry.RateGate`; :class:`StandardAtlassianRequestRateManager` is the
controller service (NiFi's name in Openflow) the Jira client service references.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flowkit.engine import ConfigurationContext, ControllerService, PropertyDescriptor, validators
from flowkit.jira.http import header
from flowkit.jira.retry import Feedback, RateGate, Slot

SITE = "*"  # the scope of a site-wide limit
BURST_REASON = "jira-burst-based"
QUOTA_REASONS = ("jira-quota-tenant-based", "jira-quota-global-based", "jira-quota-based")


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_reset(raw: str | None, now: datetime) -> float | None:
    """Seconds from ``now`` until ``X-RateLimit-Reset`` (``yyyy-MM-ddTHH:mm[:ss][.fff]Z``); None if absent,
    unparsable or already past."""
    if not raw or not raw.strip():
        return None
    text = raw.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    return seconds if seconds > 0 else None


@dataclass(frozen=True)
class RateSignal:
    """What one answer says about the site's rate limits (all optional, as Jira sends them)."""

    status: int | None = None
    retry_after: float | None = None
    remaining: int | None = None
    limit: int | None = None
    reset_in: float | None = None
    near_limit: bool = False
    reason: str | None = None

    @property
    def refused(self) -> bool:
        """A rate-limit refusal: 429/503, or any error answer saying when to come back."""
        if self.status is None:
            return False
        if self.status in (429, 503):
            return True
        return self.status >= 400 and self.retry_after is not None

    @property
    def burst(self) -> bool:
        return (self.reason or "").strip().lower() == BURST_REASON

    @property
    def quota(self) -> bool:
        return (self.reason or "").strip().lower() in QUOTA_REASONS

    @property
    def low(self) -> bool:
        """Less than 20% of a budget left (the NearLimit header, or Remaining/Limit when both are sent)."""
        if self.near_limit:
            return True
        if self.remaining is not None and self.limit:
            return self.remaining < 0.2 * self.limit
        return False

    @property
    def roomy(self) -> bool:
        """At least half of the budget left (``X-RateLimit-Remaining`` / ``X-RateLimit-Limit``)."""
        return (
            not self.near_limit
            and self.remaining is not None
            and bool(self.limit)
            and self.remaining >= 0.5 * (self.limit or 0)
        )

    def scope(self, endpoint: str) -> str:
        """A burst limit is per endpoint and method; anything else is the site's."""
        return endpoint if self.burst else SITE

    def wait(self) -> float | None:
        """The least a refusal asks us to wait: Retry-After, and for quota limits also X-RateLimit-Reset."""
        waits = [w for w in (self.retry_after, self.reset_in if self.quota else None) if w is not None]
        return max(waits) if waits else None


def read_signal(status: int | None, headers: Mapping[str, str], now: datetime | None = None) -> RateSignal:
    """Pure: the rate-limit headers of one answer (``now`` is the wall clock, for ``X-RateLimit-Reset``)."""
    now = now if now is not None else datetime.now(UTC)
    retry_after = _number(header(headers, "Retry-After"))
    if retry_after is None:
        retry_after = _number(header(headers, "Beta-Retry-After"))
    remaining = _number(header(headers, "X-RateLimit-Remaining"))
    limit = _number(header(headers, "X-RateLimit-Limit"))
    reason = header(headers, "RateLimit-Reason") or header(headers, "X-RateLimit-Reason")
    return RateSignal(
        status=status,
        retry_after=retry_after,
        remaining=int(remaining) if remaining is not None else None,
        limit=int(limit) if limit is not None else None,
        reset_in=parse_reset(header(headers, "X-RateLimit-Reset"), now),
        near_limit=(header(headers, "X-RateLimit-NearLimit") or "").strip().lower() == "true",
        reason=reason.strip() if reason else None,
    )


@dataclass
class Pacer:
    """The pacing of one scope (the site, or one endpoint+method). Pure: the caller passes the time.

    ``reserve(now)`` returns when the next request may be sent and books that moment: never before
    ``blocked_until`` (a Retry-After), and at least ``1 / rate`` after the previous booking when a rate is
    known (``ceiling`` is fixed by configuration, ``learned`` comes from the site's answers).

    ``on_refused`` blocks the scope for the server's wait and, once per congestion event (a refusal of a
    request sent after the last decrease), sets ``learned`` to ``decrease`` times the rate of answers the
    site admitted in the ``window`` seconds before (when fewer than ``min_samples`` were admitted we were hardly
    sending, and the refusal only blocks); ``on_low`` trims ``learned`` by ``trim`` (at most once per
    ``window``); ``on_admitted`` counts an admitted answer and grows ``learned`` by ``increase`` (so about
    5% a second at the learned rate), or by ``roomy_increase`` (25%) when the answer said at least half of
    the budget is left (``X-RateLimit-Remaining``), up to ``ceiling``. An underestimate costs a little
    time; an overestimate costs a refusal and a whole second or more of Retry-After.
    """

    ceiling: float | None = None
    learned: float | None = None
    minimum: float = 0.5
    min_samples: int = 5
    decrease: float = 0.9
    trim: float = 0.9
    increase: float = 0.05
    roomy_increase: float = 0.25
    window: float = 1.0
    next_at: float = -math.inf
    blocked_until: float = -math.inf
    last_decrease: float = -math.inf
    admitted: deque[float] = field(default_factory=deque)

    @property
    def rate(self) -> float | None:
        rates = [r for r in (self.ceiling, self.learned) if r is not None]
        return min(rates) if rates else None

    def reserve(self, now: float) -> float:
        at = max(now, self.blocked_until, self.next_at)
        rate = self.rate
        self.next_at = at + 1.0 / rate if rate else -math.inf
        return at

    def _admitted_rate(self, now: float) -> float:
        while self.admitted and self.admitted[0] <= now - self.window:
            self.admitted.popleft()
        return len(self.admitted) / self.window

    def on_admitted(self, now: float, roomy: bool = False) -> None:
        """An answer the site admitted; ``roomy``: it said at least half of the budget is left."""
        self.admitted.append(now)
        self._admitted_rate(now)
        if self.learned is not None:
            self.learned += self.roomy_increase if roomy else self.increase
            if self.ceiling is not None and self.learned >= self.ceiling:
                self.learned = None  # back at the ceiling: only the ceiling paces
        # without a ceiling a learned rate stays (the limit does not go away); it only grows

    def on_refused(self, now: float, sent_at: float, wait: float | None) -> bool:
        """A refusal of a request sent at ``sent_at``; True when the rate was decreased."""
        if wait is not None:
            self.blocked_until = max(self.blocked_until, now + wait)
        if sent_at < self.last_decrease:
            return False  # sent before the last decrease: the same congestion event
        admitted = self._admitted_rate(now)
        if admitted * self.window < self.min_samples:
            # we were hardly sending (e.g. just after a pause): our rate did not cause this refusal, so it
            # says nothing about the site's rate; the Retry-After above is all it asks
            if self.learned is None:
                return False
            base = self.learned
        else:
            base = admitted if self.learned is None else min(admitted, self.learned)
        self.learned = max(self.minimum, base * self.decrease)
        if self.ceiling is not None:
            self.learned = min(self.learned, self.ceiling)
        self.last_decrease = now
        self.next_at = max(self.next_at, self.blocked_until)
        return True

    def on_low(self, now: float) -> bool:
        """Less than 20% of the budget left: slow down a little before the site refuses."""
        if now - self.last_decrease < self.window:
            return False
        base = self.learned if self.learned is not None else max(self._admitted_rate(now), self.minimum)
        if self.ceiling is not None:
            base = min(base, self.ceiling)
        self.learned = max(self.minimum, base * self.trim)
        self.last_decrease = now
        return True


class PacedSlot(Slot):
    """A :class:`Slot` that remembers its endpoint and when it was sent."""

    __slots__ = ("endpoint", "sent_at")

    def __init__(self, epoch: int, endpoint: str, sent_at: float) -> None:
        super().__init__(epoch)
        self.endpoint = endpoint
        self.sent_at = sent_at


class RequestRateManager(RateGate):
    """The runtime rate manager: a :class:`RateGate` (site-wide Retry-After and in-flight window) plus
    :class:`Pacer` s for the site and for each endpoint+method.

    ``acquire(cancel, endpoint=)`` waits for the endpoint's pacing *without* holding an in-flight slot (so a
    throttled endpoint never starves the others), then for a slot, then for the site's pacing.
    ``release(slot, feedback, defer=, signal=)`` routes what the answer said to its scope.
    """

    def __init__(
        self,
        *,
        max_in_flight: int = 8,
        max_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if max_per_second is not None and not max_per_second > 0:
            raise ValueError("max_per_second must be > 0")
        super().__init__(max_concurrency=max_in_flight, clock=clock)
        self._wall = wall
        self.max_per_second = max_per_second
        self._site = Pacer(ceiling=max_per_second)
        self._endpoints: dict[str, Pacer] = {}
        self._burst_limited: set[str] = set()  # endpoints refused for their burst limit during this run
        self._pace_lock = threading.Lock()
        self.refusals: dict[str, int] = {}  # scope -> refusals seen
        self.pace_wait = 0.0  # seconds threads slept for pacing (sum over threads)

    def _pacer(self, scope: str) -> Pacer:
        if scope == SITE:
            return self._site
        pacer = self._endpoints.get(scope)
        if pacer is None:
            pacer = self._endpoints[scope] = Pacer()
        return pacer

    def rate_of(self, scope: str) -> float | None:
        """The pacing rate of a scope (``SITE`` or ``"METHOD /template"``) in requests/s; None: unpaced."""
        with self._pace_lock:
            return self._pacer(scope).rate

    def _sleep_until(self, at: float, cancel: threading.Event | None) -> bool:
        delay = at - self._clock()
        if delay <= 0:
            return True
        if cancel is not None:
            cancel.wait(delay)
        else:
            time.sleep(delay)
        with self._pace_lock:
            self.pace_wait += delay
        return cancel is None or not cancel.is_set()

    def acquire(self, cancel: threading.Event | None = None, endpoint: str | None = None) -> Slot | None:
        while True:
            if endpoint is not None and not self._pace(self._pacer(endpoint), cancel):
                return None
            slot = super().acquire(cancel)
            if slot is None:
                return None
            if not self._pace(self._site, cancel):
                super().release(slot)
                return None
            with self._pace_lock:
                blocked = endpoint is not None and self._pacer(endpoint).blocked_until > self._clock()
            if blocked or self.remaining() > 0:  # refused meanwhile: wait again, without the slot
                super().release(slot)
                continue
            return PacedSlot(slot.epoch, endpoint or SITE, self._clock())

    def _pace(self, pacer: Pacer, cancel: threading.Event | None) -> bool:
        """Sleep until ``pacer`` lets one request go; re-checked after the sleep, since a refusal seen
        meanwhile may have pushed its Retry-After further. False when ``cancel`` was set."""
        while True:
            with self._pace_lock:
                at = pacer.reserve(self._clock())
            if not self._sleep_until(at, cancel):
                return False
            with self._pace_lock:
                if pacer.blocked_until <= self._clock():
                    return True

    def release(
        self,
        slot: Slot,
        feedback: Feedback = Feedback.NEUTRAL,
        *,
        defer: float | None = None,
        signal: RateSignal | None = None,
    ) -> None:
        if slot.released:
            return
        endpoint = slot.endpoint if isinstance(slot, PacedSlot) else SITE
        sent_at = slot.sent_at if isinstance(slot, PacedSlot) else self._clock()
        now = self._clock()
        scope = signal.scope(endpoint) if signal is not None else SITE
        if feedback is Feedback.THROTTLED:
            wait = defer
            if signal is not None and signal.wait() is not None:
                wait = max(wait or 0.0, signal.wait() or 0.0)
            with self._pace_lock:
                self.refusals[scope] = self.refusals.get(scope, 0) + 1
                if scope != SITE and scope not in self._burst_limited:
                    self._burst_limited.add(scope)
                    if not self.refusals.get(SITE):
                        # the low budgets seen so far were probably this endpoint's: give the site its pace back
                        self._site.learned = None
                self._pacer(scope).on_refused(now, sent_at, wait)
            if scope != SITE:
                super().release(slot, Feedback.NEUTRAL)  # the site's window and clock are not this endpoint's
                return
            super().release(slot, Feedback.THROTTLED, defer=wait)
            return
        if feedback is Feedback.NEAR_LIMIT or (feedback is Feedback.SUCCESS and signal is not None and signal.low):
            # A low budget on an answer names no scope: it is the endpoint's own when that endpoint was
            # refused for its burst limit before, else the site's (a site budget shows on every endpoint).
            with self._pace_lock:
                self._site.on_admitted(now)
                own = endpoint in self._burst_limited
                pacer = self._pacer(endpoint) if own else self._site
                if own:
                    pacer.admitted.append(now)
                pacer.on_low(now)
                if own and feedback is Feedback.NEAR_LIMIT and defer:
                    # the client's near-limit pause (0.5 s), for this endpoint only: its bucket refills a little
                    pacer.blocked_until = max(pacer.blocked_until, now + defer)
            if own:
                super().release(slot, Feedback.SUCCESS)
            else:
                super().release(slot, feedback, defer=defer)
            return
        if feedback is Feedback.SUCCESS:
            roomy = signal is not None and signal.roomy
            with self._pace_lock:
                self._site.on_admitted(now, roomy)
                if endpoint != SITE:
                    self._pacer(endpoint).on_admitted(now, roomy)
        super().release(slot, feedback, defer=defer)


class StandardAtlassianRequestRateManager(ControllerService):
    """Owns one Jira site's request budget for every processor (Openflow's StandardAtlassianRequestRateManager)."""

    MAX_IN_FLIGHT = PropertyDescriptor(
        "Max Requests In Flight",
        "Most requests to the site at once, over all processors",
        default="8",
        validator=validators.POSITIVE_INTEGER,
    )
    MAX_PER_SECOND = PropertyDescriptor(
        "Max Requests Per Second",
        "Ceiling on requests per second to the site (blank: only what Jira's answers ask for); set it when"
        " other integrations share the site's budget",
        validator=lambda v: None if not (v or "").strip() else _per_second_problem(v),
    )
    properties = (MAX_IN_FLIGHT, MAX_PER_SECOND)

    def __init__(self) -> None:
        self._manager: RequestRateManager | None = None

    def on_enabled(self, context: ConfigurationContext) -> None:
        raw = (context.property(self.MAX_PER_SECOND).value or "").strip()
        self._manager = RequestRateManager(
            max_in_flight=context.property(self.MAX_IN_FLIGHT).as_int(),
            max_per_second=float(raw) if raw else None,
        )

    def on_disabled(self) -> None:
        self._manager = None

    @property
    def manager(self) -> RequestRateManager:
        if self._manager is None:
            raise RuntimeError("StandardAtlassianRequestRateManager is not enabled")
        return self._manager


def _per_second_problem(value: str) -> str | None:
    try:
        number = float(value.strip())
    except ValueError:
        return f"{value!r} is not a number of requests per second"
    if not math.isfinite(number) or number <= 0:
        return f"{value!r} must be a positive number of requests per second"
    return None
