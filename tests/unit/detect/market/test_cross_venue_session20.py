"""Cross-venue's partitions are one symbol's venue partitions put together (``local._coarser_partitions``) and put in
canonical order by ``row_order.sort_rows``, which now leaves out of its take the columns the caller names constant
(the symbol) and writes the time column from the sorted times it already holds (``_moved``). Checked against the old
``sort_rows`` (session 19's, kept here as the reference: a take of every column) on random pieces: one venue a piece,
pieces in any venue order (so tied times are sometimes out of key order and the key sort runs), several chunks,
slices, ties, long and short ids, nulls where the contract allows them, a time zone and none; order events, whose
key holds the time again."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from harbour.data.row_order import _plain, runs_in_key_order, sort_columns, sort_rows
from harbour.data.schemas import TABLES


def _old_sort_rows(data: pa.Table, table: str, constant: Collection[str] = ()) -> pa.Table:
    """Session 19's ``sort_rows``: every column taken when the order changes."""
    cols = sort_columns(table)
    n = data.num_rows
    if n < 2 or not cols:
        return data
    first = data.column(cols[0])
    if not pa.types.is_timestamp(first.type) or first.null_count:
        return data.take(pc.sort_indices(_plain(data.select(cols)), sort_keys=[(c, "ascending") for c in cols]))
    t = pc.cast(first, pa.int64()).to_numpy()
    order: np.ndarray | None = None
    if (t[1:] < t[:-1]).any():
        order = np.argsort(t, kind="stable")
        t = t[order]
    tie = t[1:] == t[:-1]
    if len(cols) > 1 and tie.any():
        moved = data if order is None else data.take(pa.array(order))
        if runs_in_key_order(moved, [c for c in cols[1:] if c not in constant], np.flatnonzero(tie)):
            return moved
    if len(cols) > 1 and tie.any():
        tied = np.zeros(n, dtype=bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        pos = np.flatnonzero(tied)
        rows = pos if order is None else order[pos]
        sub = pc.sort_indices(_plain(data.select(cols).take(pa.array(rows))),
                              sort_keys=[(c, "ascending") for c in cols])
        if order is None:
            order = np.arange(n)
        order[pos] = rows[sub.to_numpy()]
    if order is None or (order == np.arange(n)).all():
        return data
    return data.take(pa.array(order))


def _ids(rng: np.random.Generator, n: int, long: bool) -> list[str]:
    """Ids of 1-3 digits (many alike: ties on the key) or, ``long``, of 14-40 characters sharing a long prefix."""
    if long:
        return ["X" * int(rng.integers(12, 30)) + str(int(v)) for v in rng.integers(0, 50, n)]
    return [str(int(v)) for v in rng.integers(0, 300, n)]


def _trades_piece(rng: np.random.Generator, venue: str, symbol: str, n: int, tz: str | None, long: bool,
                  nulls: bool) -> pa.Table:
    """One venue-symbol-day partition of trades in canonical order (time, venue, trade id), in 1-3 chunks."""
    ts = np.sort(rng.integers(0, max(n // 3, 1), n)) * 1_000_000 + 1_767_571_200_000_000  # many tied times
    schema = TABLES["trades"].schema
    kind = pa.timestamp("us", tz=tz)
    cols = {
        "venue": pa.array([venue] * n), "symbol": pa.array([symbol] * n),
        "trade_id": pa.array(_ids(rng, n, long)), "ts": pa.array(ts, kind),
        "price": pa.array(rng.random(n)), "quantity": pa.array(rng.random(n) + 1.0),
        "buyer": pa.array(_ids(rng, n, long)), "seller": pa.array(_ids(rng, n, long)),
        "aggressor": pa.array([None if nulls and v < 0.2 else ("buy" if v < 0.6 else "sell") for v in rng.random(n)]),
        "buy_order_id": pa.array([None if nulls and v < 0.1 else str(int(v * 1e6)) for v in rng.random(n)]),
        "sell_order_id": pa.array([str(int(v * 1e6)) for v in rng.random(n)]),
    }
    table = pa.table(cols, schema=pa.schema([schema.field(c).with_type(kind) if c == "ts" else schema.field(c)
                                             for c in cols]))
    table = table.sort_by([("ts", "ascending"), ("venue", "ascending"), ("trade_id", "ascending")])
    cuts = sorted(set(int(c) for c in rng.integers(0, n + 1, int(rng.integers(0, 3)))))
    bounds = [0, *cuts, n]
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
                            or [table.slice(0, 0)])


def _orders_piece(rng: np.random.Generator, venue: str, n: int) -> pa.Table:
    """One venue's order events in canonical order (time, venue, order id, time, event, quantity), nulls in price."""
    ts = np.sort(rng.integers(0, max(n // 4, 1), n)) * 1000 + 1_767_571_200_000_000
    cols = {
        "venue": pa.array([venue] * n), "symbol": pa.array(["ETH/USD"] * n),
        "order_id": pa.array(_ids(rng, n, bool(rng.random() < 0.5))),
        "account": pa.array(_ids(rng, n, False)), "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "event": pa.array(rng.choice(["new", "fill", "cancel"], n).tolist()),
        "side": pa.array(rng.choice(["buy", "sell"], n).tolist()),
        "order_type": pa.array(["limit"] * n),
        "price": pa.array([None if v < 0.3 else float(v) for v in rng.random(n)], pa.float64()),
        "quantity": pa.array(rng.integers(0, 3, n).astype(np.float64)),
    }
    table = pa.table(cols)
    return table.sort_by([(c, "ascending") for c in sort_columns("orders")])


@pytest.mark.parametrize("seed", range(40))
def test_merged_trades_match_the_old_sort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    venues = ["BINANCE", "COINBASE", "KRAKEN", "OKX"][: int(rng.integers(1, 5))]
    rng.shuffle(venues)  # pieces in any venue order: tied times across venues then need the key sort
    tz = None if seed % 5 == 0 else "UTC"
    pieces = [_trades_piece(rng, v, "BTC/USD", int(rng.integers(0, 60)), tz, seed % 3 == 0, seed % 2 == 0)
              for v in venues]
    data = pa.concat_tables(pieces)
    if seed % 4 == 1 and data.num_rows > 4:
        data = data.slice(2)  # offset arrays
    for constant in ((), ("symbol",), ("symbol", "date")):
        new, old = sort_rows(data, "trades", constant=constant), _old_sort_rows(data, "trades", constant=constant)
        assert new.schema == old.schema
        assert new.equals(old)
        assert new.equals(data.sort_by([(c, "ascending") for c in sort_columns("trades")]))


@pytest.mark.parametrize("seed", range(20))
def test_merged_orders_match_the_old_sort(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    data = pa.concat_tables([_orders_piece(rng, v, int(rng.integers(1, 80))) for v in ("B", "A", "C")])
    new = sort_rows(data, "orders", constant=("symbol",))
    assert new.equals(_old_sort_rows(data, "orders", constant=("symbol",)))
    assert new.equals(data.sort_by([(c, "ascending") for c in sort_columns("orders")]))


def test_a_constant_column_is_kept_as_it_is_and_the_rest_moved() -> None:
    """The symbol's buffers are the input's (not taken); the other columns are moved, as the old sort moved them."""
    rng = np.random.default_rng(7)
    data = pa.concat_tables([_trades_piece(rng, v, "SOL/USD", 50, "UTC", False, True) for v in ("OKX", "BINANCE")])
    out = sort_rows(data, "trades", constant=("symbol",))
    assert out.equals(_old_sort_rows(data, "trades"))
    assert not out.equals(data)  # the order changed: a take happened

    def addresses(table: pa.Table, name: str) -> list[int]:
        return [b.address for chunk in table[name].chunks for b in chunk.buffers() if b is not None]

    assert addresses(out, "symbol") == addresses(data, "symbol")
    assert addresses(out, "buyer") != addresses(data, "buyer")


@pytest.mark.parametrize("seed", range(10))
def test_times_in_order_but_ties_out_of_key_order(seed: int) -> None:
    """Times already in order (read straight off the column's buffer) with tied runs shuffled: only the key sort
    moves rows (rows alike on the whole key stay in their order, as a stable sort keeps them)."""
    rng = np.random.default_rng(200 + seed)
    piece = _trades_piece(rng, "KRAKEN", "XRP/USD", 60, "UTC", seed % 2 == 0, True)
    ts = pc.cast(piece["ts"], pa.int64()).to_numpy()
    order = np.lexsort((rng.random(ts.size), ts))  # times kept, ties shuffled
    data = piece.take(pa.array(order))
    new = sort_rows(data, "trades", constant=("symbol",))
    assert new.equals(_old_sort_rows(data, "trades", constant=("symbol",)))
    assert new.equals(data.sort_by([(c, "ascending") for c in sort_columns("trades")]))
    assert not new.equals(data) or data.equals(piece)
