"""The whole detector suite over a generated market of >= 10M trades and their order events, in-process
runner (Arrow reads + one worker process per core): trades/s and rows/s for the suite and per detector, the
runner's own cost, peak memory, CPU-seconds, and the ratio against the straightforward pandas baselines of
bench/baselines/market_pandas.py, run in the same process on the same data.

    .venv/bin/python bench/bench_surveil.py [--trades 10000000] [--workers 2] [--detector NAME ...]
                                            [--no-baseline] [--baseline-days N] [--runner local|spark] [--json]

The market is generated with `harbour generate`'s engine at the generator's defaults (order events per trade
included) and cached under var/bench/; it is regenerated when the options or the generator's defaults change.
A null detector (its kernel only counts rows) measures the runner's own cost: reading the lake, cutting
partitions and handing them to the kernels. The pandas baselines load whole tables into memory, so on a
large market they run on the first ``--baseline-days`` days of every venue, and our suite is timed again on
exactly that window for the ratio. The machine is shared: the load average and CPU-seconds (parent and
workers) are printed next to the figures; rates per CPU-second carry over to a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.util
import inspect
import json
import math
import os
import resource
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from harbour.detect.framework import AlertBuilder, Detector, Partition, Window, WorkSpec

ROOT = Path(__file__).resolve().parents[1]
TRADES_PER_VENUE_DAY = 42_000  # measured at activity 1.0, the default 8 symbols and quote rate 0.25 (52k at 2.5)
BASELINE_FILE = ROOT / "bench" / "baselines" / "market_pandas.py"


class NullConfig(BaseModel):
    pass


class NullDetector(Detector[NullConfig]):
    """Reads trades and orders per venue, symbol and day like the market detectors, and raises nothing."""

    name = "null_runner_cost"
    version = "1"
    typology = "wash_trade"
    config_model = NullConfig

    def describe(self, config: NullConfig) -> WorkSpec:
        return WorkSpec(tables=("trades", "orders"), partition_by=("venue", "symbol", "date"))

    def kernel(self, part: Partition, config: NullConfig) -> pa.Table:
        return AlertBuilder(self).to_table()


def ensure_market(lake: Path, trades: int, venues: int, activity: float) -> dict[str, Any]:
    """Generate the market unless the cached one was made with the same options and generator defaults."""
    from harbour.data.generate import GenerateConfig, generate_market

    days = max(1, math.ceil(trades / (TRADES_PER_VENUE_DAY * venues * activity)))
    config = GenerateConfig(out=lake, venues=venues, days=days, accounts=20_000, seed=11, activity=activity)
    wanted = {f.name: repr(getattr(config, f.name)) for f in dataclasses.fields(config) if f.name != "out"}
    marker = lake / "bench.json"
    if marker.exists() and json.loads(marker.read_text()).get("config") == wanted:
        return dict(json.loads(marker.read_text()))
    print(f"generating {venues} venues x {days} days at activity {activity} into {lake} ...", flush=True)
    t0 = time.perf_counter()
    summary = generate_market(config, workers=0)  # one process per core; same bytes as one process
    info = {"config": wanted, "rows": summary.rows, "generate_seconds": round(time.perf_counter() - t0, 1)}
    marker.write_text(json.dumps(info))
    return info


def rows(lake: Path, table: str, days: set[dt.date] | None = None) -> int:
    files = (lake / table).rglob("*.parquet")
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files
               if days is None or any(f"date={d.isoformat()}" in str(f) for d in days))


def cpu_seconds() -> tuple[float, float]:
    """CPU-seconds of this process and of its finished children (the pool's workers, once shut down)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def peak_mib() -> tuple[float, float]:
    """Peak RSS of this process and of the largest finished child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def timed_run(runner_name: str, workers: int, lake: Path, detectors: list[Detector[Any]],
              window: Window | None = None) -> dict[str, Any]:
    """One run of ``detectors`` on a fresh runner (so the workers' CPU time is counted when it closes)."""
    from harbour.detect.runners import open_runner, run_with

    c0 = cpu_seconds()
    t0 = time.perf_counter()
    with open_runner(runner_name, workers=workers) as runner:
        result = run_with(runner, lake, detectors, window=window)
    wall = time.perf_counter() - t0
    c1 = cpu_seconds()
    return {"wall": wall, "cpu_parent": c1[0] - c0[0], "cpu_workers": c1[1] - c0[1], "result": result}


def load_baselines() -> dict[str, Any] | None:
    if not BASELINE_FILE.exists():
        return None
    spec = importlib.util.spec_from_file_location("market_pandas_baseline", BASELINE_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = getattr(module, "BASELINES", None)
    if found is None:
        found = {n: getattr(module, n) for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))}
    return dict(found)


def lake_days(lake: Path) -> list[dt.date]:
    days = {dt.date.fromisoformat(d.name[5:]) for d in (lake / "trades").glob("venue=*/date=*")}
    return sorted(days)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trades", type=int, default=10_000_000)
    ap.add_argument("--venues", type=int, default=3)
    ap.add_argument("--activity", type=float, default=1.0)
    ap.add_argument("--lake", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--detector", action="append", default=[])
    ap.add_argument("--runner", default="local", choices=("local", "spark"))
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--baseline-days", type=int, default=2,
                    help="days of every venue the pandas baselines (and our suite, again, for the ratio) run on")
    ap.add_argument("--baseline-detector", action="append", default=[],
                    help="run only these pandas baselines (default: every one that exists)")
    ap.add_argument("--baseline-only", action="store_true",
                    help="skip the whole-market run; only the pandas comparison on --baseline-days")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from harbour.detect.builtin import load_detectors

    lake = args.lake or ROOT / "var" / "bench" / f"surveil-{args.trades // 1_000_000}m"
    info = ensure_market(lake, args.trades, args.venues, args.activity)
    n_trades, n_orders, n_transfers = rows(lake, "trades"), rows(lake, "orders"), rows(lake, "transfers")
    n_rows = n_trades + n_orders + n_transfers
    registry = load_detectors()
    detectors = [registry.get(n) for n in args.detector] if args.detector else registry.all()
    load0 = os.getloadavg()[0]
    print(f"market: {n_trades:,} trades, {n_orders:,} order events ({n_orders / max(n_trades, 1):.1f} per trade), "
          f"{n_transfers:,} transfers ({lake}); load average {load0:.1f} on {os.cpu_count()} cores", flush=True)

    if args.baseline_only:
        figures: dict[str, Any] = {"detectors": {d.name: {} for d in detectors}}
        baselines = load_baselines()
        if baselines is not None:
            run_baselines(baselines, lake, detectors, args, figures)
        if args.json:
            print(json.dumps(figures, indent=2, default=str))
        return
    null = timed_run(args.runner, args.workers, lake, [NullDetector()])
    failed: dict[str, str] = {}
    try:  # the whole suite at once: detectors that share partitioning share one read
        suite = timed_run(args.runner, args.workers, lake, detectors)
        runs = list(suite["result"].detectors)
        n_alerts = suite["result"].alerts.num_rows
    except Exception as exc:  # noqa: BLE001 - a benchmark reports and carries on
        print(f"suite failed ({type(exc).__name__}: {str(exc)[:300]})", flush=True)
        failed["suite"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(json.dumps({"failed": failed}) if args.json else "no figures: the suite must run whole")
        return
    own, children = peak_mib()
    # per-detector CPU-seconds, where the runner measures them (absent from older runners: run against old
    # code for a before/after comparison, the column is then zero)
    cpu_by = getattr(suite["result"], "cpu_seconds", {})
    wall = suite["wall"]
    cpu = suite["cpu_parent"] + suite["cpu_workers"]
    figures = {
        "trades": n_trades, "order_events": n_orders, "transfers": n_transfers, "runner": args.runner,
        "workers": args.workers, "suite_seconds": round(wall, 2), "suite_cpu_seconds": round(cpu, 1),
        "suite_trades_per_s": round(n_trades / wall), "suite_rows_per_s": round(n_rows / wall),
        "suite_trades_per_cpu_s": round(n_trades / cpu) if cpu else None,
        "suite_rows_per_cpu_s": round(n_rows / cpu) if cpu else None,
        "runner_cost_seconds": round(null["wall"], 2),
        "runner_cost_cpu_seconds": round(null["cpu_parent"] + null["cpu_workers"], 1),
        "runner_cost_rows_per_s": round((n_trades + n_orders) / null["wall"]),
        "alerts": n_alerts, "failed": failed, "peak_mib_parent": round(own), "peak_mib_largest_worker": round(children),
        "load_average_start": round(load0, 1), "load_average_end": round(os.getloadavg()[0], 1), "generate": info,
        "detectors": {d.detector: {"seconds": round(d.seconds, 2),
                                   "cpu_seconds": round(cpu_by.get(d.detector, 0.0), 2),
                                   "alerts": d.alerts, "rows": d.rows,
                                   "trades_per_s": round(n_trades / d.seconds) if d.seconds else None,
                                   "rows_per_s": round(d.rows / d.seconds) if d.seconds else None}
                      for d in runs},
    }
    print(f"\nsuite ({len(detectors)} detectors, {args.workers} workers): {wall:.1f} s wall, {cpu:.0f} CPU-s "
          f"for {n_trades:,} trades + {n_orders:,} order events + {n_transfers:,} transfers -> "
          f"{figures['suite_trades_per_s']:,} trades/s, {figures['suite_rows_per_s']:,} rows/s "
          f"({figures['suite_trades_per_cpu_s']:,} trades and {figures['suite_rows_per_cpu_s']:,} rows per CPU-s), "
          f"{n_alerts:,} alerts" + (f"; FAILED: {failed}" if failed else ""))
    print(f"runner's own cost (null kernel over trades + orders): {null['wall']:.1f} s wall, "
          f"{figures['runner_cost_cpu_seconds']} CPU-s -> {figures['runner_cost_rows_per_s']:,} rows/s")
    print(f"peak memory: parent {own:,.0f} MiB, largest worker {children:,.0f} MiB "
          f"(at most {own + args.workers * children:,.0f} MiB together)")
    print(f"load average {load0:.1f} at start, {figures['load_average_end']} at end", flush=True)
    print("per detector (seconds = its kernels' time over the workers + its share of the shared read; CPU-s = its "
          "kernels' CPU-seconds in the workers + an equal share of the CPU-seconds of the reads it shared):")
    print(f"{'detector':<26}{'seconds':>9}{'CPU-s':>9}{'trades/s':>13}{'rows read':>13}{'rows/s':>13}{'alerts':>8}")
    for name, d in sorted(figures["detectors"].items(), key=lambda kv: -kv[1]["cpu_seconds"]):
        print(f"{name:<26}{d['seconds']:>9.2f}{d['cpu_seconds']:>9.2f}{(d['trades_per_s'] or 0):>13,}{d['rows']:>13,}"
              f"{(d['rows_per_s'] or 0):>13,}{d['alerts']:>8}", flush=True)
    baselines = None if args.no_baseline else load_baselines()
    if baselines is None:
        figures["baseline"] = "absent" if not args.no_baseline else "skipped"
        print("pandas baseline: " + ("skipped (--no-baseline)" if args.no_baseline else
                                     f"absent ({BASELINE_FILE.relative_to(ROOT)} not written yet)"))
    else:
        run_baselines(baselines, lake, detectors, args, figures)
    if args.json:
        print(json.dumps(figures, indent=2, default=str))


def run_baselines(baselines: dict[str, Any], lake: Path, detectors: list[Detector[Any]], args: argparse.Namespace,
                  figures: dict[str, Any]) -> None:
    """Each pandas baseline over the first days of the lake (whole tables of that span in pandas), against
    our suite run again, in this process's pool, on exactly that window."""
    import pandas as pd
    import pyarrow.dataset as ds

    days = lake_days(lake)[: args.baseline_days]
    window = Window(dt.datetime.combine(days[0], dt.time(), tzinfo=dt.UTC),
                    dt.datetime.combine(days[-1], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1))
    picked = [d for d in detectors if d.name in baselines and (not args.baseline_detector
                                                                or d.name in args.baseline_detector)]
    if not picked:
        print("pandas baseline: no baseline for the chosen detectors")
        return
    sub_trades, sub_orders = rows(lake, "trades", set(days)), rows(lake, "orders", set(days))
    ours = timed_run(args.runner, args.workers, lake, picked, window)
    ours_by = {d.detector: d.seconds for d in ours["result"].detectors}
    frames: dict[str, pd.DataFrame] = {}
    load = 0.0
    total_base = 0.0
    for det in picked:
        fn = baselines[det.name]
        needed = [p.name for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
        for table in needed:
            if table not in frames:
                t = time.perf_counter()
                # the event tables of those days; side tables (accounts, announcements) whole
                files = [str(f) for f in sorted((lake / table).rglob("*.parquet"))
                         if table not in ("trades", "orders", "transfers")
                         or any(f"date={d.isoformat()}" in str(f) for d in days)]
                frames[table] = ds.dataset(files, format="parquet").to_table().to_pandas() if files else pd.DataFrame()
                load += time.perf_counter() - t
        t = time.perf_counter()
        fn(*[frames[n] for n in needed])
        took = time.perf_counter() - t
        total_base += took
        mine = ours_by.get(det.name, 0.0)
        figures["detectors"][det.name]["pandas_seconds_on_subset"] = round(took, 2)
        figures["detectors"][det.name]["ours_seconds_on_subset"] = round(mine, 2)
        print(f"  pandas {det.name}: {took:.1f} s (ours {mine:.2f} s on the same days)", flush=True)
    sub_rows = sub_trades + sub_orders
    figures["baseline"] = {
        "days": [d.isoformat() for d in days], "trades": sub_trades, "order_events": sub_orders,
        "load_seconds_not_counted": round(load, 1), "pandas_seconds": round(total_base, 2),
        "ours_suite_seconds": round(ours["wall"], 2),
        "pandas_rows_per_s": round(sub_rows / total_base) if total_base else None,
        "ours_rows_per_s": round(sub_rows / ours["wall"]),
        "speedup_vs_pandas": round(total_base / ours["wall"], 1) if ours["wall"] else None,
    }
    b = figures["baseline"]
    print(f"pandas baselines of {len(picked)} detectors on {len(days)} day(s) of every venue ({sub_trades:,} trades + "
          f"{sub_orders:,} order events; {b['load_seconds_not_counted']} s loading them into pandas, not counted): "
          f"{b['pandas_seconds']} s, {b['pandas_rows_per_s']:,} rows/s; ours (the same detectors, whole run "
          f"with reads, {args.workers} workers) {b['ours_suite_seconds']} s, {b['ours_rows_per_s']:,} rows/s "
          f"-> {b['speedup_vs_pandas']}x", flush=True)


if __name__ == "__main__":
    main()
