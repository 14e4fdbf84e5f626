"""How large arrays get their memory.

numpy asks the kernel for 2 MB pages (``madvise(MADV_HUGEPAGE)``) on every large allocation. On a virtual
machine that hands free memory back to its host (free page reporting, DAMON), a fresh 2 MB page must be
backed and zeroed whole, and we measured 0.7-2.6 s per GB first touched that way against a steady
0.3-0.4 s per GB in 4 KB pages (docs/figures.md). A pass that allocates gigabytes of fresh arrays, such
as the transfer graph and its typology miner, spends seconds in page faults with 2 MB pages and no more
time in its own arithmetic without them, so it runs inside ``small_pages()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_LOCK = threading.Lock()
_DEPTH = 0
_BEFORE = True


def _set_hugepage(enabled: bool) -> bool:
    """Set numpy's 2 MB page advice; returns the previous setting (True where numpy lacks the switch)."""
    switch = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(switch, "_set_madvise_hugepage", None)
    return bool(setter(enabled)) if setter is not None else True


@contextmanager
def small_pages() -> Iterator[None]:
    """numpy allocates in 4 KB pages inside; the setting is process-wide, so nested and concurrent uses
    are counted and the first setting comes back when the last one leaves."""
    global _DEPTH, _BEFORE
    with _LOCK:
        if _DEPTH == 0:
            _BEFORE = _set_hugepage(False)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                _set_hugepage(_BEFORE)
