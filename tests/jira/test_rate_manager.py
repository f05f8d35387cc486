"""The request-rate manager: pure pacing on hand-built header sequences, then real clients against the simulator."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from flowkit.jira.client import JiraClient
from flowkit.jira.endpoints import BOARD_CONFIGURATION, BOARD_ISSUES_SEARCH
from flowkit.jira.rate_manager import SITE, Pacer, RequestRateManager, parse_reset, read_signal
from flowkit.jira.retry import Feedback, RetryPolicy

NOW = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
SEARCH = "POST /rest/api/3/search/jql"
CONFIG = "GET /rest/agile/1.0/board/{boardId}/configuration"


# ------------------------------------------------------------------ headers -> signal (pure)


def test_signal_of_a_burst_refusal() -> None:
    headers = {
        "retry-after": "2",
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "2026-03-02T09:01Z",
        "RateLimit-Reason": "jira-burst-based",
    }
    s = read_signal(429, headers, NOW)
    assert s.refused and s.burst and not s.quota and s.low
    assert (s.retry_after, s.limit, s.remaining) == (2.0, 10, 0)
    assert s.reset_in == pytest.approx(30.0)
    assert s.scope(SEARCH) == SEARCH
    assert s.wait() == 2.0  # a burst refusal waits Retry-After, not the minute-grained reset


def test_signal_scopes_and_waits() -> None:
    site = read_signal(429, {"Retry-After": "1", "RateLimit-Reason": "jira-cost-based"}, NOW)
    assert site.refused and site.scope(SEARCH) == SITE
    bare = read_signal(503, {}, NOW)
    assert bare.refused and bare.scope(CONFIG) == SITE and bare.wait() is None
    quota = read_signal(
        429,
        {"Retry-After": "5", "X-RateLimit-Reset": "2026-03-02T09:02Z", "RateLimit-Reason": "jira-quota-tenant-based"},
        NOW,
    )
    assert quota.scope(SEARCH) == SITE and quota.wait() == pytest.approx(90.0)  # until the reset, not only 5 s
    beta = read_signal(429, {"Beta-Retry-After": "7"}, NOW)
    assert beta.retry_after == 7.0
    ok = read_signal(200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "15"}, NOW)
    assert not ok.refused and ok.low and not ok.near_limit and not ok.roomy
    assert read_signal(200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "50"}, NOW).roomy
    assert not read_signal(200, {}, NOW).roomy
    assert read_signal(200, {"X-RateLimit-NearLimit": "true"}, NOW).low
    assert not read_signal(200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "50"}, NOW).low
    assert not read_signal(404, {}, NOW).refused


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-02T09:01Z", 30.0),
        ("2026-03-02T09:00:45Z", 15.0),
        ("2026-03-02T09:00Z", None),  # already past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_reset(raw: str | None, expected: float | None) -> None:
    got = parse_reset(raw, NOW)
    assert got == (pytest.approx(expected) if expected is not None else None)


# ------------------------------------------------------------------ the pacer (pure)


def test_pacer_without_limits_never_waits() -> None:
    p = Pacer()
    assert [p.reserve(10.0) for _ in range(5)] == [10.0] * 5


def test_pacer_ceiling_spaces_requests() -> None:
    p = Pacer(ceiling=4.0)
    assert [p.reserve(10.0) for _ in range(4)] == [10.0, 10.25, 10.5, 10.75]
    assert p.reserve(12.0) == 12.0  # idle time is not saved up into a burst beyond one request


def test_refusal_blocks_for_retry_after_and_learns_the_admitted_rate() -> None:
    p = Pacer()
    for i in range(10):  # the site admitted 10 requests in the last second
        p.on_admitted(10.0 + i * 0.1)
    assert p.on_refused(now=10.95, sent_at=10.9, wait=1.0)
    assert p.learned == pytest.approx(9.0)  # 0.9 x admitted
    first = p.reserve(11.0)
    assert first >= 11.95  # never before Retry-After
    assert p.reserve(11.0) == pytest.approx(first + 1 / 9.0)  # then paced, not a burst
    # answers to requests sent before that decrease are the same congestion event
    assert not p.on_refused(now=11.0, sent_at=10.92, wait=1.0)
    assert p.learned == pytest.approx(9.0)
    assert p.blocked_until >= 12.0  # ...but their Retry-After still holds


def test_pacer_grows_back_and_stops_at_the_ceiling() -> None:
    p = Pacer(ceiling=10.0)
    for i in range(10):
        p.on_admitted(0.05 + i * 0.09)
    assert p.on_refused(now=1.0, sent_at=0.9, wait=None)
    assert p.rate is not None and p.rate < 10.0
    learned = p.learned
    p.on_admitted(1.5)
    assert p.learned == pytest.approx((learned or 0) + 0.05)
    p.on_admitted(1.6, roomy=True)  # the answer said half the budget is left: grow faster
    assert p.learned == pytest.approx((learned or 0) + 0.30)
    for i in range(400):
        p.on_admitted(2.0 + i * 0.1)
    assert p.learned is None and p.rate == 10.0


def test_near_limit_trims_at_most_once_a_second() -> None:
    p = Pacer()
    for i in range(20):
        p.on_admitted(5.0 + i * 0.05)
    assert p.on_low(5.99) and p.learned == pytest.approx(18.0)  # 0.9 x the 20 admitted in the last second
    assert not p.on_low(6.5)
    assert p.on_low(7.0) and p.learned == pytest.approx(16.2)


def test_header_sequence_paces_before_refusal() -> None:
    """A hand-built run: Remaining falls, the pacer slows before any 429 and never sends into Retry-After."""
    p = Pacer()
    t = 0.0
    sent = []
    remaining = 10
    for _ in range(30):
        at = p.reserve(t)
        sent.append(at)
        t = at + 0.01
        remaining = max(remaining - 1, 0) if at < 1.0 else 10
        sig = read_signal(200, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": str(remaining)}, NOW)
        p.on_admitted(t)
        if sig.low:
            p.on_low(t)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert gaps[0] < 0.02 and max(gaps) > 0.05  # unpaced at first, paced once the budget ran low


# ------------------------------------------------------------------ the manager (threads, real clock)


def test_burst_refusal_slows_only_its_endpoint() -> None:
    m = RequestRateManager(max_in_flight=4)
    slot = m.acquire(endpoint=SEARCH)
    assert slot is not None
    m.release(
        slot,
        Feedback.THROTTLED,
        defer=0.4,
        signal=read_signal(429, {"Retry-After": "0.4", "RateLimit-Reason": "jira-burst-based"}),
    )
    assert m.remaining() == 0.0  # the site is not paused
    t0 = time.monotonic()
    other = m.acquire(endpoint=CONFIG)
    assert other is not None and time.monotonic() - t0 < 0.1
    m.release(other, Feedback.SUCCESS)
    again = m.acquire(endpoint=SEARCH)
    assert again is not None and time.monotonic() - t0 >= 0.38
    m.release(again, Feedback.SUCCESS)
    assert m.refusals == {SEARCH: 1} and m.window_decreases == 0


def test_site_refusal_slows_everything() -> None:
    m = RequestRateManager(max_in_flight=4)
    slot = m.acquire(endpoint=SEARCH)
    assert slot is not None
    m.release(slot, Feedback.THROTTLED, defer=0.3, signal=read_signal(429, {"Retry-After": "0.3"}))
    t0 = time.monotonic()
    other = m.acquire(endpoint=CONFIG)
    assert other is not None and time.monotonic() - t0 >= 0.25
    m.release(other, Feedback.SUCCESS)
    assert m.refusals == {SITE: 1} and m.window_decreases == 1


def test_in_flight_bound_and_validation() -> None:
    m = RequestRateManager(max_in_flight=2)
    a, b = m.acquire(endpoint=CONFIG), m.acquire(endpoint=SEARCH)
    assert a is not None and b is not None and m.in_flight == 2
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    assert m.acquire(cancel, endpoint=CONFIG) is None  # no third slot
    m.release(a)
    m.release(b)
    with pytest.raises(ValueError):
        RequestRateManager(max_in_flight=0)
    with pytest.raises(ValueError):
        RequestRateManager(max_per_second=0)


# ------------------------------------------------------------------ real clients against the simulator


@pytest.fixture
def sim_factory(request: pytest.FixtureRequest) -> Callable[..., Any]:
    factory: Callable[..., Any] = request.getfixturevalue("jira_sim_factory")
    return factory


def _client(sim: Any, manager: RequestRateManager) -> JiraClient:
    return JiraClient(sim.url, sim.email, sim.token, pool_size=16, gate=manager, retry=RetryPolicy(initial_delay=0.05))


def test_ceiling_keeps_a_site_wide_limit_without_refusals(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(boards=12, issues_per_board=5)
    sim.set_rate_limit(20, burst=5, per_endpoint=False)
    manager = RequestRateManager(max_in_flight=8, max_per_second=20)
    with _client(sim, manager) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.board_configuration(1), range(40)))
    assert sim.request_log.statuses[200] == 40
    assert sim.request_log.statuses[429] <= 2  # < 5%
    assert sim.request_log.early_retries == 0


def test_learns_a_site_wide_limit_and_never_retries_early(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(boards=12, issues_per_board=5)
    sim.set_rate_limit(25, burst=5, per_endpoint=False)
    manager = RequestRateManager(max_in_flight=8)
    with _client(sim, manager) as client, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.board_configuration(1), range(30)))
    assert sim.request_log.statuses[200] == 30
    assert sim.request_log.early_retries == 0
    assert 0 < sim.request_log.statuses[429] < 10  # learned: without pacing every burst after a pause is refused
    rate = manager.rate_of(SITE)
    assert rate is not None and rate <= 30


def test_burst_limit_on_search_leaves_other_endpoints_alone(sim_factory: Callable[..., Any]) -> None:
    sim = sim_factory(boards=12, issues_per_board=5)
    sim.add_rate_limit(4, burst=2, endpoint="POST /rest/api/3/search/jql")
    manager = RequestRateManager(max_in_flight=8)
    with _client(sim, manager) as client, ThreadPoolExecutor(8) as pool:
        searches = [pool.submit(lambda: list(client.iter_jql_pages("project = PLAT"))) for _ in range(8)]
        t0 = time.monotonic()
        configs = list(pool.map(lambda _: client.board_configuration(1), range(40)))
        config_time = time.monotonic() - t0
        for f in searches:
            f.result()
    assert len(configs) == 40
    assert sim.request_log.early_retries == 0
    refused = sim.request_log.statuses[429]
    assert refused >= 1  # the bucket of 2 was hit ...
    assert manager.refusals.get(SITE, 0) == 0 and manager.refusals.get(SEARCH, 0) == refused  # ... on search only
    assert manager.rate_of(CONFIG) is None and manager.rate_of(SITE) is None
    assert config_time < 1.0  # configuration never waited for search's Retry-After (>= 1 s)


def test_endpoint_keys_match_the_manager_scopes() -> None:
    assert BOARD_ISSUES_SEARCH.key == SEARCH and BOARD_CONFIGURATION.key == CONFIG


def test_a_low_budget_slows_the_site_until_an_endpoint_is_known_to_be_burst_limited() -> None:
    m = RequestRateManager(max_in_flight=4)
    low = read_signal(200, {"X-RateLimit-NearLimit": "true", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "1"})
    slot = m.acquire(endpoint=SEARCH)
    assert slot is not None
    m.release(slot, Feedback.NEAR_LIMIT, defer=0.0, signal=low)
    assert m.rate_of(SITE) is not None  # no scope named: a site budget shows on every endpoint, so the site slows
    slot = m.acquire(endpoint=SEARCH)
    assert slot is not None
    m.release(slot, Feedback.THROTTLED, defer=0.2, signal=read_signal(429, {"RateLimit-Reason": "jira-burst-based"}))
    assert m.rate_of(SITE) is None  # the low budgets were search's own: the site gets its pace back
    time.sleep(0.25)
    slot = m.acquire(endpoint=SEARCH)
    assert slot is not None
    m.release(slot, Feedback.NEAR_LIMIT, defer=0.0, signal=low)
    assert m.rate_of(SITE) is None and m.rate_of(SEARCH) is not None  # from now on search slows itself only


def test_a_refusal_while_hardly_sending_only_blocks() -> None:
    p = Pacer()
    p.on_admitted(9.5)
    p.on_admitted(9.8)  # two answers in the last second: another client spent the budget, not us
    assert not p.on_refused(now=10.0, sent_at=9.9, wait=1.0)
    assert p.learned is None and p.reserve(10.0) == 11.0


@pytest.mark.parametrize("value", ["abc", "0", "-3", "inf"])
def test_a_bad_max_requests_per_second_is_refused_naming_the_parameter(value: str) -> None:
    from flowkit.engine import ConfigurationError, load_flow
    from tests.jira.flowrun import FLOW

    overrides = {"Jira API Token": "t", "Max Requests Per Second": value}
    with pytest.raises(ConfigurationError, match="'Max Requests Per Second'"):
        load_flow(FLOW, overrides=overrides, env={})
    flow = load_flow(FLOW, overrides={"Jira API Token": "t", "Max Requests Per Second": "12.5"}, env={})
    assert flow is not None
