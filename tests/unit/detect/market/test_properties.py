"""Invariants of the kernels, by property: the order in which a source hands over rows never matters, and
a trade between two accounts of one customer is always a wash trade once it repeats."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harbour.data.schemas import ACCOUNTS, TRADES
from harbour.detect.framework import REGISTRY, Partition


def _shuffled(part: Partition, seed: int) -> Partition:
    rng = np.random.default_rng(seed)
    tables = {k: v.take(pa.array(rng.permutation(v.num_rows))) for k, v in part.tables.items()}
    return Partition(part.key, tables, part.window, part.broadcast)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_change_alerts(incident_market, incident_alerts, seed: int) -> None:
    part = incident_market.partition("HBX")
    for name in ("wash_trade", "spoofing", "layering", "quote_stuffing", "marking_the_close", "front_running"):
        d = REGISTRY.get(name)
        expected = incident_alerts[name].filter(pa.compute.equal(incident_alerts[name]["venue"], "HBX"))
        got = d.kernel(_shuffled(part, seed), d.default_config())
        assert sorted(got.column("alert_id").to_pylist()) == sorted(expected.column("alert_id").to_pylist()), name


T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 12), gaps=st.lists(st.floats(0.5, 600), min_size=12, max_size=12),
       sizes=st.lists(st.floats(0.001, 1e6), min_size=12, max_size=12), honest=st.integers(0, 40))
def test_repeated_trades_between_one_customers_accounts_always_alert(n, gaps, sizes, honest) -> None:
    rows, t = [], T0
    for i in range(n):
        t += dt.timedelta(seconds=gaps[i])
        a, b = ("A1", "A2") if i % 2 else ("A2", "A1")
        rows.append(dict(venue="V", symbol="X/USD", trade_id=f"w{i}", ts=t, price=10.0, quantity=sizes[i], buyer=a,
                         seller=b, aggressor="buy", buy_order_id=None, sell_order_id=None))
    for j in range(honest):
        rows.append(dict(venue="V", symbol="X/USD", trade_id=f"h{j}", ts=T0 + dt.timedelta(minutes=j), price=10.0,
                         quantity=1.0, buyer=f"H{j % 7}", seller="MM", aggressor="sell", buy_order_id=None,
                         sell_order_id=None))
    accounts = pa.Table.from_pylist([
        dict(venue="V", account=a, customer_id="C1" if a.startswith("A") else a, name=a, country="HK",
             account_type="individual", opened_at=T0) for a in ["A1", "A2", "MM"] + [f"H{k}" for k in range(7)]],
        schema=ACCOUNTS)
    part = Partition({"venue": "V", "symbol": "X/USD", "date": T0.date()},
                     {"trades": pa.Table.from_pylist(rows, schema=TRADES)}, broadcast={"accounts": accounts})
    d = REGISTRY.get("wash_trade")
    alerts = d.kernel(part, d.default_config()).to_pylist()
    assert len(alerts) == 1
    assert alerts[0]["accounts"] == ["A1", "A2"]
    assert sorted(alerts[0]["evidence_ids"]) == sorted(f"w{i}" for i in range(n))
