"""Who the pump and insider detectors name: a pump is several accounts acting together (a lone account's
swing is not one), one campaign is alerted once, and an insider trading from one account of a customer
whose other accounts trade both ways is still found from the account's own record."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.pump_and_dump import _distinct
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _alerts(m: ScenarioMarket, name: str) -> pa.Table:
    d = REGISTRY.get(name)
    return d.kernel(m.partition(VENUE), d.default_config())


def test_one_account_buying_a_run_up_and_selling_the_top_is_not_a_pump() -> None:
    m = ScenarioMarket(seed=5, venues=(VENUE,), trades_per_day=3000)
    si.pump_and_dump(m, ["P1"], m.at(14), customer=None)
    assert _alerts(m.build(), "pump_and_dump").num_rows == 0


def test_the_same_campaign_by_two_accounts_is_a_pump() -> None:
    m = ScenarioMarket(seed=5, venues=(VENUE,), trades_per_day=3000)
    si.pump_and_dump(m, ["P1", "P2"], m.at(14), customer=None)
    alerts = _alerts(m.build(), "pump_and_dump").to_pylist()
    assert len(alerts) == 1
    assert sorted(alerts[0]["accounts"]) == ["P1", "P2"]


def test_overlapping_readings_of_one_campaign_are_alerted_once() -> None:
    t0 = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    strong = {"accounts": ["A", "B"], "start": t0, "end": t0 + 3 * hour, "score": 0.9}
    weak = {"accounts": ["B"], "start": t0 + hour, "end": t0 + 2 * hour, "score": 0.6}
    other = {"accounts": ["C", "D"], "start": t0 + hour, "end": t0 + 2 * hour, "score": 0.7}
    later = {"accounts": ["A", "B"], "start": t0 + 4 * hour, "end": t0 + 5 * hour, "score": 0.5}
    second_ring = {"accounts": ["B", "E", "F"], "start": t0 + 2 * hour, "end": t0 + 4 * hour, "score": 0.4}
    assert _distinct([weak, later, second_ring, other, strong]) == [strong, other, second_ring, later]


def test_insider_found_when_its_customers_other_account_trades_both_ways() -> None:
    m = ScenarioMarket(seed=7, venues=(VENUE,), trades_per_day=3000)
    announce = m.at(20)
    si.insider(m, "IN1", announce)
    # A second account of the insider's customer trades both ways in the same hours: the customer's net is
    # diluted far below one-way accumulation, but IN1's own buying and exit are unchanged.
    m.link(VENUE, "IN1", "C-IN")
    m.link(VENUE, "IN2", "C-IN")
    for i in range(24):
        t = announce - dt.timedelta(hours=5) + dt.timedelta(minutes=12 * i + 3)
        maker = m.makers[i % len(m.makers)]
        if i % 3:
            m.trade(VENUE, t, m.qty(3), maker, "IN2", "sell")
        else:
            m.trade(VENUE, t, m.qty(3), "IN2", maker, "buy")
    alerts = _alerts(m.build(), "insider_pre_listing").to_pylist()
    assert [a["accounts"] for a in alerts] == [["IN1"]]
