"""The whole suite, this checkout's code against an earlier revision's, in alternating runs on one lake.

This host moves the same code's whole-suite run by a third or more from one run to the next (session 22: 28 to 47
CPU-s), so one run of each version says little. This runs ``bench_surveil.py`` for each version in a fresh process,
in turn, ``--pairs`` times (the version that goes first alternates from pair to pair), and prints every run, the least
CPU-seconds and wall time of each version, their ratio, and whether every detector raised as many alerts in every run.
The earlier revision's code is checked out with ``git worktree`` (once, under the system's temporary folder) and put
first on ``PYTHONPATH``; this checkout's ``bench_surveil.py`` drives both, so both read the same cached market.

    .venv/bin/python bench/bench_ab.py --lake DIR --old REV [--pairs 3] [--workers 2] [--warm-up]

A version whose compiled kernels are not cached yet compiles them in its first run (the bench's warm-up is not
timed, but numba's cache is per source file): ``--warm-up`` runs each version once, untimed, before the pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_surveil.py"


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` (its commit resolved first, so a branch that moves gets a checkout of its own)."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise SystemExit(f"--old {rev!r}: not a revision of {ROOT} ({commit.stderr.strip()})")
    sha = commit.stdout.strip()
    path = Path(tempfile.gettempdir()) / f"harbour-ab-{sha[:12]}"
    if not (path / "src" / "harbour").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--force", "--detach", str(path), sha],
                       check=True, capture_output=True)
    return path


def one_run(src: Path, lake: Path, workers: int) -> dict[str, Any]:
    """``bench_surveil.py --json`` with ``src`` first on the import path: the figures it prints last."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([sys.executable, str(BENCH), "--lake", str(lake), "--no-baseline", "--workers",
                           str(workers), "--json"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench with {src} failed:\n{done.stderr[-2000:]}")
    text = done.stdout
    start = text.rfind("\n{\n")
    if start < 0:
        raise SystemExit(f"bench with {src} printed no figures:\n{text[-2000:]}")
    figures: dict[str, Any] = json.loads(text[start + 1:])
    return figures


def alerts_by_detector(figures: dict[str, Any]) -> dict[str, int]:
    return {name: d["alerts"] for name, d in figures["detectors"].items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--old", required=True, help="the earlier revision (a commit, tag or branch)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--warm-up", action="store_true")
    args = ap.parse_args()
    versions = {f"old ({args.old})": worktree(args.old) / "src", "new (this checkout)": ROOT / "src"}
    if args.warm_up:
        for src in versions.values():
            one_run(src, args.lake, args.workers)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in versions}
    names = list(versions)
    for pair in range(args.pairs):
        for name in (names if pair % 2 == 0 else names[::-1]):
            figures = one_run(versions[name], args.lake, args.workers)
            runs[name].append(figures)
            print(f"pair {pair + 1} {name:<22} {figures['suite_seconds']:6.2f} s wall "
                  f"{figures['suite_cpu_seconds']:6.1f} CPU-s {figures['suite_trades_per_s']:>10,} trades/s "
                  f"{figures['alerts']:>4} alerts", flush=True)
    print()
    least = {}
    for name, done in runs.items():
        cpu = min(f["suite_cpu_seconds"] for f in done)
        wall = min(f["suite_seconds"] for f in done)
        least[name] = (cpu, wall)
        print(f"{name:<22} least {cpu:6.1f} CPU-s, {wall:6.2f} s wall ({max(f['suite_trades_per_s'] for f in done):,} "
              f"trades/s at best); median {sorted(f['suite_cpu_seconds'] for f in done)[len(done) // 2]:.1f} CPU-s")
    (old_cpu, old_wall), (new_cpu, new_wall) = least.values()
    print(f"new / old: {new_cpu / old_cpu:.3f} of the CPU-seconds, {new_wall / old_wall:.3f} of the wall time (least "
          f"of {args.pairs} runs each)")
    counts = [alerts_by_detector(f) for done in runs.values() for f in done]
    print("alerts per detector: " + ("the same in every run" if all(c == counts[0] for c in counts)
                                     else "DIFFER between runs: " + json.dumps(counts)))


if __name__ == "__main__":
    main()
