"""Per-detector CPU-seconds on a lake, each task's read done once and every kernel run on it ``--reps`` times
(the least taken), with a digest of each detector's alerts: for before/after comparisons of one change, where
the whole bench's wall-clock figures are too noisy to show it.

    .venv/bin/python bench/profile_kernels.py --lake DIR [--start 2026-01-05] [--days 10] [--venue V ...]
                                              [--detector NAME ...] [--reps 3] [--read-only] [--profile]
                                              [--per-partition]

The digest is the sha256 of the alert rows, sorted, so two versions of the code that find the same alerts
print the same digest. ``--profile`` prints cProfile's busiest functions (the sort from PROF_SORT, cumulative
by default) over the kernels' first pass. ``--per-partition`` splits each detector's kernel time into a fixed cost per
partition and a cost per row (a least-squares line through each partition's least CPU-s over the reps against the rows
of the tables it was handed): on the bench market's small partitions (~7k trades, ~50k order events a venue, symbol
and day) the fixed part, the kernel's per-call set-up, is a large share of the whole. Runs in one process, as one
worker of a two-worker pool on two cores does (one thread, the runner's allocator).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import os
import pstats
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from harbour.detect.framework import Window


def digest(tables: list[pa.Table]) -> str:
    """The sha256 (first 16 hex digits) of every alert row, rows sorted, or 'none' when there are none."""
    rows = sorted(repr(sorted(r.items())) for t in tables for r in t.to_pylist())
    if not rows:
        return "none"
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--start", type=dt.date.fromisoformat, default=None)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--venue", action="append", default=None)
    ap.add_argument("--detector", action="append", default=[])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--read-only", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--per-partition", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("POLARS_MAX_THREADS", "1")

    from harbour.detect.builtin import load_detectors
    from harbour.detect.runners import local
    from harbour.detect.runners.plan import make_job

    local.use_steady_allocator()
    registry = load_detectors()
    detectors = [registry.get(n) for n in args.detector] if args.detector else registry.all()
    window = Window()
    if args.start is not None:
        start = dt.datetime.combine(args.start, dt.time(), dt.UTC)
        end = start + dt.timedelta(days=args.days) if args.days else None
        window = Window(start, end)
    jobs = [make_job(d, None, args.lake) for d in detectors]
    totals: dict[str, float] = {j.name: 0.0 for j in jobs}
    found: dict[str, list[pa.Table]] = {j.name: [] for j in jobs}
    read_cpu, partitions = 0.0, 0
    per_call: dict[tuple[str, Any], tuple[int, float]] = {}  # (detector, partition) -> rows, least CPU-s
    profiler = cProfile.Profile() if args.profile else None
    groups = local.read_groups(jobs)
    _warm_up(groups, args.lake, window, args.venue)
    for group in groups:
        tasks = local.plan_tasks(group.job, args.lake, window, args.venue, 1, 1, group.lookbacks, group.task_keys)
        for task in tasks:
            task = replace(task, members=group.members)
            t0 = time.process_time()
            if profiler is not None and args.read_only:
                profiler.enable()
            sliced, side = local.read_task(task)
            if profiler is not None and args.read_only:
                profiler.disable()
            read_cpu += time.process_time() - t0
            if args.read_only:
                partitions += max((len(p) for p in sliced.values()), default=0)
                continue
            reps = []
            for rep in range(args.reps):
                calls: list[tuple[str, Any, int, float]] = []
                with _timing_each_call(calls if args.per_partition else None):
                    reps.append(_run_once(task, sliced, side, found if rep == 0 else None,
                                          profiler if rep == 0 else None))
                for name, key, rows, cpu in calls:
                    known = per_call.get((name, key))
                    per_call[(name, key)] = (rows, cpu if known is None else min(known[1], cpu))
            partitions += reps[0][1]
            for name in reps[0][0]:
                totals[name] += min(spent.get(name, 0.0) for spent, _ in reps)
    print(f"read: {read_cpu:.2f} CPU-s, {partitions} partitions")
    if args.read_only:
        if profiler is not None:
            pstats.Stats(profiler).sort_stats(os.environ.get("PROF_SORT", "cumulative")).print_stats(40)
        return
    for name in sorted(totals, key=lambda n: -totals[n]):
        print(f"  {name:<26}{totals[name]:8.3f} CPU-s  {sum(t.num_rows for t in found[name]):6d} alerts  "
              f"{digest(found[name])}")
    if args.per_partition:
        _print_fixed_costs(per_call)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats(os.environ.get("PROF_SORT", "cumulative")).print_stats(40)


@contextmanager
def _timing_each_call(calls: list[tuple[str, Any, int, float]] | None) -> Iterator[None]:
    """With ``calls``, each kernel call's detector, partition key, rows handed to it and CPU-seconds appended to it.
    The runner's ``_run_kernel`` is wrapped for the block (the runner itself times members, not partitions)."""
    from harbour.detect.runners import local

    if calls is None:
        yield
        return
    inner = local._run_kernel

    def timed(job: Any, task: Any, key: Any, sliced: Any, *rest: Any, **options: Any) -> Any:
        rows = sum(parts[key].num_rows for parts in sliced.values() if key in parts)
        started = time.process_time()
        try:
            return inner(job, task, key, sliced, *rest, **options)
        finally:
            calls.append((job.name, key, rows, time.process_time() - started))

    local._run_kernel = timed
    try:
        yield
    finally:
        local._run_kernel = inner


def _print_fixed_costs(per_call: dict[tuple[str, Any], tuple[int, float]]) -> None:
    """Per detector: a least-squares line through its partitions' (rows, least CPU-s), as a fixed cost per partition
    and a cost per row, and the fixed part's share of its kernels' time."""
    import numpy as np

    by_name: dict[str, list[tuple[int, float]]] = {}
    for (name, _key), point in per_call.items():
        by_name.setdefault(name, []).append(point)
    print(f"  {'detector':<26}{'partitions':>10}{'CPU-s':>8}{'fixed ms/part':>15}{'ns/row':>8}{'fixed share':>13}")
    for name, points in sorted(by_name.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        rows, cpu = (np.array(v, np.float64) for v in zip(*points, strict=True))
        if len(points) < 3 or np.ptp(rows) == 0:
            continue  # too few partitions, or all of one size: no line to fit
        slope, fixed = np.polyfit(rows, cpu, 1)
        print(f"  {name:<26}{len(points):>10}{cpu.sum():8.3f}{fixed * 1e3:15.3f}{slope * 1e9:8.1f}"
              f"{fixed * len(points) / cpu.sum():13.0%}")


def _warm_up(groups: list[Any], lake: Path, window: Window, venues: list[str] | None) -> None:
    """Read each group's first task once, untimed: the first call of each numba function in a process loads it
    from the cache (~0.5 s for the first, ~10 ms each after), which a worker pays once, not per task, and which
    would otherwise be counted as the read's cost. Side tables are not read here, so their one read still counts."""
    from harbour.detect.runners import local

    for group in groups:
        tasks = local.plan_tasks(group.job, lake, window, venues, 1, 1, group.lookbacks, group.task_keys)
        if tasks:
            for table in tasks[0].job.partitioned_tables:
                local.read_partitions(replace(tasks[0], members=group.members), table)


def _run_once(task: Any, sliced: Any, side: dict[str, pa.Table], found: dict[str, list[pa.Table]] | None,
              profiler: cProfile.Profile | None) -> tuple[dict[str, float], int]:
    """Every member's kernels once over the task's partitions: CPU-seconds per member, and the partitions."""
    from harbour.detect.runners import local

    spent: dict[str, float] = {}

    def record(member: Any, alerts: pa.Table | None, _seconds: float, cpu: float) -> None:
        spent[member.name] = spent.get(member.name, 0.0) + cpu
        if found is not None and alerts is not None and alerts.num_rows:
            found[member.name].append(alerts)

    if profiler is not None:
        profiler.enable()
    try:
        count = local.run_members(task, sliced, side, record)
    finally:
        if profiler is not None:
            profiler.disable()
    return spent, count


if __name__ == "__main__":
    main()
