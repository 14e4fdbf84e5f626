"""The runner's warm workers: forked from a server that has imported the detectors and loaded their compiled
kernels, with the parent's environment and import path of the moment the pool starts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from harbour.detect.runners import warm_workers
from harbour.detect.runners.local import LocalRunner


def _worker_view(name: str) -> dict[str, Any]:
    import multiprocessing

    return {"env": os.environ.get(name), "path": list(sys.path), "ppid": os.getppid(),
            "preloaded": "harbour.detect.runners.warm_preload" in sys.modules,
            "detectors": "harbour.detect.market.front_running" in sys.modules,
            "method": multiprocessing.get_start_method(allow_none=True)}


@pytest.mark.skipif("forkserver" not in __import__("multiprocessing").get_all_start_methods(),
                    reason="no forkserver on this platform")
def test_workers_fork_from_the_warm_server_with_the_parents_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from multiprocessing import forkserver

    monkeypatch.delenv("HARBOUR_WORKER_START", raising=False)
    assert warm_workers.start_server()
    server = forkserver._forkserver._forkserver_pid
    # set after the server started: a worker forked from it must still see them, as a spawned one would
    monkeypatch.setenv("HARBOUR_TEST_WARM_MARK", "after-start")
    monkeypatch.syspath_prepend("/nonexistent/harbour-warm-test")
    with LocalRunner(workers=2) as runner:
        seen = list(runner._executor().map(_worker_view, ["HARBOUR_TEST_WARM_MARK"] * 2))
    for view in seen:
        assert view["ppid"] == server  # forked by the server, not spawned by this process
        assert view["preloaded"] and view["detectors"]  # imported before any task reached it
        assert view["env"] == "after-start"
        assert view["path"][0] == "/nonexistent/harbour-warm-test"
    own, reaped = warm_workers.server_cpu_seconds() or (0.0, 0.0)
    assert own > 0 and reaped > 0  # the server's own start, and its workers' CPU once they exited
    assert warm_workers.server_peak_mib() > 0


def test_spawn_when_the_operator_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARBOUR_WORKER_START", "spawn")
    assert warm_workers.worker_context().get_start_method() == "spawn"
    assert not warm_workers.start_server()


def test_load_compiled_loads_cached_kernels_without_calling_them(tmp_path: Any) -> None:
    """A fresh process loads the compiled signature of a function from numba's cache, for this machine and this
    code, before the function is first called; a function whose code changed since (another bytecode hash)
    is not loaded from the stale entry."""
    module = tmp_path / "warm_probe_mod.py"
    module.write_text(textwrap.dedent("""
        from numba import njit

        @njit(cache=True)
        def twice(x):
            return 2 * x
    """))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}

    def run(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                              timeout=120, check=True)
        return done.stdout.strip()

    assert run("import warm_probe_mod as m; print(m.twice(3))") == "6"  # compiled, written to the cache
    loaded = run("""
        import warm_probe_mod as m
        from harbour.detect.runners.warm_workers import load_compiled
        n = load_compiled("warm_probe_mod")
        print(n, len(m.twice.signatures), m.twice.stats.cache_hits.total(), m.twice.stats.cache_misses.total())
    """)
    assert loaded == "1 1 1 0"  # one signature, loaded from the cache, nothing compiled
    module.write_text(module.read_text().replace("2 * x", "3 * x"))
    assert run("""
        import warm_probe_mod as m
        from harbour.detect.runners.warm_workers import load_compiled
        print(load_compiled("warm_probe_mod"), len(m.twice.signatures))
    """) == "0 0"  # the entry is for the old code: left to compile on the first call
