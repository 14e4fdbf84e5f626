"""cross_venue's fast paths give exactly what the formulations they replaced give: the compiled run count the runs,
sizes, spans, trades, accounts and day counts of the group-by of the owners' string ids, on random legs full of time
ties and orders filled across runs; the owners looked up once per venue and account the owners of the per-leg join
(unknown accounts, customers without an id, one customer on several venues) and its two-venue test. Each hands over
to the old path when an id is missing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from harbour.detect.market.cross_venue import _counted_runs, _grouped_runs, _on_two_venues, _pair_owners
from harbour.detect.market.frames import run_numbers, stable_sort

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
KEYS = ["owner", "venue", "sign", "run"]


def _runs(rng: np.random.Generator, n: int) -> pl.DataFrame:
    # whole minutes over two hours: many legs share a time, and a 5-minute gap cuts some owners' legs into runs
    legs = pl.DataFrame({
        "owner": rng.choice(["a", "b", "c", "C1"], n).tolist(),
        "venue": rng.choice(["HBX", "KLN"], n).tolist(),
        "sign": rng.choice([1, -1], n).tolist(),
        "ts": [T0 + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 120, n)],
        # few order ids: one order's fills fall in several runs, and on both sides
        "order": [f"o{i}" for i in rng.integers(0, 25, n)],
        "quantity": rng.random(n).round(2).tolist(),
        "trade_id": [f"t{i}" for i in range(n)],
        "account": rng.choice(["x", "y", "z"], n).tolist(),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")), pl.col("sign").cast(pl.Int32))
    runs = stable_sort(legs, ["owner", "venue", "sign", "ts"])
    return runs.with_columns(run=run_numbers(["owner", "venue", "sign"],
                                             pl.col("ts").diff() > dt.timedelta(minutes=5)))


@pytest.mark.parametrize(("seed", "min_orders"), [(1, 3), (2, 1), (3, 5), (4, 40)])
def test_counted_runs_are_the_group_by(seed: int, min_orders: int) -> None:
    runs = _runs(np.random.default_rng(seed), 400)
    got = _counted_runs(runs, min_orders)
    want = _grouped_runs(runs, min_orders)
    assert got is not None
    assert got.sort(KEYS).equals(want.select(got.columns).sort(KEYS))


@pytest.mark.parametrize("column", ["order", "owner"])
def test_a_missing_id_takes_the_group_by(column: str) -> None:
    runs = _runs(np.random.default_rng(5), 50)
    runs = runs.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col(column)).alias(column))
    assert _counted_runs(runs, 3) is None


def _trades(rng: np.random.Generator, n: int) -> pl.DataFrame:
    # one account name may be open on two venues (two accounts); three venues, in no order
    return pl.DataFrame({
        "venue": rng.choice(["HBX", "KLN", "VCT"], n).tolist(),
        "buyer": [f"a{i}" for i in rng.integers(0, 40, n)],
        "seller": [f"a{i}" for i in rng.integers(0, 40, n)],
    })


def _owner_table(rng: np.random.Generator) -> pl.DataFrame:
    """``frames.owner_map``'s shape: ``venue:account`` -> customer; some accounts unknown, some customers null,
    customers with accounts on several venues."""
    rows = [(f"{v}:a{i}", None if i % 11 == 0 else f"C{i % 9}") for v in ("HBX", "KLN", "VCT")
            for i in range(40) if rng.random() < 0.8]
    return pl.DataFrame(rows, schema={"account": pl.String, "owner": pl.String}, orient="row")


def _owners_per_leg(trades: pl.DataFrame, owners: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """The owners by joining every leg's key (the formulation ``_pair_owners`` replaced)."""
    t = trades
    for side, out in (("buyer", "owner_b"), ("seller", "owner_s")):
        t = t.with_columns(key=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col(side)])) \
            .join(owners.rename({"account": "key", "owner": out}), on="key", how="left") \
            .with_columns(pl.coalesce(out, "key").alias(out)).drop("key")
    return t["owner_b"], t["owner_s"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pair_owners_are_the_per_leg_join(seed: int) -> None:
    rng = np.random.default_rng(seed)
    trades, owners = _trades(rng, 300), _owner_table(rng)
    found = _pair_owners(trades, owners)
    assert found is not None
    owner_b, owner_s = _owners_per_leg(trades, owners)
    assert found[0].equals(owner_b) and found[1].equals(owner_s)
    legs = pl.DataFrame({"owner": pl.concat([owner_b, owner_s]), "venue": pl.concat([trades["venue"]] * 2)})
    assert pl.Series(found[2]).equals(_on_two_venues(legs), check_names=False)
    assert 0 < found[2].sum() < found[2].size  # some owners trade on two venues, some on one


def test_a_missing_account_takes_the_per_leg_join() -> None:
    trades = _trades(np.random.default_rng(4), 20)
    trades = trades.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise("seller").alias("seller"))
    assert _pair_owners(trades, _owner_table(np.random.default_rng(4))) is None
