"""The matching engine: price-time priority, partial fills, cancels, amends, self-trade prevention."""

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
    run_book,
)


def play(rows: list[tuple]) -> object:
    """rows: (ts, kind, key, side, type, px, lots, acct)."""
    cols = [np.array([r[i] for r in rows], dt) for i, dt in
            enumerate((np.int64, np.int8, np.int64, np.int8, np.int8, np.int64, np.int64, np.int32))]
    n_keys = int(cols[2].max()) + 1
    return run_book(*cols, n_keys, 0, 1000, 10_000)


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


@settings(max_examples=60, deadline=None)
@given(orders)
def test_conservation_and_no_crossed_trades(spec: list[tuple]) -> None:
    rows, t = [], 1
    for key, (side, otype, px, lots, acct, cancel) in enumerate(spec):
        rows.append((t, NEW, key, side, otype, px, lots, acct))
        t += 1
        if cancel:
            rows.append((t, CANCEL, key, side, LIMIT, 0, 0, acct))
            t += 1
    res = play(rows)
    filled = np.zeros(len(spec), np.int64)
    np.add.at(filled, res.tr_buy, res.tr_lots)
    np.add.at(filled, res.tr_sell, res.tr_lots)
    for key, (_side, _otype, _px, lots, *_rest) in enumerate(spec):
        assert filled[key] <= lots
    for b, s, p in zip(res.tr_buy, res.tr_sell, res.tr_px, strict=True):
        assert spec[b][0] == BUY and spec[s][0] == SELL
        assert spec[b][4] != spec[s][4]  # never a trade with oneself
        if spec[b][1] == LIMIT:
            assert p <= spec[b][2]
        if spec[s][1] == LIMIT:
            assert p >= spec[s][2]
    keys = set(zip(res.ev_key.tolist(), res.ev_ts.tolist(), res.ev_kind.tolist(), strict=True))
    assert len(keys) == len(res.ev_key)  # (order, time, event) is unique
