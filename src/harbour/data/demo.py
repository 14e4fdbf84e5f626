"""Demo step: a small synthetic market with labelled incidents in the demo lake."""

from __future__ import annotations

from typing import Any

from harbour.data.generate import GenerateConfig, generate_market
from harbour.data.generate.config import DEFAULT_VENUES
from harbour.data.schemas import TYPOLOGIES


def generate(ctx: Any) -> str:
    """Two days on the demo platforms' venues (or the default codes), every typology twice."""
    venues = tuple(ctx.facts.get("venues") or DEFAULT_VENUES[:3])[:10]
    config = GenerateConfig(out=ctx.lake_root, venues=len(venues), venue_names=venues, days=2, accounts=600,
                            seed=2026, activity=0.12, symbols=8, incidents={t: 2 for t in TYPOLOGIES})
    summary = generate_market(config)
    ctx.facts["market"] = {"venues": list(venues), "days": config.days, "start": config.start.isoformat(),
                           **summary.rows, "incidents": summary.incidents}
    ctx.facts["lake_root"] = str(ctx.lake_root)
    return summary.line()
