"""Cross-venue looks each distinct venue and account up in the owner map by an inner join whose owners are written
over the keys: the same owners, leg by leg, as the left join that keeps the keys' order (the formulation it
replaced), on maps with accounts the trades do not use, accounts without an owner, a null account, owners named
like keys, keys the map does not know, and an empty map."""

from __future__ import annotations

import numpy as np
import polars as pl

from harbour.detect.market.cross_venue import _pair_owners

VENUES = ["HBX", "KLN", "VCT"]


def _left_join(trades: pl.DataFrame, owners: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Every leg's ``venue:account`` looked up by a left join, the key itself when unknown."""
    def side(col: str) -> list[str]:
        keys = trades.select(key=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col(col)]))
        return keys.join(owners.rename({"account": "key"}), on="key", how="left", maintain_order="left") \
            .select(pl.coalesce("owner", "key")).to_series().to_list()
    return side("buyer"), side("seller")


def _case(rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    accounts = [f"A{i}" for i in range(int(rng.integers(1, 25)))]
    n = int(rng.integers(1, 80))
    trades = pl.DataFrame({"venue": rng.choice(VENUES, n), "buyer": rng.choice(accounts, n),
                           "seller": rng.choice(accounts, n)})
    keys: list[str | None] = list(dict.fromkeys(f"{v}:{a}" for v in VENUES for a in accounts if rng.random() < 0.5))
    if rng.random() < 0.3:
        keys.append(None)
    owners = [None if rng.random() < 0.15 else str(rng.choice(["C1", "C2", "HBX:A1", "KLN:A2"])) for _ in keys]
    return trades, pl.DataFrame({"account": keys, "owner": owners}, schema={"account": pl.String, "owner": pl.String})


def test_owners_are_the_left_joins() -> None:
    rng = np.random.default_rng(21)
    for case in range(300):
        trades, owners = _case(rng)
        found = _pair_owners(trades, owners)
        assert found is not None
        buyers, sellers, multi = found
        assert (buyers.to_list(), sellers.to_list()) == _left_join(trades, owners), case
        legs_owner = buyers.to_list() + sellers.to_list()
        legs_venue = trades["venue"].to_list() * 2
        venues_of = {o: {v for o2, v in zip(legs_owner, legs_venue, strict=True) if o2 == o} for o in legs_owner}
        assert multi.tolist() == [len(venues_of[o]) > 1 for o in legs_owner], case


def test_an_empty_map_leaves_every_leg_its_own_owner() -> None:
    trades = pl.DataFrame({"venue": ["HBX", "KLN"], "buyer": ["A1", "A2"], "seller": ["A2", "A1"]})
    found = _pair_owners(trades, pl.DataFrame(schema={"account": pl.String, "owner": pl.String}))
    assert found is not None
    assert (found[0].to_list(), found[1].to_list()) == (["HBX:A1", "KLN:A2"], ["HBX:A2", "KLN:A1"])
