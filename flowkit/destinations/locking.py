"""The warehouse merge lock: one merge at a time per warehouse, whatever `$FLOWKIT_HOME` the flow runs in.

The run lock (flowkit/engine/locking.py) lives in the home, so two flows with different homes pointed
at one SQLite file would both hold "their" lock and could interleave merges table by table (flow A's
BOARD, then B's BOARD, then A's SPRINT, ...). This lock lives beside the warehouse file
(``<warehouse>.merge.lock``) and is held for a run's whole merge. It is an ``flock``: the kernel drops
it when the holder dies, so a crashed merge never leaves a stale lock; the pid inside is only for the
message. Destinations without a local file (Snowflake, later) get no lock here.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_SUFFIX = ".merge.lock"
DEFAULT_WAIT_S = 600.0


class WarehouseLockTimeout(RuntimeError):
    """Another process kept the warehouse's merge lock longer than we were willing to wait."""


def merge_lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + LOCK_SUFFIX)


@contextmanager
def warehouse_merge_lock(
    warehouse: Path | None,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
    poll_s: float = 0.05,
    stop: threading.Event | None = None,
) -> Iterator[None]:
    """Hold the merge lock of the warehouse file ``warehouse`` (None: no lock) for the ``with`` block.

    Waits up to ``wait_s`` seconds for another holder (``on_wait`` is told once who holds it), then raises
    :class:`WarehouseLockTimeout` naming the holder's pid.
    """
    if warehouse is None:
        yield
        return
    path = merge_lock_path(Path(warehouse))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if not told and on_wait is not None:
                    on_wait(f"waiting for another flow's merge into {warehouse} to finish ({holder})")
                    told = True
                if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                    raise WarehouseLockTimeout(
                        f"the warehouse {warehouse} is being merged by another flow ({holder}) for more than "
                        f"{wait_s:g}s; this run's merge will be tried again"
                    ) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f"pid {text}" if text.isdigit() else "pid unknown"
