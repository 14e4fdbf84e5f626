"""Market-abuse detection quality on generated lakes: pooled precision and recall per typology.

For each seed the lake is generated once (the settings of docs/detectors/market.md's command line, through the
Python API behind ``harbour generate``) and cached under ``--cache``; the market detectors run through the
function ``harbour surveil`` uses (in-process, one worker, nothing stored) and are scored with ``harbour
evaluate``'s function, seed by seed (account ids and venue codes repeat between seeds, so seeds are never
joined), then pooled.

    python bench/quality_market.py 681-686 --cache /work/var-market-q/lakes
    python bench/quality_market.py 681-686 --cache DIR --detector spoofing --dump /tmp/dump --jobs 2
    python bench/quality_market.py 747 --cache DIR --clean          # no incidents: alerts per million trades
    python bench/quality_market.py 617 --cache DIR --quote-rate 0.1
    python bench/quality_market.py 681-686 --cache DIR --detector cross_venue --set cross_venue.min_share=0.2

``--dump DIR`` writes, per typology, every stray alert (with the labels of its venue that share an account
with it or overlap it on its symbol) and every missed incident (with the alerts of its venue that share an
account with it or overlap it on its symbol, within half an hour), and each seed's alerts as Parquet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harbour.data.generate.config import DEFAULT_QUOTE_RATE, KNOBS, GenerateConfig
from harbour.data.generate.run import generate_market
from harbour.data.schemas import TYPOLOGIES
from harbour.detect import evaluate as ev
from harbour.detect.runners import run_detectors
from harbour.detect.service import resolve_detectors, write_alerts_parquet

log = logging.getLogger("quality_market")

MARKET_DETECTORS = ("wash_trade", "spoofing", "layering", "pump_and_dump", "marking_the_close",
                    "insider_pre_listing", "front_running", "momentum_ignition", "quote_stuffing", "cross_venue")
# the incident counts of docs/detectors/market.md's command line (other typologies at the generator's default)
INCIDENTS = {"pump_and_dump": 6, "marking_the_close": 6, "insider_pre_listing": 4, "cross_venue": 6,
             "wash_trade": 4, "spoofing": 6, "layering": 6, "front_running": 6, "momentum_ignition": 6,
             "quote_stuffing": 6}
NEAR = dt.timedelta(minutes=30)


@dataclass
class SeedResult:
    seed: int
    trades: int
    alerts: pa.Table
    labels: pa.Table
    matches: pa.Table
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    generate_cpu: float = 0.0


def lake_path(cache: Path, seed: int, quote_rate: float, clean: bool, difficulty: str = "default") -> Path:
    tag = f"lake-{seed}"
    if quote_rate != DEFAULT_QUOTE_RATE:
        tag += f"-q{quote_rate:g}"
    if difficulty != "default":
        tag += f"-{difficulty}"
    return cache / (tag + ("-clean" if clean else ""))


def ensure_lake(cache: Path, seed: int, quote_rate: float, clean: bool,
                difficulty: str = "default") -> tuple[Path, float]:
    """The cached lake of this seed, generated first if missing (a ``.done`` marker says it is complete)."""
    lake = lake_path(cache, seed, quote_rate, clean, difficulty)
    if (lake / ".done").exists():
        return lake, 0.0
    # Generated under a name of this process's own and renamed when complete: two runs wanting the same seed
    # at once (two sessions sharing a cache) must not write into one folder.
    tmp = cache / f".{lake.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    incidents = {t: 0 for t in TYPOLOGIES} if clean else dict(INCIDENTS)
    config = GenerateConfig(out=tmp, venues=3, days=3, accounts=2000, seed=seed, incidents=incidents,
                            quote_rate=quote_rate, difficulty=difficulty)
    cpu = time.process_time()
    generate_market(config, workers=1)
    (tmp / ".done").touch()
    if lake.exists() and not (lake / ".done").exists():
        shutil.rmtree(lake, ignore_errors=True)  # left half-written by a run that failed
    try:
        tmp.rename(lake)
    except OSError:  # another run finished the same seed first: theirs stands
        shutil.rmtree(tmp, ignore_errors=True)
    return lake, time.process_time() - cpu


def configs(chosen: tuple[str, ...], settings: list[str]) -> dict[str, Any]:
    """Configs with ``DETECTOR.FIELD=VALUE`` overrides (the others at their defaults)."""
    fields: dict[str, dict[str, str]] = defaultdict(dict)
    for item in settings:
        key, _, value = item.partition("=")
        name, _, param = key.partition(".")
        fields[name][param] = value
    return {d.name: d.config_model(**fields[d.name]) for d in resolve_detectors(chosen) if d.name in fields}


def run_seed(seed: int, cache: Path, quote_rate: float, clean: bool, detectors: tuple[str, ...],
             settings: list[str], difficulty: str = "default") -> SeedResult:
    lake, generate_cpu = ensure_lake(cache, seed, quote_rate, clean, difficulty)
    result = run_detectors(lake, resolve_detectors(detectors), workers=1, configs=configs(detectors, settings))
    labels = ev.read_parquet_table(lake, "labels")
    wanted = {d.typology for d in resolve_detectors(detectors)}
    labels = labels.filter(pc.is_in(labels["typology"], pa.array(sorted(wanted))))
    return SeedResult(seed, ev.count_trades(lake), result.alerts, labels, ev.match(result.alerts, labels),
                      dict(result.cpu_seconds), generate_cpu)


def _row(r: dict) -> str:
    span = f"{r['start']:%m-%d %H:%M:%S}–{r['end']:%H:%M:%S}"
    ident = r.get("incident_id") or r.get("alert_id", "")[:10]
    text = f"  {r['typology']:<20} {ident} {r['venue']} {r.get('symbol')} {span} accounts={list(r['accounts'])}"
    if "explanation" in r:
        text += f" score={r['score']:.3f}\n      {r['explanation']}"
    return text


def _near(row: dict, others: list[dict]) -> list[dict]:
    """Rows of the same venue that share an account with ``row``, or overlap it (± half an hour) on its symbol."""
    accounts = set(row["accounts"])
    out = []
    for o in others:
        if o["venue"] != row["venue"] or o["start"] > row["end"] + NEAR or o["end"] < row["start"] - NEAR:
            continue
        if accounts & set(o["accounts"]) or (row.get("symbol") and o.get("symbol") == row.get("symbol")):
            out.append(o)
    return out


def dump(results: list[SeedResult], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = defaultdict(list)
    for res in results:
        write_alerts_parquet(res.alerts, out / f"alerts-{res.seed}.parquet")
        alerts, labels = res.alerts.to_pylist(), res.labels.to_pylist()
        matched = set(res.matches["alert_id"].to_pylist())
        found = set(res.matches["incident_id"].to_pylist())
        for a in alerts:
            if a["alert_id"] not in matched:
                lines[a["typology"]].append(f"STRAY seed {res.seed}\n{_row(a)}")
                lines[a["typology"]].extend("    near label:" + _row(x) for x in _near(a, labels))
        for lab in labels:
            if lab["incident_id"] not in found:
                lines[lab["typology"]].append(f"MISSED seed {res.seed} evidence={len(lab['evidence_ids'])}\n"
                                              f"{_row(lab)}")
                lines[lab["typology"]].extend("    near alert:" + _row(x) for x in _near(lab, alerts))
    for typology, text in lines.items():
        (out / f"{typology}.txt").write_text("\n".join(text) + "\n")


def pooled(results: list[SeedResult]) -> list[tuple[str, int, int, int, int]]:
    """(typology, matched alerts, alerts, found incidents, incidents) summed over the seeds."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for res in results:
        for s in ev.evaluate(res.alerts, res.labels).values():
            row = sums[s.typology]
            row[0] += s.matched_alerts
            row[1] += s.alerts
            row[2] += s.detected_incidents
            row[3] += s.incidents
    return [(t, s[0], s[1], s[2], s[3]) for t, s in sorted(sums.items())]


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.2f}" if den else "—"


def report(results: list[SeedResult]) -> None:
    trades = sum(r.trades for r in results)
    print(f"seeds {', '.join(str(r.seed) for r in results)}: {trades:,} trades")
    print(f"{'typology':<20} {'matched/alerts':>15} {'found/incidents':>16} {'P':>5} {'R':>5} {'alerts/M':>9}")
    for t, ma, a, f, n in pooled(results):
        print(f"{t:<20} {f'{ma}/{a}':>15} {f'{f}/{n}':>16} {_ratio(ma, a):>5} {_ratio(f, n):>5} "
              f"{a / trades * 1e6:>9.1f}")
    cpu: dict[str, float] = defaultdict(float)
    for r in results:
        for name, sec in r.cpu_seconds.items():
            cpu[name] += sec
    print("detector CPU-s (summed over seeds): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items())))


def parse_seeds(text: str) -> list[int]:
    """``"681-686,747"`` -> [681, ..., 686, 747]."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("seeds", help="seeds, e.g. 681-686 or 681,683,700-702")
    p.add_argument("--cache", type=Path, required=True, help="folder of cached lakes (generated when missing)")
    p.add_argument("--quote-rate", type=float, default=DEFAULT_QUOTE_RATE)
    p.add_argument("--clean", action="store_true", help="no incidents (--incidents all=0)")
    p.add_argument("--difficulty", choices=sorted(KNOBS), default="default",
                   help="the generator's difficulty (lakes of another difficulty are cached under their own name)")
    p.add_argument("--detector", action="append", choices=MARKET_DETECTORS, help="restrict (repeatable)")
    p.add_argument("--dump", type=Path, help="write stray alerts and missed incidents here")
    p.add_argument("--jobs", type=int, default=1, help="seeds run side by side in processes")
    p.add_argument("--set", action="append", default=[], metavar="DETECTOR.FIELD=VALUE",
                   help="override a config field (repeatable), e.g. cross_venue.min_share=0.2")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    detectors = tuple(args.detector or MARKET_DETECTORS)
    seeds = parse_seeds(args.seeds)
    job = (args.cache, args.quote_rate, args.clean, detectors, args.set, args.difficulty)
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(run_seed, seeds, *([x] * len(seeds) for x in job)))
    else:
        results = [run_seed(s, *job) for s in seeds]
    generated = [f"{r.seed} {r.generate_cpu:.0f}" for r in results if r.generate_cpu]
    if generated:
        print("generated (seed, CPU-s): " + ", ".join(generated))
    report(results)
    if args.dump:
        dump(results, args.dump)
        print(f"stray alerts and missed incidents in {args.dump}/TYPOLOGY.txt")


if __name__ == "__main__":
    main()
