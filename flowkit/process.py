"""Process-wide settings for a `flowkit run` process (the CLI applies them; the library never does)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt() parameter number of M_ARENA_MAX in glibc's malloc.h.
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Ask glibc's malloc for at most `arenas` arenas; True if it agreed (False elsewhere: musl, macOS...).

    glibc gives each thread that allocates concurrently an arena of its own, up to 8 per core, and an
    arena keeps the memory its thread freed. A flow runs some 30 threads that each decode, map and
    journal pages of thousands of rows, so the process kept a page's worth of freed memory per thread:
    peak RSS at a million BOARD_ISSUE rows went from about 160 MB to about 145 MB with two arenas, at no
    measurable cost in speed (the threads mostly wait on the network and the GIL). Setting
    MALLOC_ARENA_MAX in the environment does the same; this call only affects arenas created after it, so
    it is made before the flow starts its threads.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
