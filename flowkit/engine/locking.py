"""The run lock: one run per flow per `$FLOWKIT_HOME`, via ``flock`` on ``locks/<flow_id>.lock``.

``flock`` is released by the kernel when the process dies, so a crashed run never leaves a stale
lock; the pid written inside is only for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from flowkit.engine.errors import FlowRunningError
from flowkit.engine.state import ensure_private_dir

LOCKS_DIR = "locks"


def lock_path(home: Path, flow_id: str) -> Path:
    """Where the run lock of `flow_id` lives."""
    return home / LOCKS_DIR / f"{flow_id}.lock"


class RunLock:
    """An exclusive, non-blocking lock on one flow.

    Example:
        >>> with RunLock(home, "example-flow"):
        ...     ...  # nobody else can run or clear this flow here
    """

    def __init__(self, home: Path, flow_id: str) -> None:
        self.path = lock_path(home, flow_id)
        self.flow_id = flow_id
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `FlowRunningError` naming the holder's pid."""
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise FlowRunningError(f"flow '{self.flow_id}' is already running (pid {pid})", pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @staticmethod
    def holder(home: Path, flow_id: str) -> int | None:
        """The pid running `flow_id` now (0 if unknown), or None when nobody holds its lock; takes nothing."""
        path = lock_path(home, flow_id)
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd) or 0
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
