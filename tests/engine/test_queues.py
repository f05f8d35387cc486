"""Connection queues: when the earliest penalty ends (what the scheduler sleeps until)."""

from __future__ import annotations

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
