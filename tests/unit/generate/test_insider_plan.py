"""The insider buys on a book that is open: never on a venue whose own listing of the token opens later that day
(its orders there before the opening could never trade, so the incident would have no evidence)."""

from pathlib import Path

from harbour.data.generate.config import GenerateConfig
from harbour.data.generate.incidents.market2 import plan_insider
from harbour.data.generate.world import build_world


def test_insider_venue_is_open_before_the_news():
    planned = 0
    for seed in range(800, 840):
        world = build_world(GenerateConfig(out=Path("unused"), venues=3, days=3, accounts=200, seed=seed))
        for n in range(6):
            inc = plan_insider(world, n, "insider_pre_listing")
            if inc is None:
                continue
            planned += 1
            news = world.listing_on(inc.params["listing_venue"], inc.symbol, inc.day)
            assert news is not None and inc.venue != news.venue
            own = world.listing_on(inc.venue, inc.symbol, inc.day)
            assert own is None, f"seed {seed} {inc.incident_id}: {inc.venue} opens {inc.symbol} only at {own.open_us}"
    assert planned > 150
