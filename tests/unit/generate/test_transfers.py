"""The honest transfer flow behaves like customers: a customer's day mostly leans one way, and a customer
moves coins between the venue and a few places of its own more than to and from new parties."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from harbour.data.generate import GenerateConfig
from harbour.data.generate.rand import stream
from harbour.data.generate.transfers import TransferBatch, chain_of, normal_transfers
from harbour.data.generate.world import World, build_world

DAYS = 10


@pytest.fixture(scope="module")
def flow() -> tuple[World, list[tuple[str, int, tuple]]]:
    """The honest rows of every venue-day of a small world, with their venue and day."""
    world = build_world(GenerateConfig(out=Path("unused"), venues=3, days=DAYS, accounts=1500, seed=77))
    rows = []
    for v in world.venues:
        for day in range(DAYS):
            b = TransferBatch(world, v, day, {}, stream(77, "transfers", v, day))
            normal_transfers(b)
            rows += [(v, day, r) for r in b.rows]
    return world, rows


def _customer(world: World, party: str) -> str | None:
    venue, _, account = party.partition(":")
    va = world.accounts.get(venue)
    if va is None:
        return None
    i = va.account.index(account)
    return f"C{va.customer[i]}" if va.customer[i] >= 0 else party


def test_a_customers_day_mostly_leans_one_way(flow: tuple[World, list]) -> None:
    world, rows = flow
    ways: dict[tuple[str | None, int], list[str]] = defaultdict(list)
    for v, day, r in rows:
        kind, src, dst = r[4], r[5], r[6]
        if kind == "deposit" and dst.startswith(f"{v}:"):
            ways[(_customer(world, dst), day)].append("in")
        elif kind == "withdrawal" and src.startswith(f"{v}:"):
            ways[(_customer(world, src), day)].append("out")
    busy = [w for w in ways.values() if len(w) >= 2]
    both = sum(len(set(w)) == 2 for w in busy)
    assert len(busy) > 50
    # independent draws would give about half of the customer-days with two or more transfers both ways
    assert both / len(busy) < 0.2, (both, len(busy))


def test_customers_use_a_few_places_of_their_own(flow: tuple[World, list]) -> None:
    world, rows = flow
    places: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    uses: dict[tuple[str | None, str], int] = defaultdict(int)
    for v, _, r in rows:
        kind, asset, src, dst = r[4], r[1], r[5], r[6]
        if kind not in ("deposit", "withdrawal"):
            continue
        me, other = (dst, src) if kind == "deposit" else (src, dst)
        if not me.startswith(f"{v}:") or other.split(":")[0] in world.venues:
            continue  # our own venues' accounts are not outside places
        key = (_customer(world, me), chain_of(asset))
        places[key].add(other)
        uses[key] += 1
    regular = [k for k, n in uses.items() if n >= 3]
    assert len(regular) > 25
    # a customer's coins of one chain come from and go to one place of its own, and now and then elsewhere
    # (independent draws give about 0.9 distinct parties per transfer)
    per_use = sum(len(places[k]) for k in regular) / sum(uses[k] for k in regular)
    assert per_use < 0.6, per_use
