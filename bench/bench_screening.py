"""Screening speed and quality against a generated 100k-entry list, with a naive baseline in the same run.

    .venv/bin/python bench/bench_screening.py [--entries 100000] [--queries 2000]

Prints names/s on one core (this process is single-threaded), recall per variant kind and precision at
the default threshold, and the ratio against the baseline: rapidfuzz ``token_sort_ratio`` over the whole
list for every name (``process.extractOne``, C++), on a subsample.
"""

from __future__ import annotations

import argparse
import collections
import os
import time

from rapidfuzz import fuzz, process

from harbour.detect.screening.matching import DEFAULT_THRESHOLD, NameIndex
from harbour.detect.screening.normalise import canonical
from harbour.detect.screening.synthetic import generate_list, variant_cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--per-kind", type=int, default=300)
    parser.add_argument("--baseline-queries", type=int, default=200)
    args = parser.parse_args()

    entries = generate_list(args.entries, seed=1)
    started = time.perf_counter()
    index = NameIndex((e.entry_id, e.name) for e in entries)
    build = time.perf_counter() - started
    cases = variant_cases(entries, seed=2, per_kind=args.per_kind, non_matches=args.per_kind * 3)

    per_kind: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    tp = fp = positives = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    results = [index.search(query, DEFAULT_THRESHOLD) for _, query, _ in cases]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    for (kind, _, expected), matches in zip(cases, results, strict=True):
        if expected is None:
            fp += len(matches)
            per_kind[kind][0] += not matches
            per_kind[kind][1] += 1
            continue
        positives += 1
        found = any(m.entry_key == expected for m in matches)
        tp += found
        fp += sum(m.entry_key != expected for m in matches)
        per_kind[kind][0] += found
        per_kind[kind][1] += 1
    rate = len(cases) / elapsed

    # Baseline: every query scored against the whole (normalised) list in C++.
    choices = [canonical(e.name) for e in entries]
    sample = cases[: args.baseline_queries]
    started, cpu_started = time.perf_counter(), time.process_time()
    base_found = 0
    for _, query, expected in sample:
        best = process.extractOne(canonical(query), choices, scorer=fuzz.token_sort_ratio)
        base_found += expected is not None and best is not None and entries[best[2]].entry_id == expected
    base_rate = len(sample) / (time.perf_counter() - started)
    base_cpu_rate = len(sample) / (time.process_time() - cpu_started)
    base_recall = base_found / max(1, sum(e is not None for _, _, e in sample))

    print(f"list: {len(entries):,} entries, index built in {build:.1f} s; {len(cases):,} queries")
    print(f"harbour matcher: {rate:,.0f} names/s on one core ({1000 / rate:.2f} ms per name); "
          f"{len(cases) / cpu:,.0f} names per CPU-second "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for kind, (ok, total) in per_kind.items():
        label = "no hit (specificity)" if kind == "non_match" else "recall"
        print(f"  {kind:<16} {label}: {ok / total:.3f} ({ok}/{total})")
    print(f"  recall {tp / positives:.4f}, precision {tp / max(1, tp + fp):.4f} at threshold {DEFAULT_THRESHOLD}")
    print(f"baseline (rapidfuzz token_sort_ratio over the whole list): {base_rate:,.1f} names/s, "
          f"top-1 recall {base_recall:.3f} on {len(sample)} queries")
    print(f"baseline per CPU-second: {base_cpu_rate:,.1f} names")
    print(f"ratio: {rate / base_rate:,.0f}x the baseline's names/s "
          f"({len(cases) / cpu / base_cpu_rate:,.0f}x per CPU-second)")


if __name__ == "__main__":
    main()
