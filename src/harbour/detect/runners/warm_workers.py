"""Worker processes that start warm: forked from a server process that has already imported the detectors and
loaded their compiled kernels, instead of each worker doing both for itself.

A spawned worker of the in-process runner spent ~2.5 CPU-s importing the detectors (Polars, numba, DuckDB,
pandas, SciPy, the kernels' modules) and ~1.5-2 CPU-s more loading its compiled kernels from numba's on-disk cache
(the first function loaded in a process ~0.5 s, each after ~10 ms; 156 overloads in all): ~4.5 CPU-s of every
worker of every run, a tenth of the whole suite's worker time on the 10M-trade bench market. Python's
*forkserver* start method runs one clean server process (started by spawn, so it holds none of the parent's
DuckDB or Arrow threads) that imports the modules named in its preload list once; each worker is then a fork of
it and starts with everything loaded. The server lives as long as the parent process, so a service that runs the
suite many times pays its start once.

Where forkserver is not available (not POSIX) or the operator turns it off (``HARBOUR_WORKER_START=spawn``), the
workers are spawned as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, cast

log = logging.getLogger(__name__)

# The module the server imports; importing it is what warms the server (``preload``).
PRELOAD_MODULE = "harbour.detect.runners.warm_preload"


def worker_context() -> BaseContext:
    """The start method of the runner's pools: forkserver with the preload (see the module's docstring), else
    spawn. ``__main__`` is preloaded too, as a spawned child imports it: detectors defined in the script that
    runs the suite (the bench's null detector) unpickle in the workers."""
    wanted = os.environ.get("HARBOUR_WORKER_START", "forkserver")
    if wanted != "spawn" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["__main__", PRELOAD_MODULE])
        return context
    return multiprocessing.get_context("spawn")


def worker_environment() -> dict[str, Any]:
    """What a forked worker takes from the parent at the pool's start, as a spawned one would: the environment
    and the import path (the server's are those of the moment it started, which may be long before)."""
    return {"environ": dict(os.environ), "path": list(sys.path)}


def adopt_environment(state: dict[str, Any] | None) -> None:
    """In a worker: take the parent's environment and import path (``worker_environment``)."""
    if not state:
        return
    os.environ.clear()
    os.environ.update(state["environ"])
    sys.path[:] = state["path"]


def preload() -> int:
    """Import every registered detector's module and load every compiled kernel of Harbour's that numba's
    cache holds for this machine. Returns how many compiled functions were loaded."""
    from harbour.detect.builtin import load_detectors
    from harbour.detect.runners import local  # noqa: F401 - the worker's own module

    load_detectors()
    return load_compiled("harbour")


def load_compiled(prefix: str) -> int:
    """Load from numba's cache each compiled signature of the ``prefix`` package's compiled functions (those at
    module level of an imported module) that the cache holds for this machine and the function's present code.
    A function without a usable cache entry is left to compile on its first call, as it would anyway; a change
    in numba's cache layout only makes the start cold, never wrong."""
    loaded = 0
    for dispatcher in _dispatchers(prefix):
        for signature in _cached_signatures(dispatcher):
            try:
                dispatcher.compile(signature)
                loaded += 1
            except Exception as exc:  # noqa: BLE001 - warming is best effort: the first call compiles instead
                log.debug("not preloaded: %s%s: %s", dispatcher.py_func.__qualname__, signature, exc)
    return loaded


def _dispatchers(prefix: str) -> list[Any]:
    from numba.core.registry import CPUDispatcher

    found: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == prefix or name.startswith(prefix + ".")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and getattr(value, "_cache", None) is not None:
                found[id(value)] = value
    return list(found.values())


def _cached_signatures(dispatcher: Any) -> list[Any]:
    """The signatures the cache index holds for this machine (codegen) and this version of the function (its
    bytecode hash): entries for other CPUs or older code are not for this process."""
    try:
        cache = dispatcher._cache
        index = cache._cache_file._load_index()
        codegen = dispatcher.targetctx.codegen()
        return [key[0] for key in index if key == cache._index_key(key[0], codegen)]
    except Exception as exc:  # noqa: BLE001 - numba internals may change: then nothing is preloaded
        log.debug("no cache index for %s: %s", getattr(dispatcher, "py_func", dispatcher), exc)
        return []


def server_cpu_seconds() -> tuple[float, float] | None:
    """CPU-seconds of the forkserver (its own, and those of its workers that have exited and been reaped), read
    from /proc; None when there is no forkserver or no /proc. Its workers are its children, not the parent's, so
    the parent's ``RUSAGE_CHILDREN`` does not count them (the bench reads them here)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    stat = Path(f"/proc/{pid}/stat")
    if pid is None or not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))  # stat fields 14-17
    return (utime + stime) / ticks, (cutime + cstime) / ticks


def start_server() -> bool:
    """Start the warm server now (it otherwise starts with the first pool) and wait until it has loaded the
    detectors: for a service or a benchmark that wants the start-up out of its first run. False when the workers
    are spawned (no server)."""
    context = worker_context()
    if context.get_start_method() != "forkserver":
        return False
    ready = cast(Any, context).Process(target=_nothing)  # the server forks it only once its preload is done
    ready.start()
    ready.join()
    return True


def _nothing() -> None:
    """The process ``start_server`` forks to learn that the server is ready."""


def server_peak_mib() -> float:
    """The warm server's peak resident memory (its pages are shared with the workers forked from it until either
    writes them), 0 when there is none."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    status = Path(f"/proc/{pid}/status")
    if pid is None or not status.exists():
        return 0.0
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
