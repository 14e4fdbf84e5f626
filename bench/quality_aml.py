"""AML detection quality on generated markets: precision and recall of the twelve AML detectors per typology,
pooled over seeds, with DESIGN.md's matching rule.

    .venv/bin/python bench/quality_aml.py 1201-1260 [--crowded] [--cache /tmp/aml-lakes] [--jobs 2] [--dump DIR]

Each seed's market is ``GenerateConfig(venues=3, days=4, accounts=3000, seed=S, incidents={every market
typology: 0} | {every AML typology: N}, activity=0.02, symbols=3)`` with N = 2 (the generator's default count),
or 6 with ``--crowded``. Lakes are generated once and kept under ``--cache`` (keyed by seed, N and a hash of
the generator's source, so a changed generator makes new lakes). The detectors run through
``harbour.detect.service.surveil`` (the function behind ``harbour surveil``, one worker) and are scored with
``harbour.detect.evaluate`` (the function behind ``harbour evaluate``). To score other code on the same lakes,
run this file with ``PYTHONPATH=<worktree>/src``: the detectors and the generator are imported from there.

Prints the pooled table (matched alerts / alerts, found / incidents, P, R) and, per seed, the typologies
below the goal (P and R >= 0.95). ``--dump DIR`` writes, per seed, the stray alerts (matching no incident)
and the missed incidents with their accounts, spans and the alerts of other typologies that touch them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

GOAL = 0.95


def parse_seeds(items: list[str]) -> list[int]:
    """``["1201-1203", "1205"]`` -> ``[1201, 1202, 1203, 1205]``."""
    seeds: list[int] = []
    for item in items:
        lo, _, hi = item.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def generator_hash() -> str:
    """A short hash of the generator's source (and the schemas it writes), so cached lakes follow the code."""
    import harbour.data.generate as gen
    import harbour.data.schemas as schemas

    h = hashlib.sha256()
    files = sorted(Path(gen.__file__).parent.rglob("*.py")) + [Path(schemas.__file__)]
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:10]


def lake_for(seed: int, per_typology: int, cache: Path) -> Path:
    """The cached lake of the seed, generated on first use (into a temporary folder, renamed when complete)."""
    from harbour.data.generate import GenerateConfig, generate_market
    from harbour.data.schemas import AML_TYPOLOGIES, MARKET_TYPOLOGIES

    root = cache / f"s{seed}-n{per_typology}-{generator_hash()}"
    if root.is_dir():
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    incidents = {t: 0 for t in MARKET_TYPOLOGIES} | {t: per_typology for t in AML_TYPOLOGIES}
    generate_market(GenerateConfig(out=tmp, venues=3, days=4, accounts=3000, seed=seed, incidents=incidents,
                                   activity=0.02, symbols=3))
    tmp.rename(root)
    return root


def score_seed(seed: int, per_typology: int, cache: Path, dump: Path | None) -> dict[str, Any]:
    """Per AML typology of one seed: alerts, matched alerts, incidents, found; the dump written if asked."""
    from harbour.data.schemas import AML_TYPOLOGIES
    from harbour.detect.evaluate import evaluate, match, read_parquet_table
    from harbour.detect.service import surveil

    lake = lake_for(seed, per_typology, cache)
    cpu = time.process_time()
    alerts = surveil(lake, detectors=[f"aml_{t}" for t in AML_TYPOLOGIES], workers=1).alerts
    cpu = time.process_time() - cpu
    labels = read_parquet_table(lake, "labels")
    labels = labels.filter(pc.is_in(labels["typology"], pa.array(AML_TYPOLOGIES)))
    scores = evaluate(alerts, labels)
    counts = {t: [scores[t].matched_alerts, scores[t].alerts, scores[t].detected_incidents, scores[t].incidents]
              if t in scores else [0, 0, 0, 0] for t in AML_TYPOLOGIES}
    if dump is not None:
        write_dump(dump / f"seed{seed}-n{per_typology}.txt", seed, alerts, labels, match(alerts, labels))
    return {"seed": seed, "counts": counts, "cpu": cpu}


def write_dump(path: Path, seed: int, alerts: pa.Table, labels: pa.Table, pairs: pa.Table) -> None:
    """Stray alerts and missed incidents of one seed, readable: each with its accounts, span and text."""
    matched = set(pairs["alert_id"].to_pylist())
    found = set(pairs["incident_id"].to_pylist())
    rows = alerts.to_pylist()
    lines = [f"seed {seed}"]
    for a in rows:
        if a["alert_id"] not in matched:
            lines.append(f"STRAY {a['typology']} {a['venue']} {','.join(a['accounts'])} "
                         f"{a['start']:%m-%d %H:%M}..{a['end']:%m-%d %H:%M} score {a['score']:.2f}\n"
                         f"    {a['explanation']}\n    evidence {' '.join(a['evidence_ids'])}")
    for inc in labels.to_pylist():
        if inc["incident_id"] in found:
            continue
        accounts = set(inc["accounts"])
        lines.append(f"MISSED {inc['incident_id']} {inc['typology']} {inc['venue']} {','.join(inc['accounts'])} "
                     f"{inc['start']:%m-%d %H:%M}..{inc['end']:%m-%d %H:%M}\n"
                     f"    evidence {' '.join(inc['evidence_ids'])}")
        for a in rows:  # what the detectors said about its accounts instead
            if accounts & set(a["accounts"]) and a["start"] <= inc["end"] and inc["start"] <= a["end"]:
                lines.append(f"    overlapping {a['typology']} {a['venue']}: {a['explanation']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "-"


def short_of_goal(c: list[int]) -> bool:
    matched, alerts, found, incidents = c
    return (alerts == 0 or matched / alerts < GOAL) or (incidents == 0 or found / incidents < GOAL)


def report(results: list[dict[str, Any]]) -> str:
    pooled: dict[str, list[int]] = {}
    for r in results:
        for t, c in r["counts"].items():
            pooled[t] = [a + b for a, b in zip(pooled.get(t, [0, 0, 0, 0]), c, strict=True)]
    lines = [f"{'typology':<20} {'alerts':>12} {'incidents':>12} {'P':>6} {'R':>6}"]
    for t, (m, a, f, n) in pooled.items():
        flag = "  <- below" if short_of_goal([m, a, f, n]) else ""
        lines.append(f"{t:<20} {f'{m}/{a}':>12} {f'{f}/{n}':>12} {ratio(m, a):>6} {ratio(f, n):>6}{flag}")
    at_goal = sum(not short_of_goal(c) for c in pooled.values())
    lines.append(f"pooled over {len(results)} seeds: {at_goal} of {len(pooled)} typologies at P and R >= {GOAL}")
    for r in results:
        below = [f"{t} P={c[0]}/{c[1]} R={c[2]}/{c[3]}" for t, c in r["counts"].items() if short_of_goal(c)]
        if below:
            lines.append(f"  seed {r['seed']}: " + "; ".join(below))
    lines.append(f"detector CPU-s (surveil, all seeds): {sum(r['cpu'] for r in results):.1f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("seeds", nargs="+", help="seeds or ranges, e.g. 1201-1260 1301")
    p.add_argument("--crowded", action="store_true", help="6 incidents per AML typology (default 2)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/aml-quality-lakes"), help="where lakes are kept")
    p.add_argument("--jobs", type=int, default=1, help="seeds scored in this many processes")
    p.add_argument("--dump", type=Path, help="write stray alerts and missed incidents per seed here")
    p.add_argument("--json", type=Path, help="also write the per-seed counts as JSON here")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seeds = parse_seeds(args.seeds)
    n = 6 if args.crowded else 2
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(score_seed, seeds, [n] * len(seeds), [args.cache] * len(seeds),
                                    [args.dump] * len(seeds)))
    else:
        results = [score_seed(s, n, args.cache, args.dump) for s in seeds]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(report(results))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
