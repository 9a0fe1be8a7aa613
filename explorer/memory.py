"""Process memory: resident size, and handing freed memory back to the system (Linux/glibc).

A long-running server frees plenty — closed sessions, finished jobs, evicted models — but glibc's
allocator keeps freed blocks in per-thread arenas for reuse, so the resident size only ever
grows. :func:`limit_arenas` caps the number of arenas (a web server's many worker threads would
otherwise get one each) and :func:`trim` returns free pages after a burst of freeing. Both are
no-ops where glibc is not the allocator. No torch or gradio here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
import time

#: glibc mallopt parameter number of M_ARENA_MAX (malloc.h)
_M_ARENA_MAX = -8
_TRIM_LOCK = threading.Lock()
_last_trim = 0.0


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - present only in glibc
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def rss_bytes() -> int | None:
    """Resident set size of this process in bytes (``VmRSS``), or None where ``/proc`` is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def limit_arenas(num: int = 2) -> bool:
    """Let glibc make at most ``num`` malloc arenas from now on; True if it took effect."""
    libc = _libc()
    return bool(libc and libc.mallopt(_M_ARENA_MAX, int(num)) == 1)


def trim(min_interval_s: float = 0.0) -> bool:
    """Return freed heap pages to the system (``malloc_trim(0)``), at most once per ``min_interval_s``.

    Returns True if memory was released."""
    global _last_trim
    libc = _libc()
    if libc is None:
        return False
    with _TRIM_LOCK:
        now = time.monotonic()
        if now - _last_trim < min_interval_s:
            return False
        _last_trim = now
        return bool(libc.malloc_trim(0))
