"""The lake's Parquet settings against the settings before them, on the same rows: CPU-seconds to read the columns the
surveillance runner reads, and bytes on disk.

Takes every ``--every``-th order-events and trades file of a lake, writes each twice into a scratch folder — with
``layout.write_options`` (today's settings: the time column as uncompressed deltas, the rest LZ4) and with every
column LZ4 (the settings before) — and reads the two copies of each file in turn, ``--reps`` times, keeping the
least CPU time of each: interleaved, so a noisy machine weighs on both alike. Prints per table the summed least
CPU-seconds, their ratio, and the bytes.

    .venv/bin/python bench/bench_lake_format.py --lake DIR [--start 2026-02-01] [--days 10] [--every 3] [--reps 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from harbour.data.layout import write_options
from harbour.detect.runners.local import FEW_VALUES, use_steady_allocator

READ = {"orders": ["order_id", "account", "ts", "event", "side", "order_type", "price", "quantity"],
        "trades": ["trade_id", "ts", "price", "quantity", "buyer", "seller", "aggressor", "buy_order_id",
                   "sell_order_id"]}


def lake_files(lake: Path, table: str, start: dt.date, days: int, every: int) -> list[Path]:
    wanted = {(start + dt.timedelta(days=d)).isoformat() for d in range(days)}
    files = sorted(p for p in (lake / table).glob("venue=*/date=*/*.parquet") if p.parent.name[5:] in wanted)
    return files[::every]


def write_both(files: list[Path], table: str, scratch: Path) -> list[tuple[Path, Path]]:
    """Each file written with today's settings and with every column LZ4 (the settings before)."""
    pairs = []
    for i, path in enumerate(files):
        data = pq.read_table(path)
        now = write_options(table, data.column_names)
        before = {k: v for k, v in now.items() if k != "column_encoding"} | {"compression": "lz4"}
        paths = (scratch / f"{table}-{i}-now.parquet", scratch / f"{table}-{i}-before.parquet")
        for target, options in zip(paths, (now, before), strict=True):
            pq.write_table(data, target, row_group_size=1 << 20, **options)  # type: ignore[arg-type]
        pairs.append(paths)
    return pairs


def least_reads(pairs: list[tuple[Path, Path]], table: str, reps: int) -> tuple[float, float]:
    """Summed over the files, the least CPU-seconds of ``reps`` reads of each copy, the two read in turn."""
    cols = READ[table]
    totals = [0.0, 0.0]
    for pair in pairs:
        best = [float("inf"), float("inf")]
        for _ in range(reps):
            for k, path in enumerate(pair):
                t0 = time.process_time()
                pq.ParquetFile(path, read_dictionary=[c for c in cols if c in FEW_VALUES]).read(columns=cols,
                                                                                                use_threads=False)
                best[k] = min(best[k], time.process_time() - t0)
        totals = [totals[0] + best[0], totals[1] + best[1]]
    return totals[0], totals[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 2, 1))
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    use_steady_allocator()  # the runner's allocator, as its workers read
    with tempfile.TemporaryDirectory(prefix="harbour-lake-format-") as tmp:
        for table in ("orders", "trades"):
            files = lake_files(args.lake, table, args.start, args.days, args.every)
            if not files:
                print(f"{table}: no files from {args.start} over {args.days} days in {args.lake}")
                continue
            pairs = write_both(files, table, Path(tmp))
            now, before = least_reads(pairs, table, args.reps)
            size_now = sum(p.stat().st_size for p, _ in pairs)
            size_before = sum(q.stat().st_size for _, q in pairs)
            print(f"{table}: {len(pairs)} files, read (least of {args.reps}, CPU-s) all-LZ4 {before:.3f} -> "
                  f"today's settings {now:.3f} (ratio {now / before:.3f}); bytes {size_before / 1e6:.1f} -> "
                  f"{size_now / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
