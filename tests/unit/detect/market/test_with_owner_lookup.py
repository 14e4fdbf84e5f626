"""``frames.with_owner`` looks each account up in a hash table of the owner map instead of joining the map:
the same frame as the left join and coalesce it replaces, for unknown accounts, accounts without an owner, owners
named like accounts, a map naming an account twice and a missing account (the last two take the join); and the
detectors' alerts are those of the join."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.frames as frames
import harbour.detect.market.owner_keys as owner_keys
from harbour.detect.market.scenarios import ScenarioMarket

from .conftest import VENUES, run_all


def _joined(df: pl.DataFrame, owners: pl.DataFrame, column: str, out: str) -> pl.DataFrame:
    """The formulation the lookup replaced."""
    joined = df.join(owners.rename({"account": column, "owner": out}), on=column, how="left")
    return joined.with_columns(pl.coalesce(pl.col(out), pl.col(column)).alias(out))


@pytest.mark.parametrize("seed", range(4))
def test_owners_are_the_left_joins(seed: int) -> None:
    rng = np.random.default_rng(seed)
    looked_up = 0
    for case in range(60):
        names = [f"A{i}" for i in range(int(rng.integers(1, 30)))]
        n = int(rng.integers(0, 60))
        buyers: list[str | None] = rng.choice(names, n).tolist()
        if n and rng.random() < 0.1:
            buyers[0] = None
        trades = pl.DataFrame({"trade_id": [f"t{i}" for i in range(n)], "buyer": buyers},
                              schema={"trade_id": pl.String, "buyer": pl.String})
        accounts: list[str | None] = [a for a in names if rng.random() < 0.6]
        if rng.random() < 0.2:
            accounts.append(None)
        if accounts and rng.random() < 0.1:
            accounts.append(accounts[0])  # named twice: a join repeats its trades
        owned = [None if rng.random() < 0.2 else str(rng.choice(["C1", "C2", "A1"])) for _ in accounts]
        owners = pl.DataFrame({"account": accounts, "owner": owned}, schema={"account": pl.String,
                                                                              "owner": pl.String})
        looked_up += frames._looked_up(trades, owners, "buyer", "owner_b") is not None
        assert_frame_equal(frames.with_owner(trades, owners, "buyer", "owner_b"),
                           _joined(trades, owners, "buyer", "owner_b")), case
    assert looked_up > 20  # most cases took the dictionary


def test_the_detectors_alerts_are_the_joins(incident_market: ScenarioMarket, monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up = run_all(incident_market)
    frames._OWNED.clear()  # the first run's owners are kept for the frames they were looked up for
    monkeypatch.setattr(frames, "_owner_table", lambda _: None)  # every look-up by the join
    joined = run_all(incident_market)
    for name, alerts in looked_up.items():
        assert alerts.equals(joined[name]), name
    assert sum(a.num_rows for a in looked_up.values()) > len(VENUES)
    assert isinstance(next(iter(looked_up.values())), pa.Table)


def test_a_map_naming_an_account_twice_has_no_lookup() -> None:
    """Once without an owner and once with one, too: the join would repeat its rows, so every user of the compiled
    table (with_owner, cross_venue's and pump_and_dump's screens) falls back to the frame path."""
    owners = pl.DataFrame({"account": ["A1", "A1", "A2"], "owner": [None, "C1", "C2"]},
                          schema={"account": pl.String, "owner": pl.String})
    assert owner_keys.owner_lookup(owners) is None
    assert owner_keys.account_owners(owners, pa.array(["A1", "A2"])) is None
    trades = pl.DataFrame({"buyer": ["A1", "A2"]})
    assert frames._looked_up(trades, owners, "buyer", "owner_b") is None
    assert frames.with_owner(trades, owners, "buyer", "owner_b").height == 3  # the join repeats A1's row
