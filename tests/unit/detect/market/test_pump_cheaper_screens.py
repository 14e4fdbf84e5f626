"""pump_and_dump's cheaper screens give today's answers: the per-event screen (``_may_alert``) that asks the group's
tests of the owners before their orders are coded, with its one-pass count of each owner's accumulation
(``_accumulations``); the sliding rolling median; the compiled bars; and the scan that tests a bar for a peak before
its loops over the starts. Each is compared with the formulation it replaced, written out plainly here, on random
generated markets: time ties, self-trades, customers with several accounts, accounts missing from the accounts
table, missing order ids, and (for the prices) ties, zeros of either sign, NaN and times before the epoch."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.pump_and_dump as pnd
from harbour.detect.framework import REGISTRY
from harbour.detect.market.frames import micros

from .spies import screened_and_full
from .test_fast_paths import _plain_pumps
from .test_pump_and_dump_bars import bars_frame
from .test_pump_and_dump_screen import _config, _part, _trades


def _plain_campaign(legs: pnd._Legs, event: Any, config: pnd.PumpAndDumpConfig) -> pnd._Campaign | None:
    """``_campaign`` as it was: every owner's orders coded before the tests of legs and share, in numpy over the
    data."""
    start, peak, end = (micros(t) for t in event[:3])
    lo, mid, hi = np.searchsorted(legs.us, [start, peak, end])
    if not lo < mid < hi:
        return None
    us, q = legs.us[lo:hi], legs.q[lo:hi]
    hair = 1e-8 * float(q.sum())
    high, turn, sold = pnd._one_way_owners(q, legs.buyer[lo:hi], legs.seller[lo:hi], legs.n_owners, int(mid - lo),
                                           hair, config)
    if turn.max(initial=-1) < 0:
        return None
    turn_us = np.where(turn >= 0, us[np.maximum(turn, 0)], np.iinfo(np.int64).min)
    mine = np.flatnonzero(turn[legs.buyer] >= 0)
    owner, order = legs.buyer[mine], pnd._order_codes(legs, mine)
    all_buys = pnd._distinct_per_owner(owner, order, high.size)
    early = (mine >= lo) & (mine < hi) & (legs.us[mine] <= turn_us[owner])
    buys = pnd._distinct_per_owner(owner[early], order[early], high.size)
    ok = (turn >= 0) & (buys >= config.min_member_orders)
    first_at = np.zeros(high.size, np.int64)
    found, at = np.unique(owner[early], return_index=True)
    first_at[found] = legs.us[mine[early][at]]
    cum = np.concatenate([[0.0], np.cumsum(q)])
    market = cum[np.searchsorted(us, turn_us, side="right")] - cum[np.searchsorted(us, first_at)]
    ok &= high + hair >= config.min_member_share * (market - hair)
    owners = np.flatnonzero(ok)
    paced = [pnd._paced(int(buys[o]), (int(turn_us[o]) - int(first_at[o])) // 1_000_000,
                        int(all_buys[o] - buys[o]), legs.total_s, config) for o in owners]
    owners = owners[np.array(paced, np.bool_)] if owners.size else owners
    return pnd._Campaign(owners, high, sold, turn_us, market, int(lo), int(hi), cum, hair) if owners.size else None


def _plain_group_may_pass(legs: pnd._Legs, found: pnd._Campaign, config: pnd.PumpAndDumpConfig) -> bool:
    """``_group_may_pass`` as it was: both tests read together, after the sales."""
    owners, hair = found.owners, found.hair
    us, seller = legs.us[found.lo:found.hi], legs.seller[found.lo:found.hi]
    turn_us = found.turn_us[owners]
    rows = np.flatnonzero(np.isin(seller, owners))
    last = np.full(found.bought.size, -1, np.int64)
    np.maximum.at(last, seller[rows], rows)
    sale = np.where(last[owners] >= 0, us[np.maximum(last[owners], 0)], np.iinfo(np.int64).min)
    after = found.cum[np.searchsorted(us, sale, side="right")] - found.cum[np.searchsorted(us, turn_us, side="right")]
    selling = np.where(sale > turn_us, after, 0.0)
    return all(pnd._prefix_may_pass(np.maximum(mine, 0.0), market, hair, config.min_share)
               for mine, market in ((found.bought[owners], found.market[owners]), (found.sold[owners], selling)))


def _market(seed: int) -> tuple[Any, pnd.PumpAndDumpConfig]:
    """A planted pump among other trading (``_trades``: whole-second ties, self-trades, P0 and P1 one customer, P3
    missing from the accounts table, a tenth of the order ids missing), at loose and random thresholds."""
    rng = np.random.default_rng(500 + seed)
    trades = _trades(rng, int(rng.integers(100, 2500)))
    if seed % 2:  # few buy orders filled many times (legs far above orders: the order test drops owners)
        ids = [f"o{int(rng.integers(0, 6))}" for _ in range(trades.num_rows)]
        trades = trades.set_column(trades.schema.get_field_index("buy_order_id"), "buy_order_id",
                                   pa.array(ids, pa.string()))
    part = _part(trades)
    # shares up to where the group's tests bite, and order and pace tests that drop some of the owners they see
    return part, _config(rng).model_copy(update={
        "min_share": float(rng.uniform(0.01, 0.6)), "min_member_orders": int(rng.integers(1, 9)),
        "max_coincidence": float(rng.choice([1e-9, 1e-4, 1e-2, 1.0]))})


@pytest.mark.parametrize("seed", range(48))
def test_the_screen_answers_as_the_plain_screen(seed: int) -> None:
    part, config = _market(seed)
    legs = pnd._arrow_legs(part, part.tables["trades"])
    bars = pnd._arrow_bars(part.tables["trades"], config.bar_seconds)
    assert legs is not None and bars is not None
    events = pnd._events(part, bars, config)
    assert events, "no event: the market does not exercise the screen"
    for event in events:
        plain = _plain_campaign(legs, event, config)
        owners = pnd._campaign_owners(legs, event, config)
        assert np.array_equal(owners, np.zeros(0, np.int64) if plain is None else plain.owners)
        found = pnd._campaign(legs, event, config)
        if plain is not None:
            assert found is not None
            for a, b in zip(found, plain, strict=True):
                assert np.array_equal(a, b)
        want = plain is not None and _plain_group_may_pass(legs, plain, config)
        assert pnd._may_alert(legs, event, config) == want


def test_the_plain_screen_decides_both_ways_and_the_group_test_runs_before_the_orders() -> None:
    # over the markets above some events pass the plain screen and some fail it, and some fail only at the group's
    # tests of the owners before their orders are coded (the cheaper order of the tests is exercised)
    answers, early, late = [], 0, 0
    for seed in range(48):
        part, config = _market(seed)
        legs = pnd._arrow_legs(part, part.tables["trades"])
        bars = pnd._arrow_bars(part.tables["trades"], config.bar_seconds)
        assert legs is not None and bars is not None
        for event in pnd._events(part, bars, config):
            plain = _plain_campaign(legs, event, config)
            answers.append(plain is not None and _plain_group_may_pass(legs, plain, config))
            found = pnd._sharers(legs, event, config)
            early += found is not None and not pnd._group_may_pass(legs, found.campaign, config)
            late += (found is not None and plain is not None and pnd._group_may_pass(legs, found.campaign, config)
                     and not _plain_group_may_pass(legs, plain, config))
    assert any(answers) and not all(answers) and early
    # and events whose owners pass the group's tests until the order and pace tests drop some of them
    assert late


@pytest.mark.parametrize("seed", range(12))
def test_a_group_test_no_group_of_more_owners_passes_no_group_of_fewer_passes(seed: int) -> None:
    # why the group's tests may be asked of the owners before their orders are coded: of any owners that pass, every
    # subset (as the order and pace tests leave) passes no more often, at any share
    part, config = _market(seed)
    rng = np.random.default_rng(seed)
    legs = pnd._arrow_legs(part, part.tables["trades"])
    bars = pnd._arrow_bars(part.tables["trades"], config.bar_seconds)
    assert legs is not None and bars is not None
    for event in pnd._events(part, bars, config):
        found = pnd._sharers(legs, event, config)
        if found is None:
            continue
        whole = found.campaign
        for _ in range(20):
            share = config.model_copy(update={"min_share": float(rng.uniform(0.0, 1.0))})
            some = whole._replace(owners=whole.owners[rng.random(whole.owners.size) < rng.uniform(0.1, 1.0)])
            if some.owners.size and pnd._group_may_pass(legs, some, share):
                assert pnd._group_may_pass(legs, whole, share)


@pytest.mark.parametrize("seed", range(8))
def test_the_screened_kernel_gives_the_full_paths_alerts(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    part, config = _market(seed)
    d = REGISTRY.get("pump_and_dump")
    _, screened, full = screened_and_full(monkeypatch, pnd, "_may_alert", lambda: d.kernel(part, config))
    assert screened.equals(full)


@pytest.mark.parametrize("seed", range(6))
def test_accumulations_are_the_numpy_reading(seed: int) -> None:
    # per owner: its buy legs up to its turn's time (ties in), and the first one's time; none without a turn
    rng = np.random.default_rng(seed)
    n, owners = int(rng.integers(1, 3000)), int(rng.integers(1, 60))
    us = np.sort(rng.integers(-10**7, 10**7, n) // 10**6 * 10**6)  # time ties, times before the epoch
    buyer = rng.integers(0, owners, n)
    turn_us = np.where(rng.random(owners) < 0.3, np.iinfo(np.int64).min, rng.choice(us, owners))
    count, first_at = pnd._accumulations(us, buyer, turn_us)
    for o in range(owners):
        mine = np.flatnonzero((buyer == o) & (us <= turn_us[o]))
        assert count[o] == mine.size
        assert first_at[o] == (us[mine[0]] if mine.size else 0)


def _sorting_median(x: np.ndarray, half: int) -> np.ndarray:
    """``_rolling_median`` as it was: each window sorted anew (a stable sort, as its insertion sort was)."""
    out = np.empty(x.size)
    for i in range(x.size):
        window = np.sort(x[max(0, i - half):i + half + 1], kind="stable")
        m = window.size
        a, b = window[(m - 1) // 2], window[m // 2]
        out[i] = a if m % 2 else a + (b - a) * 0.5
    return out


@pytest.mark.parametrize("seed", range(8))
def test_the_sliding_median_is_the_sorting_median_to_the_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(1, 120))
        x = rng.uniform(0.1, 1000, n) * rng.choice([1.0, 1e-7, 1e7])
        kind = rng.integers(0, 4)
        if kind == 1:
            x = np.round(x, -2)  # many ties
        elif kind == 2:
            x = np.repeat(x[: max(1, n // 8)], 8)[:n]  # flat stretches, as a thin book's filled bars
        elif kind == 3:
            x[rng.random(n) < 0.3] = 0.0
            x[rng.random(n) < 0.3] = -0.0  # zeros of either sign: equal, not the same bits
        half = int(rng.integers(0, 8))
        got, want = pnd._rolling_median(np.ascontiguousarray(x), half), _sorting_median(x, half)
        assert np.array_equal(got.view(np.int64), want.view(np.int64)), (n, half, kind)


def _numpy_bars(us: np.ndarray, price: np.ndarray, seconds: int, dtype: pl.DataType) -> pl.DataFrame:
    """``_sorted_bars`` as it was, in numpy."""
    step = seconds * 1_000_000
    bar = us // step
    last = np.flatnonzero(np.append(bar[1:] != bar[:-1], True))
    first_bar = bar[0]
    at = np.zeros(int(bar[-1] - first_bar) + 1, np.int64)
    at[bar[last] - first_bar] = last
    seen = np.zeros(at.size, bool)
    seen[bar[last] - first_bar] = True
    held = np.maximum.accumulate(np.where(seen, np.arange(at.size), 0))
    return pl.DataFrame({"ts": pl.Series((first_bar + np.arange(at.size)) * step).cast(dtype),
                         "close": price[at[held]]})


@pytest.mark.parametrize("seed", range(12))
def test_the_compiled_bars_are_the_numpy_bars(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    us = np.sort(rng.integers(-10**10, 10**10, n) // int(rng.choice([1, 10**6, 10**8])))  # ties, gaps, pre-epoch
    price = rng.integers(1, 50, n) / 7.0
    price[rng.random(n) < 0.05] = np.nan
    price = price.astype(rng.choice([np.float64, np.float32]))
    seconds = int(rng.choice([1, 60, 300]))
    dtype = pl.Datetime("us", "UTC")
    assert_frame_equal(bars_frame(pnd._sorted_bars(us, price, seconds)), _numpy_bars(us, price, seconds, dtype))
    whole = rng.integers(1, 9, n)  # whole-number prices keep their type
    assert_frame_equal(bars_frame(pnd._sorted_bars(us, whole, seconds)), _numpy_bars(us, whole, seconds, dtype))


@pytest.mark.parametrize("seed", range(16))
def test_the_peak_first_scan_is_the_plain_scan(seed: int) -> None:
    # flat tops (the peak test's ties), peaks in the last bars (the peak test's end and no bar after), NaN, and
    # plateau shares that move the trough
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(50, 2000))
    steps = rng.normal(0, 0.002, n) * (rng.random(n) < 0.6)
    for start in rng.integers(0, n, 5):
        up = int(rng.integers(3, 150))
        steps[start:start + up] += rng.uniform(0.0005, 0.005)
        steps[start + up:start + up + int(rng.integers(0, 20))] = 0.0  # a flat top
        steps[start + 2 * up:start + 3 * up] -= rng.uniform(0.0, 0.005)
    steps[-int(rng.integers(1, 40)):] += rng.uniform(0.0, 0.004)  # a rise into the last bars
    logp = np.round(np.cumsum(steps), 3)
    if seed % 3 == 0:
        logp[rng.integers(0, n, int(rng.integers(1, 30)))] = np.nan
    config = pnd.PumpAndDumpConfig(pump_minutes=float(rng.integers(5, 400)), dump_minutes=float(rng.integers(1, 400)),
                                   min_rise=float(rng.uniform(0.002, 0.05)), plateau=float(rng.uniform(0.3, 1.0)),
                                   min_giveback=float(rng.uniform(0.0, 0.6)))
    sigma = float(rng.uniform(0.0002, 0.003))
    w, d = int(config.pump_minutes), int(config.dump_minutes)
    at, by = pnd._scan(logp, sigma, w, d, config.min_rise, config.rise_sigmas, config.plateau, config.min_giveback)
    got = [(int(a[0]), int(a[1]), int(a[2]), float(b[0]), float(b[1])) for a, b in zip(at, by, strict=True)]
    assert got == _plain_pumps(logp, sigma, w, d, config)


def test_the_scans_above_find_pumps() -> None:
    # the comparison above is not of empty lists: most of its markets have events
    found = 0
    for seed in range(16):
        rng = np.random.default_rng(1000 + seed)
        logp = np.round(np.cumsum(rng.normal(0, 0.002, 500) + np.where(np.arange(500) % 200 < 60, 0.003, -0.002)), 3)
        at, _ = pnd._scan(logp, 0.001, 120, 120, 0.01, 2.0, float(rng.uniform(0.3, 1.0)), 0.3)
        found += len(at) > 0
    assert found >= 8
