"""Demo step: run every registered detector over the demo lake, keep the alerts as Parquet and in the DB."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from harbour.core.auth import SYSTEM
from harbour.core.db import transaction
from harbour.detect import service

log = logging.getLogger(__name__)


def run(ctx: Any) -> str:
    """Surveil ``ctx.lake_root``; facts: ``alerts`` (count) and ``alerts_by_typology``."""
    lake = ctx.lake_root
    if not lake.is_dir() or not any(lake.iterdir()):
        ctx.facts["alerts"] = 0
        return "no lake to survey (the market step did not run)"
    result = service.surveil(lake)
    service.write_alerts_parquet(result.alerts, lake / "alerts" / "part-demo.parquet")
    with transaction(ctx.session_factory) as session:
        stored = service.store_alerts(session, SYSTEM, result)
    by_typology = Counter(result.alerts.column("typology").to_pylist())
    ctx.facts["alerts"] = result.alerts.num_rows
    ctx.facts["alerts_by_typology"] = dict(sorted(by_typology.items()))
    ctx.facts["surveillance_run_id"] = stored.run_id
    top = ", ".join(f"{t} {n}" for t, n in by_typology.most_common(4))
    return (f"{result.alerts.num_rows} alerts from {len(result.detectors)} detectors in {result.seconds:.1f}s"
            + (f" ({top})" if top else ""))
