"""Process-wide settings for a `flowkit run` process (the CLI applies them; the library never does)."""

from __future__ import annotations

import ctypes
import gc
import sys

# mallopt() parameter numbers in glibc's malloc.h.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

#: Allocations from this size up get their own mapping, returned to the system when freed.
MMAP_THRESHOLD = 256 * 1024

#: The cyclic garbage collector's generation thresholds during a run (Python's default: 700, 10, 10).
GC_THRESHOLDS = (50_000, 10, 10)


def tune_malloc(arenas: int = 2, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Keep glibc's malloc from holding on to memory a flow has freed; True if glibc agreed (False
    elsewhere: musl, macOS...). Call it before the flow starts its threads.

    - At most `arenas` arenas. glibc gives each thread that allocates concurrently an arena of its own
      (up to 8 per core), and an arena keeps what its thread freed; a flow runs some 30 threads that each
      decode, map and journal pages of thousands of rows.
    - A fixed mmap threshold. glibc raises it as large blocks are freed, so the pages' big buffers (the
      Jira answers, the journal pages' JSON, SQLite's JSON parses) end up in the heap between small
      objects, and the heap can no longer shrink.
    Measured at 943k BOARD_ISSUE rows: peak RSS 162 -> 149 MB with two arenas, then 134 -> 118 MB with the
    threshold, at no measurable cost in wall or CPU time. MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ in
    the environment do the same.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols, which include its C library's: ctypes.util.find_library("c") would run
        # `ldconfig -p` in a child process (15-25 ms before the first Jira request, with importing subprocess).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas)) and bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Run the cyclic garbage collector far less often than Python's default (every 700 new containers).

    A flow allocates millions of short-lived containers (each decoded issue is a dict, each journal row a
    list) that reference counting frees on its own. With the default, each page of 5000 issues set off
    dozens of collections, and every few pages a full one over every object the process holds (the
    libraries' 60,000 and the pages in flight). Measured at 943k BOARD_ISSUE rows: the collector's CPU
    time went from 1.5-2.2 s to 0.2 s (0.5-0.6 s with 10,000), with the same peak RSS (118-122 MB).
    """
    gc.set_threshold(*thresholds)
