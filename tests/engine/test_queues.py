"""Connection queues: when the earliest penalty ends (what the scheduler sleeps until)."""

from __future__ import annotations

import threading
import time

from flowkit.engine.flow import ConnectionConfig
from flowkit.engine.flowfile import FlowFile
from flowkit.engine.queues import Connection


def _queue() -> Connection:
    return Connection(ConnectionConfig("A", ("success",), "B", 10_000))


def test_next_available_at() -> None:
    q = _queue()
    assert q.next_available_at() is None
    now = time.monotonic()
    q.put(FlowFile(), penalized_until=now + 30)
    q.put(FlowFile(), penalized_until=now + 10)
    assert q.next_available_at() == now + 10  # every FlowFile penalized: the earliest end
    for _ in range(5000):
        q.put(FlowFile())
    assert (q.next_available_at() or 0) <= time.monotonic()  # one is available now: no need to scan the rest
    assert len(q.poll(10_000)) == 5000
    assert q.next_available_at() == now + 10


def test_a_producer_waiting_for_room_is_woken_when_the_consumer_takes() -> None:
    q = Connection(ConnectionConfig("A", ("success",), "B", 2))
    q.put(FlowFile())
    assert q.wait_until_not_full(0.0)  # below the threshold: no wait
    q.put(FlowFile())
    assert not q.wait_until_not_full(0.05)  # full, and nobody takes
    woke: list[float] = []

    def producer() -> None:
        start = time.monotonic()
        assert q.wait_until_not_full(30)
        woke.append(time.monotonic() - start)

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(0.1)
    assert not woke
    q.poll(1)
    thread.join(5)
    assert woke and woke[0] < 5  # woken by the poll, long before its 30 s timeout
