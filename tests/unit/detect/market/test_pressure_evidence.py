"""The spoofing/layering screen's compiled pieces that read strings in place (``pressure_screen``), each against the
straightforward form on random data: the legs' orders' placements (``_leg_placements``, for the evidence test), the
aggressor flags, the legs' order, the median and the prices' validity at the placements; and the evidence test
(``_may_show``) on hand-built owners, whose sale is a hit but evidence only when the search's evidence test says so."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import harbour.detect.market.cancelled_pressure as cp
import harbour.detect.market.pressure_bound as pb
import harbour.detect.market.pressure_screen as ps
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market.frames import owner_map
from harbour.detect.market.scenarios import ScenarioMarket


def _ids(rng: np.random.Generator, n: int, pool: list[str], nulls: float = 0.0) -> pa.ChunkedArray:
    picked = [pool[k] for k in rng.integers(0, len(pool), n)]
    return pa.chunked_array([pa.array([None if rng.random() < nulls else s for s in picked], pa.string())])


def _pool(rng: np.random.Generator, n: int) -> list[str]:
    """Ids of 1 to 20 bytes, some sharing their first or last 8 bytes."""
    base = "ABCDEFGHIJKLMNOPQRST"
    return list({base[:int(rng.integers(0, 12))] + str(int(rng.integers(0, 10 * n))) for _ in range(n)})


@pytest.mark.parametrize("seed", range(6))
def test_leg_placements_are_each_order_s_earliest_placement(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = _pool(rng, 60)
    events = _ids(rng, 400, pool)
    kind = rng.integers(0, 3, 400).astype(np.int8)
    ts = rng.integers(0, 10_000, 400).astype(np.int64)
    buys, sells = _ids(rng, 50, pool + ["nowhere-1", "nowhere-2"], 0.2), _ids(rng, 50, pool, 0.2)
    order = rng.integers(0, 100, 30).astype(np.int64)
    earliest: dict[str, int] = {}
    for s, k, t in zip(events.to_pylist(), kind.tolist(), ts.tolist(), strict=True):
        if k == 1:
            earliest[s] = min(earliest.get(s, t), t)
    named = buys.to_pylist() + sells.to_pylist()
    expect = [earliest.get(named[j], ps._NONE) if named[j] is not None else ps._NONE for j in order.tolist()]
    ids, b, s = ps._hashed(events), ps._hashed(buys), ps._hashed(sells)
    got = pb._leg_placements(*ids, kind, ts, *b, *s, order, 50)
    assert got is not None and got.tolist() == expect
    # hashes thinned to two bits: the events' collisions are told apart by their bytes; the legs' own, reported
    mask = np.uint64(3)
    thin = pb._leg_placements(ids[0], ids[1] & mask, kind, ts, b[0], b[1] & mask, s[0], s[1] & mask, order, 50)
    distinct = {named[j] for j in order.tolist() if named[j] is not None}
    if len(distinct) > 4:  # more distinct ids than hashes: two of them share one
        assert thin is None
    for one in distinct:  # one id alone is found however its hash collides with the events'
        alone = order[[named[j] == one for j in order.tolist()]]
        found = pb._leg_placements(ids[0], ids[1] & mask, kind, ts, b[0], b[1] & mask, s[0], s[1] & mask, alone, 50)
        assert found is not None and found.tolist() == [earliest.get(one, ps._NONE)] * alone.size


@pytest.mark.parametrize("seed", range(4))
def test_buys_and_sells_are_arrow_s_compares(seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = ["buy", "sell", "Buy", "bu", "buyy", "sel", "sells", "", "x"]
    col = pa.chunked_array([pa.array([None if rng.random() < 0.1 else words[k] for k in rng.integers(0, 9, 300)])])
    buy, sell = ps._buys_and_sells(*ps._buffers(col))
    assert buy.tolist() == pc.fill_null(pc.equal(col, "buy"), False).to_pylist()
    assert sell.tolist() == pc.fill_null(pc.equal(col, "sell"), False).to_pylist()


@pytest.mark.parametrize("chunks", [1, 3])
def test_priced_reads_the_validity_of_each_placement(chunks: int) -> None:
    rng = np.random.default_rng(chunks)
    prices = [None if rng.random() < 0.3 else float(k) for k in range(301)]
    cut = [0, 120, 121, 301] if chunks == 3 else [0, 301]
    col = pa.chunked_array([pa.array(prices[a:z], pa.float64()) for a, z in zip(cut, cut[1:], strict=False)])
    orders = pa.table({"price": col}).slice(1)  # an offset into the first chunk too
    first_new = np.append(rng.integers(-1, 300, 100), [-1, 0, 299]).astype(np.int64)
    expect = [k >= 0 and prices[k + 1] is not None for k in first_new.tolist()]
    assert ps._priced(orders, first_new).tolist() == expect
    assert ps._priced(pa.table({"price": pa.array(np.ones(300))}), first_new).tolist() == (first_new >= 0).tolist()


# --- the evidence test on hand-built owners ---------------------------------------------------------------------

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def _market(sold_after_s: float, placed_before_s: float) -> ScenarioMarket:
    """An owner with a slow pace of sales and one big buy order standing 10 s, while (or in the grace after which)
    it sells: ``sold_after_s`` after the bait's placement, of an order placed ``placed_before_s`` before the sale."""
    m = ScenarioMarket(seed=9, venues=(VENUE,), trades_per_day=3000)
    for hour in (2, 20):
        m.trade(VENUE, m.at(hour, 10), m.size * 2, m.traders[0], "E1", "buy")
    t = m.at(9)
    m.order(VENUE, "E1", t, "buy", round(m.mid(VENUE, t) * 0.9996, 6), m.size * 15, cancel_at=t + 10 * S)
    m.trade(VENUE, t + sold_after_s * S, m.size * 2, m.traders[0], "E1", "buy", passive_since=placed_before_s)
    return m.build()


@pytest.mark.parametrize(("sold_after_s", "placed_before_s", "shown"), [
    (5, 2, True),  # sold while the bait stood
    (13, 3.5, True),  # in the grace, of an order placed while the bait stood
    (13, 2, False),  # in the grace, of an order placed after the bait's cancel
    (13, 14, False),  # in the grace, of an order placed before the bait
], ids=["during", "placed-during", "placed-after", "placed-before"])
def test_an_episode_without_evidence_is_screened_out(sold_after_s: float, placed_before_s: float, shown: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner's sale is a hit in every case (an execution inside the span and grace); it is evidence only while
    the bait stands or of an order placed while it stood, and the screen says "search" exactly then."""
    part = _market(sold_after_s, placed_before_s).partition(VENUE)
    # thresholds the owner's timing passes by far, the generated market's other owners not
    config = REGISTRY.get("spoofing").default_config().model_copy(
        update={"max_coincidence": 0.01, "max_repeat_chance": 0.01})
    owners = owner_map(part, VENUE)
    with monkeypatch.context() as m:
        m.setattr(ps, "may_alert", lambda *_: True)
        cands, _ = cp._episodes(_fresh(part), config)
    assert cands.found["owner"].to_list() == ["C-HBX-E1"]  # a hit, its only one
    assert cp.coincident(cands, config).height == shown
    assert ps.may_alert(_fresh(part), config, owners) == shown
    with monkeypatch.context() as m:  # without the evidence test the screen would search every case
        m.setattr(pb, "_may_show", lambda _b, _bait, _p, passes, *_: passes)
        assert ps.may_alert(_fresh(part), config, owners)


def _fresh(part: Partition) -> Partition:
    return Partition(part.key, part.tables, part.window, part.broadcast, {})


@pytest.mark.parametrize("seed", range(6))
def test_legs_are_the_wanted_keys_legs_by_key_and_time(seed: int) -> None:
    """``_legs`` against a plain sort of every leg by key and time (stable: a key's legs at one time stay buys
    first, then in row order), on trades in time order (the counting sort) and out of it."""
    rng = np.random.default_rng(seed)
    m = 200
    ts = np.sort(rng.integers(0, 50, m)) if seed % 2 == 0 else rng.integers(0, 50, m)
    trades = pa.table({"ts": pa.array(ts, pa.timestamp("us", "UTC")), "quantity": rng.random(m)})
    buyer, seller = rng.integers(-1, 12, m), rng.integers(-1, 12, m)
    wanted = np.unique(rng.integers(0, 20, 8))
    key = np.concatenate([buyer * 2, seller * 2 + 1])
    rows = [j for j in range(2 * m) if key[j] >= 0 and key[j] in set(wanted.tolist())]
    expect = sorted(rows, key=lambda j: (key[j], ts[j % m]))
    legs = ps._legs(trades, buyer, seller, wanted)
    assert legs.order.tolist() == expect
    assert legs.key.tolist() == key[expect].tolist() and legs.ts.tolist() == ts[np.array(expect) % m].tolist()
    assert legs.q.tolist() == trades.column("quantity").to_numpy()[np.array(expect) % m].tolist()


def test_median_is_numpy_s() -> None:
    rng = np.random.default_rng(5)
    assert ps._median(np.zeros(0)) == 0.0
    for n in (1, 2, 3, 10, 11, 1000, 1001):
        for x in (rng.random(n), rng.integers(0, 5, n).astype(np.float64)):
            assert ps._median(x.copy()) == np.median(x), n
