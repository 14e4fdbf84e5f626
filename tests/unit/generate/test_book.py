"""The matching engine: price-time priority, partial fills, cancels, amends, self-trade prevention, and market
makers replenishing quotes that were taken."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.data.generate.book import (
    AMEND,
    BUY,
    CANCEL,
    EV_AMEND,
    EV_CANCEL,
    EV_EXPIRE,
    EV_FILL,
    EV_NEW,
    LIMIT,
    MARKET,
    NEW,
    SELL,
    BookResult,
    Replenish,
    run_book,
)


def play(rows: list[tuple], replenish: Replenish | None = None) -> BookResult:
    """rows: (ts, kind, key, side, type, px, lots, acct)."""
    cols = [np.array([r[i] for r in rows], dt) for i, dt in
            enumerate((np.int64, np.int8, np.int64, np.int8, np.int8, np.int64, np.int64, np.int32))]
    n_keys = int(cols[2].max()) + 1
    return run_book(*cols, n_keys, 0, 1000, 100_000_000, replenish)


def test_price_then_time_priority_and_partial_fill() -> None:
    res = play([
        (1, NEW, 0, SELL, LIMIT, 101, 5, 1),
        (2, NEW, 1, SELL, LIMIT, 100, 5, 2),  # better price: first in line despite arriving later
        (3, NEW, 2, SELL, LIMIT, 100, 5, 3),  # same price, later: after key 1
        (4, NEW, 3, BUY, MARKET, 0, 12, 4),
    ])
    assert list(res.tr_sell) == [1, 2, 0]
    assert list(res.tr_lots) == [5, 5, 2]
    assert list(res.tr_px) == [100, 100, 101]
    assert set(res.tr_aggr) == {BUY}
    fills = [(int(k), int(q)) for k, e, q in zip(res.ev_key, res.ev_kind, res.ev_lots, strict=True) if e == EV_FILL]
    assert (0, 3) in fills and (3, 0) in fills  # maker 0 keeps 3 open; the taker is done
    assert res.ev_kind[-1] == EV_EXPIRE and res.ev_key[-1] == 0  # the rest expires at the end of the day


def test_cancel_amend_and_self_trade_prevention() -> None:
    res = play([
        (1, NEW, 0, BUY, LIMIT, 99, 4, 1),
        (2, NEW, 1, BUY, LIMIT, 98, 4, 2),
        (3, CANCEL, 1, BUY, LIMIT, 0, 0, 2),
        (4, AMEND, 0, BUY, LIMIT, 99, 2, 1),  # size down keeps priority
        (5, NEW, 2, SELL, LIMIT, 99, 3, 1),  # same account as the resting bid: the bid is cancelled, no trade
        (6, CANCEL, 1, BUY, LIMIT, 0, 0, 2),  # already cancelled: nothing happens
    ])
    assert len(res.tr_ts) == 0
    kinds = [(int(k), int(e), int(q)) for k, e, q in zip(res.ev_key, res.ev_kind, res.ev_lots, strict=True)]
    assert kinds[:5] == [(0, EV_NEW, 4), (1, EV_NEW, 4), (1, EV_CANCEL, 0), (0, EV_AMEND, 2), (2, EV_NEW, 3)]
    assert (0, EV_CANCEL, 0) in kinds  # self-trade prevention
    assert kinds[-1] == (2, EV_EXPIRE, 0)


orders = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(90, 110), st.integers(1, 20),
                            st.integers(0, 3), st.booleans()), min_size=1, max_size=60)


# --- market makers replenish ------------------------------------------------------------------------------------
US = 1_000_000
MM = 7  # the market maker's account


def makers(n_keys: int, slots: dict[int, int], seed: int = 5, mid: float = 500.0) -> Replenish:
    """Keys in ``slots`` are market-maker quotes (slot 0: at the touch, slot 1: one level out) in a book whose
    mid stands at ``mid`` ticks with a 1 % half-spread, quotes of about $5,000 (10 lots at 500)."""
    slot = np.full(n_keys, -1, np.int32)
    for k, sl in slots.items():
        slot[k] = sl
    return Replenish(slot, np.array([1.0, 1.0]), np.array([0.0, 1.0]), np.array([5_000.0, 5_000.0]),
                     np.full(86_400, mid), np.full(1_440, 0.01), 1.0, 1.0, seed, last_us=86_398 * US)


def events(res: BookResult) -> list[tuple[int, int, int, int, int]]:
    return [(int(t), int(k), int(e), int(p), int(q)) for t, k, e, p, q in
            zip(res.ev_ts, res.ev_key, res.ev_kind, res.ev_px, res.ev_lots, strict=True)]


def test_a_filled_quote_is_replaced_after_a_delay_at_the_slot_price() -> None:
    rows = [
        (1 * US, NEW, 0, BUY, LIMIT, 495, 4, MM),  # the maker's bid at the touch
        (2 * US, NEW, 1, SELL, MARKET, 0, 4, 1),  # takes all of it
        (60 * US, CANCEL, 0, BUY, LIMIT, 0, 0, MM),  # the maker's next re-quote pulls "its bid"
    ]
    res = play(rows, makers(2, {0: 0}))
    ev = events(res)
    assert list(res.rep_root) == [0]  # one replacement, key 2, descending from key 0
    new = [e for e in ev if e[1] == 2 and e[2] == EV_NEW]
    assert len(new) == 1
    t, _, _, px, lots = new[0]
    assert 2 * US + 1_000 <= t < 60 * US  # at least a millisecond later
    assert px == 495  # floor(500 x (1 - 1 %)): the bid side, the slot's distance from the mid
    assert lots >= 1
    assert (60 * US, 2, EV_CANCEL, 495, 0) in ev  # the maker's cancel of the filled order pulls its replacement
    assert list(res.per_key(np.array([10, 11], np.int32))) == [10, 11, 10]  # the replacement is the maker's


def test_no_replacement_for_partial_fills_or_ordinary_orders() -> None:
    rows = [
        (1 * US, NEW, 0, BUY, LIMIT, 495, 4, MM),
        (2 * US, NEW, 1, SELL, MARKET, 0, 3, 1),  # leaves one lot: nothing to replenish
        (3 * US, NEW, 2, SELL, LIMIT, 505, 2, 2),  # an ordinary offer
        (4 * US, NEW, 3, BUY, MARKET, 0, 2, 3),
    ]
    res = play(rows, makers(4, {0: 0}))
    assert len(res.rep_root) == 0
    assert max(int(k) for k in res.ev_key) == 3


def test_a_requote_while_the_replacement_is_pending_supersedes_it() -> None:
    fill = [(1 * US, NEW, 0, BUY, LIMIT, 495, 4, MM), (2 * US, NEW, 1, SELL, MARKET, 0, 4, 1)]
    cancelled = play([*fill, (2 * US + 10, CANCEL, 0, BUY, LIMIT, 0, 0, MM)], makers(2, {0: 0}))
    assert len(cancelled.rep_root) == 0  # pulled before it was posted: it never shows
    assert max(int(k) for k in cancelled.ev_key) == 1
    amended = play([*fill, (2 * US + 10, AMEND, 0, BUY, LIMIT, 493, 6, MM)], makers(2, {0: 0}))
    assert list(amended.rep_root) == [0]
    assert (2 * US + 10, 2, EV_NEW, 493, 6) in events(amended)  # the amend's price and size, as a new order


def test_a_replacement_that_is_filled_is_replaced_again_and_draws_are_reproducible() -> None:
    rows = [
        (1 * US, NEW, 0, SELL, LIMIT, 510, 2, MM),  # offer one level out (slot 1)
        (2 * US, NEW, 1, BUY, MARKET, 0, 2, 1),
        (30 * US, NEW, 2, BUY, MARKET, 0, 10_000, 2),  # takes the replacement (and anything else)
    ]
    res = play(rows, makers(3, {0: 1}))
    assert list(res.rep_root) == [0, 0]  # key 3 replaced key 0, key 4 replaced key 3
    offers = [e for e in events(res) if e[1] in (3, 4) and e[2] == EV_NEW]
    assert len(offers) == 2
    assert all(513 <= e[3] <= 518 for e in offers)  # ceil(500 x (1 + 1 % x (1 + 1 x (1.5 + U))))
    again = play(rows, makers(3, {0: 1}))
    assert events(again) == events(res)
    other = play(rows, makers(3, {0: 1}, seed=6))
    assert events(other) != events(res)  # the delays, level jitters and sizes come from the seed


def test_nothing_is_replenished_after_the_last_instruction_time() -> None:
    late = makers(2, {0: 0})
    late = Replenish(late.slot, late.width, late.level, late.usd, late.mid, late.half, 1.0, 1.0, 5, last_us=3 * US)
    res = play([(1 * US, NEW, 0, BUY, LIMIT, 495, 4, MM), (2_999_999, NEW, 1, SELL, MARKET, 0, 4, 1)], late)
    assert len(res.rep_root) == 0


@settings(max_examples=60, deadline=None)
@given(orders)
def test_conservation_and_no_crossed_trades(spec: list[tuple]) -> None:
    """Random books where account 0 is a market maker whose limit orders are replenished when filled."""
    rows, t = [], US
    for key, (side, otype, px, lots, acct, cancel) in enumerate(spec):
        rows.append((t, NEW, key, side, otype, px, lots, acct))
        t += 50_000
        if cancel:
            rows.append((t, CANCEL, key, side, LIMIT, 0, 0, acct))
            t += 50_000
    quotes = {k: int(o[0]) for k, o in enumerate(spec) if o[4] == 0 and o[1] == LIMIT}  # bids slot 0, offers 1
    rp = makers(len(spec), quotes, mid=100.0)
    res = play(rows, rp)
    side, otype, px, lots, acct = (res.per_key(np.array([o[i] for o in spec])) for i in (0, 1, 2, 3, 4))
    for k, e, p, q in zip(res.ev_key, res.ev_kind, res.ev_px, res.ev_lots, strict=True):
        if k >= len(spec) and e == EV_NEW:  # a replacement: priced and sized by the engine
            px[k], lots[k] = p, q
    assert np.all(rp.slot[res.rep_root] >= 0)  # only market makers' quotes are replenished
    filled = np.zeros(len(side), np.int64)
    np.add.at(filled, res.tr_buy, res.tr_lots)
    np.add.at(filled, res.tr_sell, res.tr_lots)
    assert np.all(filled <= lots)
    for b, s, p in zip(res.tr_buy, res.tr_sell, res.tr_px, strict=True):
        assert side[b] == BUY and side[s] == SELL
        assert acct[b] != acct[s]  # never a trade with oneself
        if otype[b] == LIMIT:
            assert p <= px[b]
        if otype[s] == LIMIT:
            assert p >= px[s]
    keys = set(zip(res.ev_key.tolist(), res.ev_ts.tolist(), res.ev_kind.tolist(), strict=True))
    assert len(keys) == len(res.ev_key)  # (order, time, event) is unique
    assert np.all(np.diff(res.ev_ts[res.ev_kind != EV_EXPIRE]) >= 0)  # events come out in time order


def test_a_quote_filled_on_arrival_against_a_cheaper_order_is_replaced_too() -> None:
    rows = [
        (1 * US, NEW, 0, SELL, LIMIT, 490, 20, 1),  # an offer below where the maker bids
        (2 * US, NEW, 1, BUY, LIMIT, 495, 4, MM),  # the maker's bid crosses it and fills in full
    ]
    res = play(rows, makers(2, {1: 0}))
    assert list(res.tr_buy[:2]) == [1, 2]  # key 2 replaced key 1 and crossed the offer again
    assert set(res.rep_root.tolist()) == {1}
    assert res.tr_lots.sum() == 20  # the maker kept buying the cheap offer until none was left
    first = [e for e in events(res) if e[1] == 2 and e[2] == EV_NEW]
    assert len(first) == 1 and first[0][3] == 495 and first[0][0] > 2 * US
