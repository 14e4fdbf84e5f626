"""The closing-auction scene the marking-the-close tests share: bursts of aggressive orders, each against its own
resting order of one of the makers, and the accounts the detector alerts."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def burst(m: ScenarioMarket, account: str, start: dt.datetime, seconds: float, n: int, side: str) -> None:
    """``n`` aggressive orders of ``account`` spread over ``seconds`` from ``start``, each against its own resting
    order of one of the makers."""
    for i in range(n):
        t = start + S * (seconds * i / n)
        buyer, seller = (account, m.makers[i % len(m.makers)]) if side == "buy" else \
            (m.makers[i % len(m.makers)], account)
        m.trade(VENUE, t, m.qty(4), buyer, seller, side)


def alerted(m: ScenarioMarket) -> set[str]:
    """The accounts marking_the_close alerts on the venue's partition of a built market."""
    d = REGISTRY.get("marking_the_close")
    alerts = d.kernel(m.partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}
