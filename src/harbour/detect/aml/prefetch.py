"""Work of later typologies that the claims of earlier ones do not change (or change only where they fall),
started beside the mining pass on a thread of its own. The miner runs the typologies one after another in
priority order, and much of each is single-threaded numpy and Python; the side thread gives the second core
the whole-table scans that would otherwise wait their turn.

A finder asks ``take`` for its prefetched result and computes it itself when there is none (a detector run
outside the miner, another graph, another configuration), so a result never depends on whether it was
prefetched. The side thread's kernels run on it alone (``kernels.single_threaded``): the main pass keeps the
kernel pool."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from harbour.detect.aml.graph import TransferGraph

_LOCK = threading.Lock()
_SESSION: dict[str, Any] = {}  # graph, executor, and the futures by (name, key)


@contextmanager
def session(g: TransferGraph) -> Iterator[None]:
    """Prefetching for one mining pass over ``g``; what no finder took is dropped at the end."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="aml-prefetch")
    with _LOCK:
        _SESSION.clear()
        _SESSION.update(graph=g, pool=pool, futures={})
    try:
        yield
    finally:
        with _LOCK:
            futures = _SESSION.get("futures", {}) if _SESSION.get("graph") is g else {}
            for f in futures.values():
                f.cancel()
            if _SESSION.get("graph") is g:
                _SESSION.clear()
        pool.shutdown(wait=True)  # a running task finishes; its result is dropped


def start(g: TransferGraph, name: str, key: str, work: Callable[[], Any]) -> None:
    """Queue ``work`` (tasks run in the order started) if a session for ``g`` is open, else do nothing."""
    from harbour.detect.aml.kernels import single_threaded

    def run() -> Any:
        with single_threaded():
            return work()

    with _LOCK:
        if _SESSION.get("graph") is not g:
            return
        _SESSION["futures"][(name, key)] = _SESSION["pool"].submit(run)


def take(g: TransferGraph, name: str, key: str, keep: bool = False) -> Any | None:
    """The prefetched result of ``name`` under ``key`` for ``g`` (waiting for it if it runs), once (or, with
    ``keep``, for later takers too: a result two typologies read, which neither changes); else None."""
    with _LOCK:
        if _SESSION.get("graph") is not g:
            return None
        futures = _SESSION["futures"]
        future: Future[Any] | None = futures.get((name, key)) if keep else futures.pop((name, key), None)
    return None if future is None else future.result()
