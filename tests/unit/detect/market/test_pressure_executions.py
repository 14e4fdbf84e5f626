"""Spoofing/layering read the judged owners' legs on the side opposite their episodes from the trades with both
sides' owners (``cancelled_pressure.executions``); checked here against the earlier form (the owners' accounts
picked from the map, the legs of those accounts stacked, their owners looked up and the wanted owner-sides kept) on
random trades with missing buyers, sellers and order ids, accounts outside the map (their own owners), an account
named like another customer, and owners that never traded."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from harbour.detect.market.cancelled_pressure import executions
from harbour.detect.market.frames import with_owner

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
ACCOUNTS = ["a1", "a2", "b1", "c1", "x9", "cust-b", None]  # x9 and cust-b are outside the map; cust-b is named
OWNERS = pl.DataFrame({"account": ["a1", "a2", "b1", "c1"], "owner": ["cust-a", "cust-a", "cust-b", "cust-c"]})


def _trades(rng: np.random.Generator, n: int) -> pl.DataFrame:
    def ids() -> list[str | None]:
        return [None if r < 0.1 else f"o{i}" for r, i in zip(rng.random(n), rng.integers(0, n, n), strict=True)]
    return pl.DataFrame({
        "trade_id": [f"t{i}" for i in range(n)],
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 600, n))],
        "price": rng.random(n).tolist(),
        "quantity": rng.random(n).tolist(),
        "buyer": rng.choice(np.array(ACCOUNTS, dtype=object), n).tolist(),
        "seller": rng.choice(np.array(ACCOUNTS, dtype=object), n).tolist(),
        "buy_order_id": ids(),
        "sell_order_id": ids(),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def _earlier(trades: pl.DataFrame, owners: pl.DataFrame, wanted: pl.DataFrame) -> pl.DataFrame:
    judged = wanted.select("owner").unique()
    theirs = pl.concat([owners.join(judged, on="owner", how="semi").select("account"),
                        judged.select(account="owner")])["account"]
    buys = trades.filter(pl.col("buyer").is_in(theirs.implode()))
    sells = trades.filter(pl.col("seller").is_in(theirs.implode()))
    legs = pl.concat([
        buys.select("trade_id", "ts", "price", "quantity", account="buyer", side=pl.lit("buy"),
                    ex_order="buy_order_id"),
        sells.select("trade_id", "ts", "price", "quantity", account="seller", side=pl.lit("sell"),
                     ex_order="sell_order_id"),
    ])
    return with_owner(legs, owners, "account", "owner").join(wanted, on=["owner", "side"], how="semi")


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_executions_are_the_earlier_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    trades = _trades(rng, 400)
    owned = with_owner(with_owner(trades, OWNERS, "buyer", "owner_b"), OWNERS, "seller", "owner_s")
    every = [(o, s) for o in ["cust-a", "cust-b", "cust-c", "x9", "nobody"] for s in ["buy", "sell"]]
    picked = [every[i] for i in sorted(rng.choice(len(every), int(rng.integers(1, len(every))), replace=False))]
    wanted = pl.DataFrame({"owner": [o for o, _ in picked], "side": [s for _, s in picked]})
    assert_frame_equal(executions(owned, wanted), _earlier(trades, OWNERS, wanted))


def test_no_owner_wanted_gives_no_legs() -> None:
    trades = _trades(np.random.default_rng(0), 50)
    owned = with_owner(with_owner(trades, OWNERS, "buyer", "owner_b"), OWNERS, "seller", "owner_s")
    wanted = pl.DataFrame({"owner": [], "side": []}, schema={"owner": pl.String, "side": pl.String})
    got = executions(owned, wanted)
    assert got.height == 0
    assert got.columns == ["trade_id", "ts", "price", "quantity", "account", "side", "ex_order", "owner"]
