"""The whole detector suite over a generated market of >= 10M trades and their order events, in-process
runner (DuckDB + one worker process per core): trades/s for the suite and per detector, peak memory, and the
ratio against the straightforward pandas baselines of bench/baselines/market_pandas.py, run in the same
process on the same data.

    .venv/bin/python bench/bench_surveil.py [--trades 10000000] [--workers 2] [--detector NAME ...]
                                            [--no-baseline] [--runner local|spark] [--json]

The market is generated once with `harbour generate`'s engine and cached under var/bench/ (reused while
the options match). A null detector (its kernel only counts rows) measures the runner's own cost: reading
the lake, cutting partitions and handing them to the workers. The machine is shared: the load average is
printed next to the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec

ROOT = Path(__file__).resolve().parents[1]
TRADES_PER_VENUE_DAY = 52_000  # measured at activity 1.0 with the default 8 symbols
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
    marker = lake / "bench.json"
    days = max(1, math.ceil(trades / (TRADES_PER_VENUE_DAY * venues * activity)))
    wanted = {"venues": venues, "days": days, "activity": activity, "seed": 11}
    if marker.exists() and json.loads(marker.read_text()).get("config") == wanted:
        return json.loads(marker.read_text())
    from harbour.data.generate import GenerateConfig, generate_market

    print(f"generating {venues} venues x {days} days at activity {activity} into {lake} ...", flush=True)
    t0 = time.perf_counter()
    summary = generate_market(GenerateConfig(out=lake, venues=venues, days=days, accounts=20_000, seed=11,
                                             activity=activity))
    info = {"config": wanted, "rows": summary.rows, "generate_seconds": round(time.perf_counter() - t0, 1)}
    marker.write_text(json.dumps(info))
    return info


def rows(lake: Path, table: str) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in (lake / table).rglob("*.parquet"))


def peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


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
    ap.add_argument("--baseline-detector", action="append", default=[],
                    help="run only these pandas baselines (default: every one that exists)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from harbour.detect.builtin import load_detectors
    from harbour.detect.runners import open_runner, run_with

    lake = args.lake or ROOT / "var" / "bench" / f"surveil-{args.trades // 1_000_000}m"
    info = ensure_market(lake, args.trades, args.venues, args.activity)
    n_trades, n_orders = rows(lake, "trades"), rows(lake, "orders")
    registry = load_detectors()
    detectors = [registry.get(n) for n in args.detector] if args.detector else registry.all()
    print(f"market: {n_trades:,} trades, {n_orders:,} order events, {rows(lake, 'transfers'):,} transfers "
          f"({lake}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    with open_runner(args.runner, workers=args.workers) as runner:
        null = run_with(runner, lake, [NullDetector()])
        t0, c0 = time.perf_counter(), time.process_time()
        runs, failed, n_alerts = [], {}, 0
        try:  # the whole suite at once: detectors that share tables and partitioning share one read
            suite = run_with(runner, lake, detectors)
            runs, n_alerts = list(suite.detectors), suite.alerts.num_rows
        except Exception as exc:  # noqa: BLE001 - a benchmark reports and carries on
            print(f"suite failed ({type(exc).__name__}: {str(exc)[:200]}); one detector at a time", flush=True)
            t0 = time.perf_counter()
            for detector in detectors:
                try:
                    one = run_with(runner, lake, [detector])
                except Exception as exc1:  # noqa: BLE001
                    failed[detector.name] = f"{type(exc1).__name__}: {str(exc1)[:200]}"
                    continue
                runs.extend(one.detectors)
                n_alerts += one.alerts.num_rows
        wall = time.perf_counter() - t0
    own, children = peak_mib()
    figures: dict[str, Any] = {
        "trades": n_trades, "order_events": n_orders, "runner": args.runner, "workers": args.workers,
        "suite_seconds": round(wall, 2), "suite_trades_per_s": round(n_trades / wall),
        "suite_rows_per_s": round((n_trades + n_orders) / wall),
        "runner_cost_seconds": round(null.seconds, 2),
        "runner_cost_rows_per_s": round((n_trades + n_orders) / null.seconds),
        "alerts": n_alerts, "failed": failed, "peak_mib_parent": round(own), "peak_mib_worker": round(children),
        "parent_cpu_seconds": round(time.process_time() - c0, 1), "load_average": round(os.getloadavg()[0], 1),
        "generate": info,
        "detectors": {d.detector: {"seconds": round(d.seconds, 2), "alerts": d.alerts,
                                   "trades_per_s": round(n_trades / d.seconds) if d.seconds else None}
                      for d in runs},
    }
    print(f"\nsuite: {wall:.1f} s for {n_trades:,} trades + {n_orders:,} order events -> "
          f"{figures['suite_trades_per_s']:,} trades/s ({figures['suite_rows_per_s']:,} rows/s), "
          f"{n_alerts:,} alerts" + (f"; FAILED: {failed}" if failed else ""))
    print(f"runner's own cost (null kernel over trades + orders): {null.seconds:.1f} s -> "
          f"{figures['runner_cost_rows_per_s']:,} rows/s")
    print(f"peak memory: parent {own:,.0f} MiB, largest worker {children:,.0f} MiB", flush=True)
    print(f"{'detector':<26}{'seconds':>9}{'trades/s':>14}{'alerts':>9}")
    for name, d in figures["detectors"].items():
        print(f"{name:<26}{d['seconds']:>9.2f}{(d['trades_per_s'] or 0):>14,}{d['alerts']:>9}", flush=True)
    baselines = None if args.no_baseline else load_baselines()
    if baselines is None:
        figures["baseline"] = "absent" if not args.no_baseline else "skipped"
    else:
        run_baselines(baselines, lake, runs, figures, args.baseline_detector)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    if baselines is None:
        print("pandas baseline: " + ("skipped (--no-baseline)" if args.no_baseline else
                                     f"absent ({BASELINE_FILE.relative_to(ROOT)} not written yet)"))
    elif figures.get("speedup_vs_pandas"):
        print(f"pandas baselines ({figures['baseline_load_seconds']} s to load the tables into pandas, not counted): "
              f"{figures['baseline_detectors_seconds']} s against {figures['ours_detectors_seconds']} s for the "
              f"same detectors here -> {figures['speedup_vs_pandas']}x")


def run_baselines(baselines: dict[str, Any], lake: Path, runs: list[Any], figures: dict[str, Any],
                  only: list[str]) -> None:
    """Call each pandas baseline with the whole tables it names (trades, orders, accounts, announcements)."""
    import inspect

    import pandas as pd
    import pyarrow.dataset as ds

    frames: dict[str, pd.DataFrame] = {}
    load = 0.0
    total_base = total_ours = 0.0
    for d in runs:
        fn = baselines.get(d.detector)
        if fn is None or (only and d.detector not in only):
            continue
        needed = [p.name for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
        for table in needed:
            if table not in frames:
                t = time.perf_counter()
                frames[table] = (ds.dataset(lake / table, format="parquet").to_table().to_pandas()
                                 if (lake / table).exists() else pd.DataFrame())
                load += time.perf_counter() - t
        t = time.perf_counter()
        fn(*[frames[n] for n in needed])
        took = time.perf_counter() - t
        figures["detectors"][d.detector]["pandas_seconds"] = round(took, 2)
        figures["detectors"][d.detector]["speedup_vs_pandas"] = round(took / d.seconds, 1) if d.seconds else None
        print(f"  pandas {d.detector}: {took:.1f} s (ours {d.seconds:.1f} s)", flush=True)
        total_base += took
        total_ours += d.seconds
    figures["baseline_load_seconds"] = round(load, 1)
    figures["baseline_detectors_seconds"] = round(total_base, 2)
    figures["ours_detectors_seconds"] = round(total_ours, 2)
    figures["speedup_vs_pandas"] = round(total_base / total_ours, 1) if total_ours else None

if __name__ == "__main__":
    sys.exit(main())
