"""The listing-news scene the insider tests share: a symbol listed elsewhere at 14:00 whose price then rises by
12 %, and helpers that buy and sell into it and run the insider detector."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _market() -> tuple[ScenarioMarket, dt.datetime]:
    m = ScenarioMarket(seed=13, venues=(VENUE,), trades_per_day=3000)
    announce = m.at(14)
    m.announcements.append({"venue": "NEWX", "symbol": m.symbol, "ts": announce, "kind": "listing",
                            "headline": f"NEWX lists {m.symbol}"})
    m.impact(VENUE, announce, 120, 3 * 3600, 6 * 3600, 0.12)
    return m, announce


def _buy(m: ScenarioMarket, account: str, start: dt.datetime, n: int, qty: float, every_min: int = 20) -> None:
    for i in range(n):
        m.trade(VENUE, start + dt.timedelta(minutes=every_min * i + 1), qty * m.size, account,
                m.makers[i % len(m.makers)], "buy")


def _sell(m: ScenarioMarket, account: str, start: dt.datetime, n: int, qty: float) -> None:
    for i in range(n):
        m.trade(VENUE, start + dt.timedelta(minutes=15 * i + 2), qty * m.size, m.traders[i], account, "buy")


def _insider_alerts(m: ScenarioMarket, **settings: float) -> list[dict]:
    d = REGISTRY.get("insider_pre_listing")
    config = d.default_config().model_copy(update={"pre_hours": 6.0, **settings})
    return d.kernel(m.build().partition(VENUE), config).to_pylist()
