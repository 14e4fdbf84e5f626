"""Ingestion throughput and peak memory: Harbour's ingest against a straightforward pandas baseline.

Generates its own canonical data with numpy (trades over a few days, their accounts), then, each in a
fresh child process so peak memory is its own:

* ``harbour parquet`` — ``ingest()`` of the canonical Parquet file (all checks, atomic write);
* ``harbour daily``   — the same rows as one Parquet file per day, in one ingest (staged without re-encoding);
* ``harbour csv``     — the same rows as canonical CSV;
* ``pandas parquet``  — baseline: read with pandas, per-column checks, duplicate check, ``to_parquet`` per day;
* ``pandas csv``      — the same baseline from CSV.

Run: ``.venv/bin/python bench/bench_ingest.py --rows 5000000``. Prints rows/s, peak RSS and the ratio of
each Harbour figure to the pandas baseline on the same input. On a shared machine, ``--repeat N`` runs the
cases in turn N times and prints medians, and ``--before-src DIR`` (a ``src`` folder of an older checkout,
e.g. from ``git archive``) adds the same ingest by that code to each round, so old and new meet the same
load.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from harbour.data.schemas import TRADES

START_US = 1_767_571_200_000_000  # 2026-01-05T00:00:00Z
DAY_US = 86_400_000_000


def make_data(folder: Path, rows: int, accounts: int, days: int, seed: int = 7) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(seed)
    ids = np.char.add("U", np.arange(accounts).astype(str))
    acc = pa.table({
        "venue": pa.array(np.full(accounts, "HBX")), "account": pa.array(ids),
        "customer_id": pa.array(np.char.add("C", np.arange(accounts).astype(str))),
        "name": pa.array(np.full(accounts, "Customer")), "country": pa.array(np.full(accounts, "HK")),
        "account_type": pa.array(np.full(accounts, "individual")),
        "opened_at": pa.array(np.full(accounts, START_US - 400 * DAY_US).astype("datetime64[us]")).cast(
            pa.timestamp("us", "UTC")),
    })
    ts = np.sort(START_US + rng.integers(0, days * DAY_US, rows))
    side = rng.integers(0, 2, rows)
    trades = pa.table({
        "venue": pa.array(np.full(rows, "HBX")),
        "symbol": pa.array(np.array(["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"])[rng.integers(0, 4, rows)]),
        "trade_id": pa.array(np.char.add("T", np.arange(rows).astype(str))),
        "ts": pa.array(ts.astype("datetime64[us]")).cast(pa.timestamp("us", "UTC")),
        "price": np.round(100 + rng.standard_normal(rows).cumsum() * 0.01 + 50, 2),
        "quantity": np.round(rng.pareto(1.5, rows) + 0.001, 6),
        "buyer": pa.array(ids[rng.integers(0, accounts, rows)]),
        "seller": pa.array(ids[rng.integers(0, accounts, rows)]),
        "aggressor": pa.array(np.array(["buy", "sell"])[side]),
        "buy_order_id": pa.array(np.char.add("B", np.arange(rows).astype(str))),
        "sell_order_id": pa.array(np.char.add("S", np.arange(rows).astype(str))),
    })
    acc_path, pq_path, csv_path = folder / "accounts.parquet", folder / "trades.parquet", folder / "trades.csv"
    pq.write_table(acc, acc_path)
    pq.write_table(trades, pq_path, row_group_size=1 << 20)
    pacsv.write_csv(trades, csv_path)
    # The same rows as one file per day, the way platforms export: these can be staged without re-encoding.
    daily = folder / "daily"
    daily.mkdir()
    day_of = ts // DAY_US
    for day in np.unique(day_of):
        rows_of_day = np.flatnonzero(day_of == day)
        part = trades.slice(int(rows_of_day[0]), len(rows_of_day)).cast(TRADES)
        pq.write_table(part, daily / f"trades-{int(day)}.parquet", row_group_size=1 << 20)
    return acc_path, pq_path, csv_path


def _inputs(data: Path) -> list[Path]:
    return sorted(data.glob("*.parquet")) if data.is_dir() else [data]


def run_harbour(data: Path, accounts: Path, lake: Path) -> tuple[float, float, int]:
    from harbour.data.ingest.service import IngestFile, ingest

    ingest(lake, [IngestFile("accounts", accounts)], "HBX")
    started, cpu = time.perf_counter(), time.process_time()
    report = ingest(lake, [IngestFile("trades", p) for p in _inputs(data)], "HBX")
    return time.perf_counter() - started, time.process_time() - cpu, report.rows_written


def run_pandas(data: Path, accounts: Path, lake: Path) -> tuple[float, float, int]:
    """What one would write first: pandas read, column checks, duplicate check, one file per day."""
    import pandas as pd

    known = set(pd.read_parquet(accounts)["account"])
    started, cpu = time.perf_counter(), time.process_time()
    if data.is_dir():
        df = pd.concat([pd.read_parquet(p) for p in _inputs(data)], ignore_index=True)
    else:
        df = pd.read_parquet(data) if data.suffix == ".parquet" else pd.read_csv(data)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    for col in ("price", "quantity"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    bad = df[["venue", "symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller"]].isna().any(axis=1)
    bad |= ~(df["price"] > 0) | ~(df["quantity"] > 0)
    bad |= ~df["aggressor"].isin(["buy", "sell"]) & df["aggressor"].notna()
    bad |= df["ts"] > pd.Timestamp.now(tz="UTC")
    bad |= df["trade_id"].duplicated(keep="first")
    bad |= ~df["buyer"].isin(known) | ~df["seller"].isin(known)
    good = df[~bad]
    for day, part in good.groupby(good["ts"].dt.date):
        folder = lake / "trades" / "venue=HBX" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        part.to_parquet(folder / "part-0.parquet", index=False)
    return time.perf_counter() - started, time.process_time() - cpu, len(good)


def _child(kind: str, data: str, accounts: str, lake: str, out: mp.Queue) -> None:
    runner = run_harbour if kind == "harbour" else run_pandas
    seconds, cpu, rows = runner(Path(data), Path(accounts), Path(lake))
    out.put((seconds, cpu, rows, peak_rss_mb()))


def peak_rss_mb() -> int:
    """The process's own peak RSS. (``ru_maxrss`` would not do: Linux carries it over fork and exec, so a
    child would report the parent's size.)"""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def measure(kind: str, data: Path, accounts: Path, work: Path, src: str | None = None
            ) -> tuple[float, float, int, int]:
    """One case in a fresh process; ``src`` puts another source tree of harbour first on its path."""
    lake = work / f"lake-{kind}-{data.name}"
    shutil.rmtree(lake, ignore_errors=True)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    saved = os.environ.get("PYTHONPATH")
    if src:  # a spawned child is a new interpreter: it imports harbour from PYTHONPATH first
        os.environ["PYTHONPATH"] = src
    try:
        proc = ctx.Process(target=_child, args=(kind, str(data), str(accounts), str(lake), out))
        proc.start()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    result = out.get()
    proc.join()
    shutil.rmtree(lake, ignore_errors=True)
    return result


def _line(label: str, who: str, seconds: float, cpu: float, rows: int, mem: int) -> str:
    return (f"{label:8s} {who:8s}: {rows / seconds:11,.0f} rows/s wall ({seconds:6.2f} s), {rows / cpu:11,.0f} rows "
            f"per CPU-second ({cpu:6.2f} s CPU), peak RSS {mem:,} MB, load {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--skip-csv", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every case; medians when more than one")
    parser.add_argument("--before-src", help="also ingest with harbour from this src folder (an older checkout)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        accounts, pq_path, csv_path = make_data(work, args.rows, args.accounts, args.days)
        # Write the inputs out now: otherwise the first case measured pays for flushing ~1 GB of them (an
        # ingest fsyncs its staged files before publishing; the pandas baseline does not fsync at all).
        os.sync()
        print(f"{args.rows:,} trades over {args.days} days, {args.accounts:,} accounts; "
              f"Parquet {pq_path.stat().st_size / 1e6:.0f} MB, CSV {csv_path.stat().st_size / 1e6:.0f} MB")
        inputs = [("parquet", pq_path), ("daily", work / "daily")] + ([] if args.skip_csv else [("csv", csv_path)])
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(wall figures are only meaningful on a quiet machine; CPU seconds are less sensitive)")
        cases = [("harbour", None), ("pandas", None)] + ([("before", args.before_src)] if args.before_src else [])
        for label, path in inputs:
            runs: dict[str, list[tuple[float, float, int, int]]] = {who: [] for who, _ in cases}
            for _ in range(args.repeat):
                for who, src in cases:
                    result = measure("pandas" if who == "pandas" else "harbour", path, accounts, work, src)
                    assert result[2] == args.rows, (who, result[2])
                    runs[who].append(result)
                    if args.repeat > 1:
                        print("  " + _line(label, who, *result[:2], args.rows, result[3]))
            med = {who: [float(np.median([r[i] for r in rs])) for i in range(4)] for who, rs in runs.items()}
            for who, (s_, cpu, _, mem) in med.items():
                print(("median " if args.repeat > 1 else "") + _line(label, who, s_, cpu, args.rows, int(mem)))
            (h_s, h_cpu, _, h_mem), (p_s, p_cpu, _, p_mem) = med["harbour"], med["pandas"]
            print(f"{label:8s} ratio   : {p_s / h_s:5.2f}x faster (wall), {p_cpu / h_cpu:5.2f}x less CPU, "
                  f"{h_mem / p_mem:4.2f}x the memory of the baseline")
            if "before" in med:
                b_s, b_cpu = med["before"][:2]
                print(f"{label:8s} vs before: {b_s / h_s:5.2f}x faster (wall), {b_cpu / h_cpu:5.2f}x less CPU")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
