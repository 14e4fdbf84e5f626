"""The compiled order lifecycles (``lifecycles.order_lifecycles``) give what the Polars group-by over the
events' string ids gives (``cancelled_pressure._lifecycles``) — on random order books with amends, partial fills,
repeated placements, market orders without a price, null quantities and trades whose order ids the book never saw
(sums to 1e-12: Polars adds a small frame's groups in plain sequence) — and the exact interning refuses nulls and
tells colliding ids apart."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from harbour.detect.market.cancelled_pressure import _fills, _lifecycles
from harbour.detect.market.lifecycles import exact_codes, order_lifecycles

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
EVENTS = ["new", "amend", "cancel", "fill", "expire"]


def _book(rng: np.random.Generator, n: int, n_orders: int) -> pa.Table:
    ids = rng.integers(0, n_orders, n)
    price = rng.choice([99.0, 100.0, 101.0, np.nan], n)
    qty = rng.random(n) * 10
    return pa.table({
        "order_id": pa.array([f"ord-{i}" for i in ids]),
        "account": pa.array(rng.choice(["a1", "a2", "a3", "b1"], n).tolist()),
        "ts": pa.array((rng.integers(0, 600, n) * 1_000_000).tolist(), pa.int64()).cast(pa.timestamp("us", "UTC")),
        "event": pa.array(rng.choice(EVENTS, n, p=[0.4, 0.1, 0.2, 0.2, 0.1]).tolist()),
        "side": pa.array(rng.choice(["buy", "sell"], n).tolist()),
        "order_type": pa.array(rng.choice(["limit", "market"], n, p=[0.8, 0.2]).tolist()),
        "price": pa.array(price, mask=np.isnan(price)),
        "quantity": pa.array(qty, mask=rng.random(n) < 0.05),
    })


def _trades(rng: np.random.Generator, n: int, n_orders: int) -> pl.DataFrame:
    def ids() -> list[str | None]:  # some never in the book, some missing
        return [None if r < 0.1 else f"ord-{i}" for r, i in zip(rng.random(n), rng.integers(0, n_orders + 20, n),
                                                                 strict=True)]
    return pl.DataFrame({"buy_order_id": ids(), "sell_order_id": ids(), "quantity": (rng.random(n) * 3).tolist()})


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_lifecycles_are_the_group_by(seed: int) -> None:
    rng = np.random.default_rng(seed)
    book, trades = _book(rng, 3000, 400), _trades(rng, 500, 400)
    got = order_lifecycles(book, trades, 7.0)
    assert got is not None
    orders = pl.from_arrow(book)
    assert isinstance(orders, pl.DataFrame)
    fills = _fills(trades)
    bait = orders.filter((pl.col("event") == "new") & (pl.col("order_type") == "limit") & (pl.col("quantity") >= 7.0))
    wanted = pl.concat([bait.select("order_id"), fills.select("order_id")])
    want = _lifecycles(orders.join(wanted, on="order_id", how="semi"), fills)
    assert got.columns == want.columns
    # sums to 1e-12: Polars adds a small frame's groups in plain sequence, the compiled pass compensates (as Polars
    # does on large frames); every other column exactly
    assert_frame_equal(got.sort("order_id"), want.sort("order_id"), check_exact=False, rel_tol=1e-12, abs_tol=0)
    # in order of each order's first event
    first = orders.with_row_index("row").group_by("order_id").agg(pl.col("row").min())
    assert got.join(first, on="order_id", how="left")["row"].is_sorted()


def test_exact_codes_refuse_nulls_and_number_by_first_appearance() -> None:
    assert exact_codes([pa.array(["a", None])]) is None
    found = exact_codes([pa.array(["x", "y", "x"]), pa.chunked_array([["y", "z"], ["x"]])])
    assert found is not None
    codes, firsts = found
    assert codes.tolist() == [0, 1, 0, 1, 2, 0]
    assert firsts.tolist() == [0, 1, 4]


def test_a_hash_collision_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two different strings given one id (as a 64-bit collision would) are found by the byte comparison."""
    import harbour.detect.market.lifecycles as lifecycles

    def colliding(cols: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
        n = sum(len(c) for c in cols)
        return np.zeros(n, np.int64), np.zeros(1, np.int64)

    monkeypatch.setattr(lifecycles, "intern_columns", colliding)
    assert exact_codes([pa.array(["same", "same"])]) is not None
    assert exact_codes([pa.array(["same", "other"])]) is None
    # compared a word at a time, then byte by byte: a difference in either part is found
    assert exact_codes([pa.array(["order-0000000017", "order-0000000017"])]) is not None
    assert exact_codes([pa.array(["order-0000000017", "order-0000000018"])]) is None
    assert exact_codes([pa.array(["order-0000000017a", "order-0000000017b"])]) is None
    assert exact_codes([pa.array(["xorder-000000001", "yorder-000000001"])]) is None
