"""Generation throughput (order events + trades per second), peak memory, and the ratio against a
straightforward pure-Python matching loop run on the same instructions in the same process.

    .venv/bin/python bench/bench_generate.py [--venues 3] [--days 2] [--activity 1.0] [--out /tmp/bench-lake]

Peak memory is measured in a fresh subprocess per run (ru_maxrss), for 1 day and for --days, to show
that it stays flat as the number of days grows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from harbour.data.generate.book import BUY, CANCEL, MARKET, NEW, run_book
from harbour.data.generate.config import UNIVERSE
from harbour.data.generate.flow import DAY_US, BookContext, Instructions, honest_flow
from harbour.data.generate.prices import PathState, next_day
from harbour.data.generate.rand import stream

RUN = """
import json, resource, sys, time
from pathlib import Path
from harbour.data.generate import GenerateConfig, generate_market
t, c = time.perf_counter(), time.process_time()
s = generate_market(GenerateConfig(out=Path(sys.argv[1]), venues=int(sys.argv[2]), days=int(sys.argv[3]),
                                   accounts=5000, seed=1, activity=float(sys.argv[4])), workers=int(sys.argv[5]))
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - c + kids.ru_utime + kids.ru_stime,
                  "rows": s.rows, "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_maxrss_mib": kids.ru_maxrss / 1024}))
"""


def python_book(ts, kind, key, side, otype, px, lots, acct) -> tuple[int, int]:
    """The baseline: a plain-Python price-time book (dict of price -> list), same rules, no numba."""
    books: list[dict[int, list[int]]] = [{}, {}]
    open_lots: dict[int, int] = {}
    o_side: dict[int, int] = {}
    o_px: dict[int, int] = {}
    events = trades = 0
    for i in range(len(ts)):
        k = int(key[i])
        if kind[i] == CANCEL:
            if k in open_lots and k in o_px:
                books[o_side[k]][o_px[k]].remove(k)
                if not books[o_side[k]][o_px[k]]:
                    del books[o_side[k]][o_px[k]]
                del open_lots[k]
                events += 1
            continue
        if kind[i] != NEW:
            continue
        s, rem = int(side[i]), int(lots[i])
        events += 1
        other = books[1 - s]
        while rem and other:
            best = max(other) if s != BUY else min(other)
            if otype[i] != MARKET and ((s == BUY and best > px[i]) or (s != BUY and best < px[i])):
                break
            m = other[best][0]
            q = min(rem, open_lots[m])
            rem -= q
            open_lots[m] -= q
            trades += 1
            events += 2
            if open_lots[m] == 0:
                other[best].pop(0)
                del open_lots[m]
                if not other[best]:
                    del other[best]
        if rem and otype[i] != MARKET:
            books[s].setdefault(int(px[i]), []).append(k)
            open_lots[k], o_side[k], o_px[k] = rem, s, int(px[i])
    return events, trades


def one_book() -> tuple:
    spec = UNIVERSE[0]
    path = next_day(spec, PathState(spec.price, spec.daily_vol ** 2 / 1440), 1, 0)
    accts = np.arange(5, 2000)
    w = 1.0 / np.arange(1, len(accts) + 1) ** 1.1
    ctx = BookContext("HBX", spec, 0, path.price, path.activity, 24_000.0, 1.2, np.arange(3), accts, w / w.sum())
    ins = Instructions()
    honest_flow(ctx, stream(1, "bench"), ins)
    cols = ins.finish()
    base = int(path.price.min() * 0.6 / spec.tick)
    return cols, ins.n_keys, base, int(path.price.max() * 1.6 / spec.tick) - base


def engine_ratio() -> None:
    cols, n_keys, base, levels = one_book()
    run_book(*cols, n_keys, base, levels, DAY_US - 1)  # compile / load the cache
    t = time.perf_counter()
    res = run_book(*cols, n_keys, base, levels, DAY_US - 1)
    fast = time.perf_counter() - t
    fast_rows = len(res.ev_ts) + len(res.tr_ts)
    t = time.perf_counter()
    ev, tr = python_book(*cols)
    slow = time.perf_counter() - t
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"matching engine, one BTC book-day ({len(cols[0]):,} instructions):")
    print(f"  numba kernel : {fast_rows / fast:,.0f} events+trades/s ({fast:.3f} s)")
    print(f"  pure Python  : {(ev + tr) / slow:,.0f} events+trades/s ({slow:.3f} s)")
    print(f"  ratio        : {(fast_rows / fast) / ((ev + tr) / slow):.1f}x")


def whole_run(out: Path, venues: int, days: int, activity: float, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    run = subprocess.run([sys.executable, "-c", RUN, str(out), str(venues), str(days), str(activity), str(workers)],
                         check=True, capture_output=True, text=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def report(r: dict, venues: int, days: int, activity: float, workers: int) -> float:
    n = r["rows"].get("orders", 0) + r["rows"].get("trades", 0)
    # the parent's peak plus every worker at the largest worker's peak: an upper bound on the memory in use
    total = r["maxrss_mib"] + (workers * r["worker_maxrss_mib"] if workers > 1 else 0)
    print(f"whole generator, {venues} venues x {days} day(s), activity {activity}, {workers} worker(s): "
          f"{r['rows'].get('trades', 0):,} trades + {r['rows'].get('orders', 0):,} order events in "
          f"{r['seconds']:.1f} s = {n / r['seconds']:,.0f} rows/s wall-clock, "
          f"{n / r['cpu']:,.0f} rows per CPU-second ({r['cpu']:.1f} s CPU, all processes and threads); "
          f"peak memory {r['maxrss_mib']:,.0f} MiB in the parent"
          + (f", {r['worker_maxrss_mib']:,.0f} MiB per worker, {total:,.0f} MiB in all at most" if workers > 1 else ""))
    return n / r["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venues", type=int, default=3)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--activity", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for the parallel run")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-generate"))
    args = ap.parse_args()
    engine_ratio()
    print(f"load average before the whole runs: {os.getloadavg()[0]:.1f}")
    for days in sorted({1, args.days}):  # memory must not grow with the days asked
        report(whole_run(args.out, args.venues, days, args.activity, args.workers), args.venues, days,
               args.activity, args.workers)
    serial = report(whole_run(args.out, args.venues, args.days, args.activity, 1), args.venues, args.days,
                    args.activity, 1)
    parallel = report(whole_run(args.out, args.venues, args.days, args.activity, args.workers), args.venues,
                      args.days, args.activity, args.workers)
    print(f"{args.workers} workers vs 1, same market, same bytes: {parallel / serial:.2f}x rows/s wall-clock")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"(bench process itself: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB)")


if __name__ == "__main__":
    main()
