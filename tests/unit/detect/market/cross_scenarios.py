"""Random trades for the cross-venue screen tests: many ties, several venues, orders with several fills."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def random_trades(rng: np.random.Generator, n: int, venues: list[str]) -> pl.DataFrame:
    """Trades on ``venues`` over four hours in whole ten seconds (many ties), in no time order, by a dozen accounts a
    venue whose orders have several fills, some aggressors missing."""
    buyer, seller = rng.integers(0, 12, n), rng.integers(0, 12, n)
    return pl.DataFrame({
        "venue": rng.choice(venues, n).tolist(),
        "symbol": ["GEN-ETH-USD"] * n,
        "trade_id": [f"t{i}" for i in range(n)],
        "ts": [T0 + dt.timedelta(seconds=10 * int(s)) for s in rng.integers(0, 1440, n)],
        "price": rng.uniform(99, 101, n).tolist(),
        "quantity": rng.random(n).round(3).tolist(),
        "buyer": [f"a{i}" for i in buyer],
        "seller": [f"a{i}" for i in seller],
        "aggressor": rng.choice(np.array(["buy", "sell", None], dtype=object), n, p=[0.45, 0.45, 0.1]).tolist(),
        "buy_order_id": [f"b{a}-{k}" for a, k in zip(buyer, rng.integers(0, 6, n), strict=True)],
        "sell_order_id": [f"s{a}-{k}" for a, k in zip(seller, rng.integers(0, 6, n), strict=True)],
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
