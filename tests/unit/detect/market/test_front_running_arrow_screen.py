"""Front running's screens read off the Arrow trades before any frame is built (``arrow_trade_arrays``: each leg's
owner as its ``frames.leg_owners`` code, written as an 8-byte string) give what they give on the owned trades frame:

- the trades' arrays are the frame's (rows kept, times, quantities, aggressors, order ids, trade ids), and owners
  group alike (equal codes exactly where ``with_owner`` writes equal names), on random markets full of the awkward:
  accounts the accounts table does not know (one named like a customer), customers holding several accounts,
  trades within one owner, null aggressors, time ties, integer quantities;
- the screens' verdict (``_Screen.orders``), their large orders (``unplaced``) and their legs (what the kernel reuses
  past them) are the frame path's, with the default config and with a loose one that lets most partitions through;
- the tables the Arrow path cannot be sure of answer None (the frame's arrays decide): null order ids, rows out of
  time order or with ties out of trade id order (``frame`` sorts them), times not in microseconds of UTC, an account
  ``leg_owners`` cannot code (a null);
- the kernel's alerts are those of the frame path and of the full path (the screens forced open), on random markets
  and on the scenario markets with runners.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_orders as fro
from harbour.data.schemas import ORDERS, TRADES
from harbour.detect.framework import REGISTRY, Partition, Window

from .test_front_running_screens import MARKETS, _strings

VENUE = "HBX"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
DETECTOR = REGISTRY.get("front_running")
# Thresholds that let most random partitions past the screens (so the kernel reuses their legs and large orders).
LOOSE = fr.FrontRunningConfig(size_multiple=2.0, min_position_multiple=0.5, min_ratio=1e-3, max_ratio=10.0,
                              min_share=1e-3, min_unwind=0.05, max_unwind=50.0, min_aggressive=0.0,
                              max_coincidence=1.0, into_max_coincidence=1.0, min_move=-1.0)


def _random_part(rng: np.random.Generator, n: int, *, int_qty: bool = False) -> Partition:
    """A venue-symbol-day of ``n`` random trades in the frame's order (time, then trade id; many ties): accounts
    some of which one customer holds several of, some unknown to the accounts table (one of them named like a
    customer, so with_owner names it as that customer), trades within one owner, null aggressors; and order events:
    placements of most takers' orders (some placed larger than they filled), other events, and large market orders
    that filled nothing."""
    accounts = [f"A{i}" for i in range(int(rng.integers(3, 30)))] + ["C1"]
    linked = [a for a in accounts[:-1] if rng.random() < 0.6]
    customers = [f"C{int(rng.integers(0, 4))}" for _ in linked]  # a few customers, several accounts each
    buyer, seller = rng.choice(accounts, n), rng.choice(accounts, n)
    for i in np.flatnonzero(rng.random(n) < 0.08):
        seller[i] = buyer[i]  # one account both sides
    seconds = rng.choice([0, 0, 1, 2, 5, 30], n).cumsum()
    n_orders = max(n // 3, 1)
    buy_ids = [f"b{k}" for k in rng.integers(0, n_orders, n)]
    sell_ids = [f"s{k}" for k in rng.integers(0, n_orders, n)]
    quantity = rng.choice([1.0, 2.0, 3.0, 40.0, 90.0], n) * (1.0 if int_qty else rng.choice([1.0, 1.25], n))
    trades = pa.table({
        "venue": [VENUE] * n, "symbol": ["X/USD"] * n, "trade_id": [f"t{i:05d}" for i in range(n)],
        "ts": pa.array([T0 + dt.timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", "UTC")),
        "price": 100 + rng.random(n), "quantity": quantity, "buyer": buyer.tolist(), "seller": seller.tolist(),
        "aggressor": [None if rng.random() < 0.06 else s for s in rng.choice(["buy", "sell"], n).tolist()],
        "buy_order_id": buy_ids, "sell_order_id": sell_ids}, schema=TRADES)
    if int_qty:
        trades = trades.set_column(trades.column_names.index("quantity"), "quantity",
                                   pa.array(quantity.astype(np.int64)))
    acc = pa.table({"venue": [VENUE] * len(linked), "account": linked, "customer_id": customers},
                   schema=pa.schema([(c, pa.string()) for c in ("venue", "account", "customer_id")]))
    return Partition({"venue": VENUE, "symbol": "X/USD", "date": T0.date()},
                     {"trades": trades, "orders": _orders(rng, trades, accounts)},
                     Window(T0, T0 + dt.timedelta(days=1)), {"accounts": acc})


def _orders(rng: np.random.Generator, trades: pa.Table, accounts: list[str]) -> pa.Table:
    """Placements of 80% of the trades' orders (up to a minute before their first fill, of the size filled or up to
    ten times it), a fill event per placement, and market orders of no trade (``m``: large ones among them)."""
    first: dict[str, dt.datetime] = {}
    filled: dict[str, float] = {}
    for side in ("buy", "sell"):
        for oid, ts, q in zip(trades[f"{side}_order_id"].to_pylist(), trades["ts"].to_pylist(),
                              trades["quantity"].to_pylist(), strict=True):
            if oid is not None:
                first.setdefault(oid, ts)
                filled[oid] = filled.get(oid, 0.0) + float(q)
    rows: list[dict[str, Any]] = []
    for oid in sorted(first):
        if rng.random() < 0.8:
            placed = first[oid] - dt.timedelta(seconds=int(rng.integers(0, 60)))
            size = filled[oid] * float(rng.choice([1.0, 1.0, 3.0, 10.0]))
            for event, ts in (("new", placed), ("fill", first[oid])):
                rows.append({"order_id": oid, "account": str(rng.choice(accounts)), "ts": ts, "event": event,
                             "side": "buy" if oid[0] == "b" else "sell",
                             "order_type": str(rng.choice(["limit", "market"])), "quantity": size})
    for k in range(int(rng.integers(0, 4))):
        rows.append({"order_id": f"m{k}", "account": str(rng.choice(accounts)),
                     "ts": T0 + dt.timedelta(seconds=int(rng.integers(0, 3000))), "event": "new",
                     "side": str(rng.choice(["buy", "sell"])), "order_type": "market",
                     "quantity": float(rng.choice([1.0, 5000.0]))})
    cols = {name: [r.get(name) for r in rows] for name in ORDERS.names}
    cols["venue"], cols["symbol"] = [VENUE] * len(rows), ["X/USD"] * len(rows)
    return pa.table(cols, schema=ORDERS)


def _without_orders(part: Partition) -> Partition:
    return dataclasses.replace(part, tables={"trades": part.tables["trades"]}, shared={})


def _fresh(part: Partition) -> Partition:
    return dataclasses.replace(part, shared={})


def _with_trades(part: Partition, trades: pa.Table) -> Partition:
    return dataclasses.replace(part, tables={**part.tables, "trades": trades}, shared={})


def _column_set(part: Partition, name: str, values: list[Any]) -> Partition:
    trades = part.tables["trades"]
    field = trades.schema.field(name)
    return _with_trades(part, trades.set_column(trades.column_names.index(name), field,
                                                pa.array(values, field.type)))


def _frame_arrays(part: Partition) -> fro.TradeArrays | None:
    return fro.trade_arrays(fr._owned(_fresh(part))[0])


def _same_grouping(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether equal values of ``a`` go exactly with equal values of ``b``."""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def _assert_arrays_alike(got: fro.TradeArrays, want: fro.TradeArrays) -> None:
    for name in ("kept", "ts", "qty", "aggressor"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert _strings(got.ids) == _strings(want.ids)
    assert _strings(got.trade_text.get()) == _strings(want.trade_text.get())
    assert _same_grouping(got.owners.hashes(), want.owners.hashes())
    assert _same_grouping(np.array(_raw(got.owners), object), np.array(_strings(want.owners), object))


def _raw(halves: fro.Halves) -> list[bytes]:
    """Each string's bytes (a code's are not all text)."""
    return [bytes(half.data[a:b]) for half in halves for a, b in zip(half.spans[0::2], half.spans[1::2], strict=True)]


def _screens(part: Partition, config: fr.FrontRunningConfig, monkeypatch: pytest.MonkeyPatch
             ) -> tuple[fr._Screen, fr._Screen]:
    """The screens off the Arrow trades, then off the frame (the Arrow path turned off)."""
    got = fr._screened(_fresh(part), config)
    with monkeypatch.context() as m:
        m.setattr(fr, "arrow_trade_arrays", lambda *_: None)
        want = fr._screened(_fresh(part), config)
    return got, want


def _assert_screens_alike(got: fr._Screen, want: fr._Screen) -> None:
    assert got.orders == want.orders
    assert (got.unplaced is None) == (want.unplaced is None)
    if got.unplaced is not None and want.unplaced is not None:
        assert got.unplaced.least == want.unplaced.least
        assert np.array_equal(got.unplaced.missed, want.unplaced.missed)
        for a, b in zip(got.unplaced.taken, want.unplaced.taken, strict=True):
            assert np.array_equal(a, b)
    assert got.legs is not None and want.legs is not None
    for name in ("order_ts", "by_time", "ts", "buy", "aggr", "qty"):
        assert np.array_equal(getattr(got.legs, name), getattr(want.legs, name)), name
    assert got.legs.timed == want.legs.timed and got.legs.halves == want.legs.halves
    assert _same_grouping(got.legs.owner, want.legs.owner)
    assert got.legs.decisions is not None and want.legs.decisions is not None
    assert _strings(got.legs.decisions) == _strings(want.legs.decisions)


@pytest.mark.parametrize("seed", range(4))
def test_the_arrow_arrays_and_screens_are_the_frame_s(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    passed = {"default": 0, "loose": 0}
    dropped = 0
    for case in range(40):
        part = _random_part(rng, int(rng.integers(10, 400)), int_qty=case % 7 == 3)
        if case % 5 == 4:  # no order events: the large orders by fills, from the frame
            part = _without_orders(part)
        got, want = fro.arrow_trade_arrays(_fresh(part), VENUE), _frame_arrays(part)
        assert got is not None and want is not None, case
        _assert_arrays_alike(got, want)
        dropped += got.kept.shape[0] < part.tables["trades"].num_rows
        for name, config in (("default", fr.FrontRunningConfig()), ("loose", LOOSE)):
            screen, frame_screen = _screens(part, config, monkeypatch)
            _assert_screens_alike(screen, frame_screen)
            passed[name] += screen.orders is None or len(screen.orders) > 0
    # the comparison saw trades within one owner, and partitions past the screens
    assert dropped > 20 and passed["loose"] > 20, (dropped, passed)


def test_the_codes_as_strings_group_as_the_codes() -> None:
    codes = np.array([0, 5, 0, 2**40 + 5, 5, 7], np.int64)
    spans = fro.code_strings(codes)
    assert [int.from_bytes(b, "little") for b in _raw(fro.Halves(spans, fro.NO_STRING))] == codes.tolist()
    hashes = spans.hashes()
    assert _same_grouping(hashes, codes)
    assert np.array_equal(spans.at(np.array([3, 1])).hashes(), hashes[[3, 1]])


def test_tables_the_arrow_path_cannot_be_sure_of_answer_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """... and the kernel's alerts on them (the frames read) are the full path's."""
    rng = np.random.default_rng(7)
    part = _random_part(rng, 300)
    assert fro.arrow_trade_arrays(_fresh(part), VENUE) is not None
    trades = part.tables["trades"]
    n = trades.num_rows
    ids = trades["buy_order_id"].to_pylist()
    unsure = {
        "null buy order id": _column_set(part, "buy_order_id", [None if i == 5 else x for i, x in enumerate(ids)]),
        "null sell order id": _column_set(part, "sell_order_id",
                                          [None if i == n - 1 else x for i, x in
                                           enumerate(trades["sell_order_id"].to_pylist())]),
        "shuffled": _with_trades(part, trades.take(pa.array(rng.permutation(n)))),
        "ties out of trade id order": _ties_reversed(part),
        "times in ns": _with_trades(part, trades.set_column(
            trades.column_names.index("ts"), "ts", trades["ts"].cast(pa.timestamp("ns", "UTC")))),
        "times not UTC": _with_trades(part, trades.set_column(
            trades.column_names.index("ts"), "ts", trades["ts"].cast(pa.timestamp("us")))),
        "null buyer": _column_set(part, "buyer", [None if i == 3 else x for i, x in
                                                  enumerate(trades["buyer"].to_pylist())]),
        "nan quantity": _column_set(part, "quantity", [float("nan") if i == 3 else x for i, x in
                                                       enumerate(trades["quantity"].to_pylist())]),
        "no venue in the key": dataclasses.replace(part, key={"symbol": "X/USD", "date": T0.date()}, shared={}),
    }
    for name, p in unsure.items():
        assert fro.arrow_trade_arrays(_fresh(p), VENUE) is None or name == "no venue in the key", name
        got, frames, full = _kernels(p, LOOSE, monkeypatch)
        assert got.equals(frames) and got.equals(full), name
    assert fr._screened(_fresh(unsure["no venue in the key"]), fr.FrontRunningConfig()).legs is not None
    # null aggressors and trades in chunks are read
    nulled = _column_set(part, "aggressor", [None] * n)
    chunked = _with_trades(part, pa.concat_tables([trades.slice(0, 100), trades.slice(100)]))
    for p in (nulled, chunked):
        got, want = fro.arrow_trade_arrays(_fresh(p), VENUE), _frame_arrays(p)
        assert got is not None and want is not None
        _assert_arrays_alike(got, want)


def _ties_reversed(part: Partition) -> Partition:
    """The trades with the first run of tied times in reverse trade id order (``frame`` sorts them back)."""
    trades = part.tables["trades"]
    ts = trades["ts"].cast(pa.int64()).to_numpy()
    at = int(np.flatnonzero(ts[1:] == ts[:-1])[0])
    stop = at + 1
    while stop + 1 < ts.shape[0] and ts[stop + 1] == ts[at]:
        stop += 1
    order = np.arange(ts.shape[0])
    order[at:stop + 1] = order[at:stop + 1][::-1]
    return _with_trades(part, trades.take(pa.array(order)))


def _kernels(part: Partition, config: fr.FrontRunningConfig, monkeypatch: pytest.MonkeyPatch
             ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The kernel's alerts; with the Arrow path turned off; with the screens forced open (the full path)."""
    got = DETECTOR.kernel(_fresh(part), config)
    with monkeypatch.context() as m:
        m.setattr(fr, "arrow_trade_arrays", lambda *_: None)
        frames = DETECTOR.kernel(_fresh(part), config)
        m.setattr(fr, "_screened", lambda *_: fr._Screen(None, None, None))
        full = DETECTOR.kernel(_fresh(part), config)
    return got, frames, full


def test_random_markets_give_the_frame_path_s_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(21)
    alerted = 0
    for case in range(30):
        part = _random_part(rng, int(rng.integers(10, 400)))
        if case % 5 == 4:
            part = _without_orders(part)
        got, frames, full = _kernels(part, LOOSE, monkeypatch)
        assert got.equals(frames) and got.equals(full), case
        alerted += got.num_rows > 0
    assert alerted > 5, alerted  # not only empty tables


@pytest.mark.parametrize("market", range(len(MARKETS)))
def test_scenario_markets_give_the_frame_path_s_alerts(market: int, monkeypatch: pytest.MonkeyPatch) -> None:
    part = MARKETS[market]().partition(VENUE)
    assert fro.arrow_trade_arrays(_fresh(part), VENUE) is not None  # the scenarios' trades are read off Arrow
    got, frames, full = _kernels(part, DETECTOR.default_config(), monkeypatch)
    assert got.equals(frames) and got.equals(full)
    screen, frame_screen = _screens(part, DETECTOR.default_config(), monkeypatch)
    _assert_screens_alike(screen, frame_screen)
