"""Self-trades are judged per pair of a customer's accounts as well as per customer: a customer's busy
account (in a large share of the day's trades) makes the customer meet itself often by chance, which must
not hide two quiet accounts of it that trade with each other again and again."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _wash_alerts(m: ScenarioMarket) -> pa.Table:
    d = REGISTRY.get("wash_trade")
    return d.kernel(m.partition(VENUE), d.default_config())


def _busy_account(m: ScenarioMarket, account: str, customer: str, trades: int) -> None:
    """An account of ``customer`` on both sides of many ordinary trades with the market makers."""
    m.link(VENUE, account, customer)
    for i in range(trades):
        ts = m.at(1) + dt.timedelta(seconds=float(m.rng.uniform(0, 20 * 3600)))
        maker = m.makers[int(m.rng.integers(len(m.makers)))]
        buyer, seller = (account, maker) if i % 2 else (maker, account)
        m.trade(VENUE, ts, m.qty(), buyer, seller, "buy" if i % 2 else "sell")


def _market(busy_trades: int) -> ScenarioMarket:
    m = ScenarioMarket(seed=9, venues=(VENUE,), trades_per_day=3000)
    si.self_trades(m, ["Q1", "Q2"], m.at(10), n=12, customer="C-BUSY")
    if busy_trades:
        _busy_account(m, "Q3", "C-BUSY", busy_trades)
    return m.build()


def test_two_quiet_accounts_of_a_busy_customer_are_found() -> None:
    for busy in (0, 1500):
        alerts = _wash_alerts(_market(busy)).to_pylist()
        assert [sorted(a["accounts"]) for a in alerts] == [["Q1", "Q2"]], busy


def test_the_busy_account_alone_is_not_a_self_trader() -> None:
    """Its trades with the market makers meet the pair's only by chance: no alert names it."""
    alerts = _wash_alerts(_market(1500)).to_pylist()
    assert all("Q3" not in a["accounts"] for a in alerts)
