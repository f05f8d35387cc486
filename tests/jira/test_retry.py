"""Pure tests of the retry policy, compute_delay and the RateGate (fake clock), plus one real-thread test."""

from __future__ import annotations

import threading
import time

import pytest

from flowkit.jira.retry import AimdWindow, Feedback, RateGate, RetryPolicy, compute_delay


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
    assert p.max_throttle_retries == 10 and p.near_limit_pause == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -1},
        {"max_delay": -0.5},
        {"jitter": (0.0, 1.0)},
        {"jitter": (1.3, 0.7)},
        {"max_throttle_retries": -1},
        {"near_limit_pause": -0.1},
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


# ---------------------------------------------------------------- AimdWindow (pure)


def test_window_starts_at_maximum_and_success_keeps_it() -> None:
    w = AimdWindow(16)
    assert w.slots == 16
    for _ in range(100):
        w.on_success()
    assert w.slots == 16 and w.limit == 16.0


def test_window_halves_once_per_epoch_down_to_minimum() -> None:
    w = AimdWindow(16)
    epoch = w.epoch
    assert w.on_throttle(epoch) is True and w.slots == 8
    # the other answers to requests sent in the same window are the same congestion event
    assert w.on_throttle(epoch) is False and w.slots == 8
    for expected in (4, 2, 1, 1, 1):
        assert w.on_throttle(w.epoch) is True
        assert w.slots == expected
    assert w.decreases == 6 and w.limit == 1.0


def test_window_additive_increase_is_about_one_per_window() -> None:
    w = AimdWindow(16)
    for _ in range(4):
        w.on_throttle(w.epoch)
    assert w.slots == 1
    w.on_success()  # 1 + 1/1
    assert w.slots == 2
    w.on_success()
    w.on_success()  # 2 + 1/2 + 1/2.5
    assert w.slots == 2 and w.limit == pytest.approx(2.9)
    w.on_success()
    assert w.slots == 3
    for _ in range(1000):
        w.on_success()
    assert w.slots == 16 and w.limit == 16.0  # never above the maximum


def test_window_bounds_and_growth() -> None:
    with pytest.raises(ValueError):
        AimdWindow(0)
    with pytest.raises(ValueError):
        AimdWindow(4, minimum=5)
    with pytest.raises(ValueError):
        AimdWindow(4, decrease_factor=1.0)
    w = AimdWindow(4, minimum=2)
    w.on_throttle(w.epoch)
    w.on_throttle(w.epoch)
    assert w.slots == 2
    w.grow_maximum(8)  # after a decrease the limit stays where it is
    assert w.maximum == 8 and w.slots == 2
    fresh = AimdWindow(4)
    fresh.grow_maximum(8)
    fresh.grow_maximum(2)  # never lowers
    assert fresh.maximum == 8 and fresh.slots == 8


# ---------------------------------------------------------------- RateGate: the concurrency window


def test_gate_acquire_release_feeds_the_window() -> None:
    clock = FakeClock()
    gate = RateGate(max_concurrency=8, clock=clock, sleep=clock.sleep)
    a, b = gate.acquire(), gate.acquire()
    assert a is not None and b is not None and gate.in_flight == 2
    gate.release(a, Feedback.THROTTLED, defer=2.0)
    assert gate.concurrency_limit == 4 and gate.remaining() == pytest.approx(2.0)
    gate.release(b, Feedback.THROTTLED)  # same window: no second halving
    assert gate.concurrency_limit == 4 and gate.window_decreases == 1
    gate.release(b, Feedback.THROTTLED)  # releasing twice is a no-op
    assert gate.in_flight == 0
    c = gate.acquire()  # waits for the gate first
    assert c is not None and clock.now == pytest.approx(1002.0)
    gate.release(c, Feedback.NEAR_LIMIT, defer=0.5)  # a new window: near-limit halves too
    assert gate.concurrency_limit == 2 and gate.remaining() == pytest.approx(0.5)
    for _ in range(3):
        s = gate.acquire()
        assert s is not None
        gate.release(s, Feedback.SUCCESS)
    assert gate.concurrency_limit == 3
    s = gate.acquire()
    assert s is not None
    gate.release(s)  # neutral: no change
    assert gate.concurrency_limit == 3 and gate.in_flight == 0


def test_gate_without_maximum_adopts_the_largest_pool() -> None:
    gate = RateGate()
    assert gate.concurrency_limit is None
    slot = gate.acquire()  # no bound known yet
    assert slot is not None
    gate.release(slot, Feedback.THROTTLED)
    gate.adopt_pool_size(4)
    gate.adopt_pool_size(8)
    gate.adopt_pool_size(2)
    assert gate.max_concurrency == 8 and gate.concurrency_limit == 8
    fixed = RateGate(max_concurrency=3)
    fixed.adopt_pool_size(16)
    assert fixed.max_concurrency == 3
    with pytest.raises(ValueError):
        RateGate(max_concurrency=0)


def test_gate_acquire_cancelled_returns_none() -> None:
    gate = RateGate(max_concurrency=1, poll=0.01)
    held = gate.acquire()
    assert held is not None
    cancel = threading.Event()
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(gate.acquire(cancel)))
    t.start()
    time.sleep(0.05)
    assert t.is_alive() and gate.waiting == 1  # waiting for the slot, in the queue
    cancel.set()
    t.join(2)
    assert out == [None] and gate.in_flight == 1
    assert gate.waiting == 0  # a cancelled waiter leaves the queue
    gate.release(held)
    assert gate.acquire() is not None  # and the slot is free for the next one


def test_gate_real_threads_never_exceed_the_limit() -> None:
    gate = RateGate(max_concurrency=6, poll=0.01)
    lock = threading.Lock()
    current = [0]
    seen: list[tuple[int, int]] = []  # (in flight, limit when the slot was taken)

    def worker(n: int) -> None:
        for i in range(15):
            slot = gate.acquire()
            assert slot is not None
            with lock:
                current[0] += 1
                seen.append((current[0], gate.concurrency_limit or 0))
            time.sleep(0.002)
            with lock:
                current[0] -= 1
            if n == 0 and i in (2, 8):  # two throttles, each in a new window: two halvings
                gate.release(slot, Feedback.THROTTLED, defer=0.02)
            else:
                gate.release(slot, Feedback.SUCCESS)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(seen) == 12 * 15
    assert max(c for c, _ in seen) <= 6 and gate.peak_in_flight <= 6
    assert gate.window_decreases == 2 and gate.in_flight == 0


def test_gate_limit_one_serialises_real_threads() -> None:
    gate = RateGate(max_concurrency=4, poll=0.01)
    slot = gate.acquire()
    assert slot is not None
    gate.release(slot, Feedback.THROTTLED)
    slot = gate.acquire()
    assert slot is not None
    gate.release(slot, Feedback.THROTTLED)
    assert gate.concurrency_limit == 1
    gate._window.on_success = lambda: None  # type: ignore[method-assign, union-attr]  # keep it at 1
    active = [0]
    peak = [0]
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            s = gate.acquire()
            assert s is not None
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.003)
            with lock:
                active[0] -= 1
            gate.release(s, Feedback.SUCCESS)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 1


def test_a_freed_slot_goes_to_the_longest_waiter_not_to_the_thread_that_freed_it() -> None:
    """A task that releases its slot and asks again at once (ListBoards enriching board after board) queues
    behind the tasks already waiting (the fetchers of the boards it sent on): first come, first served."""
    gate = RateGate(max_concurrency=1)
    first = gate.acquire()
    assert first is not None
    order: list[str] = []

    def waiter() -> None:
        slot = gate.acquire()
        assert slot is not None
        order.append("waiter")
        time.sleep(0.05)
        gate.release(slot, Feedback.SUCCESS)

    thread = threading.Thread(target=waiter)
    thread.start()
    deadline = time.monotonic() + 5
    while gate.waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    gate.release(first, Feedback.SUCCESS)
    again = gate.acquire()  # without first come, first served this thread (it holds the GIL) took it back
    assert again is not None
    order.append("releaser")
    gate.release(again, Feedback.SUCCESS)
    thread.join()
    assert order == ["waiter", "releaser"]
    assert gate.waiting == 0 and gate.in_flight == 0
