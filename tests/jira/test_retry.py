"""Pure tests of the retry policy, compute_delay and the RateGate (fake clock), plus one real-thread test."""

from __future__ import annotations

import threading
import time

import pytest

from flowkit.jira.retry import RateGate, RetryPolicy, compute_delay


class FakeClock:
    """A monotonic clock whose sleep advances time instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------- RetryPolicy


def test_policy_defaults_match_atlassian() -> None:
    p = RetryPolicy()
    assert (p.max_retries, p.initial_delay, p.max_delay, p.jitter) == (4, 5.0, 30.0, (0.7, 1.3))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -1},
        {"max_delay": -0.5},
        {"jitter": (0.0, 1.0)},
        {"jitter": (1.3, 0.7)},
    ],
)
def test_policy_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


# ---------------------------------------------------------------- compute_delay


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.999, 1.0])
@pytest.mark.parametrize("retry_after", [0.0, 1.0, 7.0, 120.0])
def test_retry_after_is_never_shortened(rand: float, retry_after: float) -> None:
    d = compute_delay(RetryPolicy(), 0, retry_after, rand)
    assert retry_after <= d <= retry_after * 1.3 + 1e-9


def test_retry_after_jitter_only_adds() -> None:
    p = RetryPolicy()
    assert compute_delay(p, 3, 10.0, 0.0) == pytest.approx(10.0)
    assert compute_delay(p, 3, 10.0, 1.0) == pytest.approx(13.0)
    assert compute_delay(p, 0, 10.0, 0.5) == pytest.approx(11.5)
    # jitter wholly below 1: no extra, still exactly Retry-After
    assert compute_delay(RetryPolicy(jitter=(0.5, 0.9)), 0, 4.0, 1.0) == pytest.approx(4.0)


def test_retry_after_is_not_capped_by_max_delay() -> None:
    assert compute_delay(RetryPolicy(max_delay=30.0), 0, 60.0, 0.0) == pytest.approx(60.0)


def test_exponential_backoff_without_retry_after() -> None:
    p = RetryPolicy(initial_delay=5.0, max_delay=30.0, jitter=(0.7, 1.3))
    # rand 0.5 -> jitter factor 1.0
    assert [compute_delay(p, n, None, 0.5) for n in range(5)] == pytest.approx([5, 10, 20, 30, 30])
    assert compute_delay(p, 0, None, 0.0) == pytest.approx(3.5)
    assert compute_delay(p, 0, None, 1.0) == pytest.approx(6.5)
    assert compute_delay(p, 10, None, 1.0) == pytest.approx(39.0)


def test_exponential_backoff_huge_attempt_does_not_overflow() -> None:
    assert compute_delay(RetryPolicy(), 10_000, None, 0.5) == pytest.approx(30.0)


def test_rand_outside_unit_interval_is_clamped() -> None:
    p = RetryPolicy()
    assert compute_delay(p, 0, 2.0, -5.0) == pytest.approx(2.0)
    assert compute_delay(p, 0, 2.0, 5.0) == pytest.approx(2.6)


# ---------------------------------------------------------------- RateGate


def test_gate_open_initially() -> None:
    clock = FakeClock()
    gate = RateGate(clock=clock, sleep=clock.sleep)
    assert gate.wait() == 0.0 and clock.sleeps == [] and gate.remaining() == 0.0


def test_gate_defer_and_wait() -> None:
    clock = FakeClock()
    gate = RateGate(clock=clock, sleep=clock.sleep)
    assert gate.defer(3.0) == pytest.approx(1003.0)
    assert gate.remaining() == pytest.approx(3.0)
    assert gate.wait() == pytest.approx(3.0)
    assert clock.now == pytest.approx(1003.0)
    assert gate.wait() == 0.0


def test_gate_keeps_the_later_resume_time() -> None:
    clock = FakeClock()
    gate = RateGate(clock=clock, sleep=clock.sleep)
    gate.defer(10.0)
    gate.defer(2.0)  # shorter: no effect
    assert gate.resume_at == pytest.approx(1010.0)
    assert gate.deferrals == 1
    gate.defer(12.0)
    assert gate.resume_at == pytest.approx(1012.0)
    assert gate.deferrals == 2


def test_gate_rechecks_after_sleep_when_pushed_further() -> None:
    clock = FakeClock()
    gate = RateGate(clock=clock, sleep=clock.sleep)
    gate.defer(1.0)
    pushed: list[bool] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if not pushed:  # while we slept, another thread got a 429 with Retry-After 5
            pushed.append(True)
            gate.defer(5.0)

    gate._sleep = sleep
    gate.wait()
    assert clock.sleeps == pytest.approx([1.0, 5.0])
    assert gate.total_wait == pytest.approx(6.0)


def test_gate_negative_defer_is_noop() -> None:
    clock = FakeClock()
    gate = RateGate(clock=clock, sleep=clock.sleep)
    gate.defer(-3)
    assert gate.wait() == 0.0


def test_gate_real_threads_all_wait() -> None:
    gate = RateGate()
    gate.defer(0.3)
    t0 = time.monotonic()
    released: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        gate.wait()
        with lock:
            released.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(released) == 3
    assert all(r - t0 >= 0.29 for r in released)
