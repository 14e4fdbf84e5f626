"""Cross-venue manipulation: trading on one venue to move a price that another venue uses as a reference,
and profiting on that other venue.

The defining behaviour: one owner's run of aggressive orders on venue A (``min_orders`` separate orders,
``min_share`` of A's volume while it lasts) pushes A's price away from the other venues' prices for the
same symbol — A's basis against the others moves in the push's direction by at least ``min_dislocation``
and ``min_sigmas`` times the basis noise of the hour before, against that hour's median or its trend — and
the same customer, linked across venues by ``accounts.customer_id``, trades the other way on another venue
meanwhile (selling there while A is pushed up, buying while it is pushed down). Arbitrage looks alike but moves
A *towards* the others.
The alert is raised on the venue that was moved (where the manipulating trades are) and names the
customer's accounts there; the explanation names the other venue. When one customer's runs on two venues
clash, the earlier push (by the runs' median times) is the one that moved the reference. A push beats the
owner's own pace over the day and over the hour before it; a profit leg beats the customer's own pace on the
other venue, taken as at least one order a day (and, read on its large orders only, its pace of orders of the
profit leg's size).

Partitioned by symbol and day across all venues, so every venue's prices are in one kernel.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from pydantic import BaseModel, Field

from harbour.data.arrow_strings import load_u64, one_chunk, same_bytes, string_buffers, word_of
from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    as_dt,
    clip01,
    dictionary_codes,
    ends_in_window,
    fmt_qty,
    fmt_span,
    frame,
    names,
    owner_map,
    poisson_tail,
    robust_spread,
    run_numbers,
    run_starts,
    span_seconds,
    stable_sort,
    string_ranks,
    with_owner,
)
from harbour.detect.market.lifecycles import exact_codes
from harbour.detect.market.owner_keys import accounts_found, find_keys, owner_lookup, venue_codes

TRADE_COLUMNS = ("venue", "symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller", "aggressor",
                 "buy_order_id", "sell_order_id")


class CrossVenueConfig(BaseModel):
    bar_seconds: int = Field(60, ge=1, description="bar length for comparing venue prices")
    # A push need only be *visible* in the basis: market makers re-quote around the other venues' price
    # within seconds, so a real push leaves a shift of a few noise units at most; the owner's share of the
    # venue's flow, its pace and the timed profit leg elsewhere carry the evidence.
    min_sigmas: float = Field(
        0.5, gt=0, description="shift of the venue's basis during the push against the basis noise of the hour "
        "before, scaled to the push's length (a t-statistic; 1 until 1.5: a thin token's basis wanders by a "
        "percent a minute, and a push that lifts it by half its noise still moved the reference)")
    min_dislocation: float = Field(0.0005, ge=0, description="smallest basis shift (log) worth a look: 0.05%")
    baseline_minutes: float = Field(60.0, gt=0, description="the hour before a push sets the venue's usual basis")
    max_gap_seconds: float = Field(
        300.0, gt=0, description="pause that ends one run of aggressive orders by an owner on a venue")
    min_share: float = Field(
        0.3, gt=0, le=1, description="the driving owner's aggressive volume in the push's direction, as a share of "
        "the venue's volume while the push lasts")
    min_orders: int = Field(
        3, ge=1, description="separate aggressive orders in the push (fills of one order count once)")
    max_coincidence: float = Field(
        1e-4, gt=0, le=1, description="chance that the run's orders come from the owner's own pace of such orders on "
        "that venue over the rest of the day (Poisson); a busy trader's ordinary burst is not a push")
    benefit_minutes: float = Field(
        30.0, ge=0, description="minutes around the push in which the owner's trades on another venue count")
    min_benefit_ratio: float = Field(
        0.1, ge=0, description="the owner's opposite trading on the other venues against its driving quantity; a "
        "token trade elsewhere is not a position that profits (0.25 until session 5: a push costs many small "
        "orders, the profit may be taken in a few, and its timing is tested separately)")
    max_benefit_coincidence: float = Field(
        0.01, gt=0, le=1, description="chance that the owner's opposite-side orders on the other venues in that "
        "span come from its own pace of such orders there over the rest of the day (Poisson); one customer's "
        "ordinary trading elsewhere that happens to face the push is not its profit leg")
    benefit_order_size: float = Field(
        0.5, ge=0, le=1, description="the habit test is also read on the owner's orders elsewhere of at least this "
        "share of the profit leg's median order, there and over the day (the smaller chance counts): a profit taken "
        "in a few large orders is not explained by the customer's many small ordinary ones that fall in the same "
        "hour (1.6)")
    require_benefit: bool = Field(
        True, description="require the owner's profitable trading on another venue; off = alert on any driven "
        "dislocation (broader, noisier)")


def _basis(t: pl.DataFrame, seconds: int) -> pl.DataFrame:
    """Per venue and bar: log of the venue's VWAP over the median of the OTHER venues' last VWAPs (so the
    moved venue cannot hide in its own reference; a thin venue without a trade that minute still quotes the
    price it last traded at)."""
    b = t.with_columns(bar=pl.col("ts").dt.truncate(f"{seconds}s")).group_by("venue", "bar").agg(
        vwap=(pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum())
    venues = b["venue"].unique().sort().to_list()
    wide = b.pivot(on="venue", index="bar", values="vwap").sort("bar")
    rows = []
    for v in venues:
        others = [pl.col(w).forward_fill() for w in venues if w != v]
        rows.append(wide.select("bar", venue=pl.lit(v), p=pl.col(v),
                                ref=pl.concat_list(others).list.drop_nulls().list.median()))
    long = pl.concat(rows).drop_nulls(["p", "ref"])
    return long.select("venue", "bar", dev=(pl.col("p") / pl.col("ref")).log()).sort("venue", "bar")


def _basis_shifts(before: pl.DataFrame, during: pl.DataFrame) -> list[tuple[float, float]]:
    """The venue's basis during a push (median of its bars) against its usual basis of the hour before, with that
    hour's basis noise: (shift, noise) read twice, against the hour's median and against its trend.

    The trend is the hour's robust line (Theil-Sen: the median of the slopes between its bars) carried on into
    the push's bars, the noise the robust spread of the bars about it (1.6). A venue's basis drifts over an hour
    (a thin venue catching up with the others after some other trade moved it): against the flat median a push
    that lifts a falling basis reads as no shift, or one against it, and against the trend a push along a rising
    basis does — so a push need only stand out from one of the two."""
    x = before["bar"].dt.epoch("s").to_numpy().astype(np.float64) / 60.0
    y = before["dev"].to_numpy()
    xd = during["bar"].dt.epoch("s").to_numpy().astype(np.float64) / 60.0
    yd = during["dev"].to_numpy()
    base = float(np.median(y))
    flat = (float(np.median(yd)) - base, 1.4826 * float(np.median(np.abs(y - base))) or 1e-9)
    i, j = np.triu_indices(x.size, k=1)
    slope = float(np.median((y[j] - y[i]) / (x[j] - x[i])))
    level = float(np.median(y - slope * x))
    trend = (float(np.median(yd - (level + slope * xd))), robust_spread(y - (level + slope * x)))
    return [flat, trend]


def _legs(part: Partition, trades: pl.DataFrame, found: tuple[pl.Series, pl.Series, np.ndarray] | None
          ) -> pl.DataFrame:
    """One row per trade side with the cross-venue owner (customer id), aggressive flag, order key and whether the
    owner trades the symbol on two venues or more (``multi``); ``found`` is ``_pair_owners``' answer."""
    if found is None:
        owners = owner_map(part)
        t = trades.with_columns(key=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col("buyer")]))
        t = with_owner(t, owners, "key", "owner_b").drop("key")
        t = t.with_columns(key=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col("seller")]))
        t = with_owner(t, owners, "key", "owner_s").drop("key")
    else:
        t = trades.with_columns(owner_b=found[0], owner_s=found[1])
    legs = pl.concat([
        t.select("venue", "ts", "trade_id", "quantity", account="buyer", owner="owner_b", sign=pl.lit(1),
                 aggr=pl.col("aggressor") != "sell", order=_order_key(t, "buy_order_id")),
        t.select("venue", "ts", "trade_id", "quantity", account="seller", owner="owner_s", sign=pl.lit(-1),
                 aggr=pl.col("aggressor") != "buy", order=_order_key(t, "sell_order_id")),
    ], rechunk=True)  # one chunk: rows are gathered from the legs below
    return legs.with_columns(multi=_on_two_venues(legs) if found is None else pl.Series(found[2]))


def _pair_owners(trades: pl.DataFrame, owners: pl.DataFrame) -> tuple[pl.Series, pl.Series, np.ndarray] | None:
    """The owners of the buyers and of the sellers (``venue:account`` looked up in ``owners``, the key itself when
    unknown), and per leg (buyers' legs, then sellers') whether its owner trades on two venues or more.

    Looked up once per distinct venue and account (a few thousand), not per leg: building and joining every
    leg's key, then interning every leg's owner, was a third of the detector (14 against 9 ms on a book-day of
    27k trades). The accounts are coded by Arrow's dictionary encoding (exact), the owners likewise. None when a
    venue or account is missing (the per-leg path keeps its nulls)."""
    if trades.height == 0 or any(trades[c].null_count() for c in ("venue", "buyer", "seller")):
        return None
    n = trades.height
    accounts = dictionary_codes(pl.concat([trades["buyer"], trades["seller"]]).to_arrow())
    venue, venues = string_ranks(trades["venue"])
    venue = np.concatenate([venue, venue])
    # each leg's (account, venue) pair, numbered densely in order of the pair's code
    pair = accounts.indices.to_numpy().astype(np.int64) * venues.len() + venue
    seen = np.zeros(len(accounts.dictionary) * venues.len(), np.bool_)
    seen[pair] = True
    distinct = np.flatnonzero(seen)
    pair = (np.cumsum(seen) - 1)[pair]
    keys = pl.DataFrame({"venue": venues.gather(distinct % venues.len()),
                         "account": pl.Series(accounts.dictionary).gather(distinct // venues.len())}) \
        .select(key=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col("account")]))
    # the pair's owner, or its key when the accounts table does not know it (as ``frames.with_owner``): the known
    # owners written over the keys (the map's accounts are distinct, so a key meets one at most). An inner join in
    # any row order and a scatter cost a third of the left join that keeps the keys' order (1.0 against 3.2 ms on a
    # book-day of 43k trades against 60k accounts)
    known = keys.lazy().with_row_index("row").join(owners.lazy().rename({"account": "key"}), on="key") \
        .drop_nulls("owner").collect(engine="in-memory")
    owner = keys["key"].scatter(known["row"], known["owner"])
    codes = dictionary_codes(owner.to_arrow())
    leg_owner = codes.indices.to_numpy().astype(np.int64)[pair]
    multi = _spread(leg_owner, len(codes.dictionary), venue)
    legs_owner = owner.gather(pair)
    return legs_owner[:n], legs_owner[n:], multi


def _may_push(trades: pl.DataFrame, found: tuple[pl.Series, pl.Series, np.ndarray], config: CrossVenueConfig
              ) -> bool:
    """Whether some owner's run may pass ``_pushes``' tests of its orders, share and pace, on codes (``_coded_runs``:
    the same legs, runs and distinct orders). A push needs a run of ``min_orders`` orders or more
    (``_counted_runs``), ``min_share`` of its venue's volume while it lasts, and a chance of at most
    ``max_coincidence`` at the faster of the owner's pace over the day and over the hour before (``_lead_floor``
    counts no more of the hour's orders than ``_lead_orders``, and the Poisson tail grows with the pace). Eight
    partitions in ten of the 10M-trade bench market have no such run; stopping them before the legs, sort, runs,
    shares and lead orders in Polars took the detector from 1.08 to 0.85 CPU-s over ten days of it. True (the full
    path decides) when a time, order id or quantity is missing or the times are not in microseconds. The kernel
    asks ``_may_alert`` first, which reads the same tests off the Arrow table; this is its fallback."""
    ts = trades["ts"]
    if (ts.null_count() or trades["quantity"].null_count() or getattr(ts.dtype, "time_unit", None) != "us"
            or trades["buy_order_id"].null_count() or trades["sell_order_id"].null_count()):
        return True
    aggr = trades.select(b=(pl.col("aggressor") != "sell").fill_null(False),
                         s=(pl.col("aggressor") != "buy").fill_null(False))
    rows = np.flatnonzero(np.concatenate([aggr["b"].to_numpy(), aggr["s"].to_numpy()]) & found[2])
    if rows.size == 0:
        return False
    owner = dictionary_codes(pl.concat([found[0], found[1]]).gather(rows).to_arrow()).indices.to_numpy()
    orders = pl.concat([trades["buy_order_id"], trades["sell_order_id"]]).gather(rows).to_arrow()
    venues = dictionary_codes(trades["venue"].to_arrow()).indices.to_numpy()
    t, quantity = ts.to_physical().to_numpy(), trades["quantity"].to_numpy()
    runs = _coded_runs(rows, owner, orders, venues, t, config.max_gap_seconds)
    return _passing_runs(runs, venues, t, quantity, config)[0].size > 0


def _passing_runs(runs: tuple[np.ndarray, ...], venues: np.ndarray, t: np.ndarray, quantity: np.ndarray,
                  config: CrossVenueConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of ``_coded_runs`` that may pass ``_pushes``' tests of orders, share and pace (of the trades'
    ``venues`` codes, times in microseconds and quantities): their first and last rows and their quantities."""
    rows, group, first, per_run, per_day, orders = runs
    trade = rows % t.size  # each leg's trade
    at, last = t[trade], np.append(first[1:], rows.size) - 1
    q = np.add.reduceat(quantity[trade], first)
    keep = per_run[first] >= config.min_orders
    keep[keep] = _shares(venues, t, quantity, q[keep], venues[trade[first[keep]]], at[first[keep]], at[last[keep]],
                         config.min_share)
    if not keep.any():
        return first[keep], last[keep], q[keep]
    n_run, n_day, first, last, q = per_run[first[keep]], per_day[first[keep]], first[keep], last[keep], q[keep]
    # as ``_pushes`` reads the paces (``span_seconds`` of the times)
    day = max((int(t.max()) - int(t.min())) / 1e6, 3600.0)
    dur = ((at[last] - at[first]) / 1e6).clip(60.0, None)
    pace = (n_day - n_run) * dur / np.maximum(day - dur, dur)
    lead = _lead_floor(group, orders, at, first, dt.timedelta(minutes=config.baseline_minutes)
                       // dt.timedelta(microseconds=1))
    pace = np.maximum(pace, lead * dur / (config.baseline_minutes * 60.0))
    # a hair of slack: the tail's rounding must not drop a run the full path keeps at a pace as fast or faster
    ok = np.array([poisson_tail(int(k), float(lam)) <= config.max_coincidence * (1 + 1e-9)
                   for k, lam in zip(n_run, pace, strict=True)], np.bool_)
    return first[ok], last[ok], q[ok]


def _coded_runs(rows: np.ndarray, owner: np.ndarray, order_ids: pa.Array | pa.ChunkedArray, venues: np.ndarray,
                ts: np.ndarray, max_gap_seconds: float) -> tuple[np.ndarray, ...]:
    """``_pushes``' runs on codes: of the aggressive legs of owners on two venues (``rows``: buyers' legs numbered as
    the trades, sellers' after them; their owners' codes and order ids; the trades' ``venues`` codes and times
    ``ts`` in microseconds), sorted by owner, venue, side and time: the legs' numbers, where each owner's venue and
    side starts (``group``), the rows where each run starts (``first``), per row the distinct orders of its run and
    of its group, and each row's order code."""
    n = ts.size
    venues, ts = venues[rows % n], ts[rows % n]
    by = np.lexsort((ts, rows >= n, venues, owner))
    rows, owner, venue, ts, sign = rows[by], owner[by], venues[by], ts[by], rows[by] >= n
    group = np.ones(rows.size, np.bool_)
    group[1:] = (owner[1:] != owner[:-1]) | (venue[1:] != venue[:-1]) | (sign[1:] != sign[:-1])
    cut = group.copy()
    cut[1:] |= np.diff(ts) > dt.timedelta(seconds=max_gap_seconds) // dt.timedelta(microseconds=1)
    coded = dictionary_codes(order_ids.take(pa.array(by)))
    orders = coded.indices.to_numpy().astype(np.int64)
    _, per_run, per_day = _orders_per_block(orders, len(coded.dictionary), group, cut)
    return rows, group, np.flatnonzero(cut), per_run, per_day, orders


def _may_alert(part: Partition, config: CrossVenueConfig) -> bool | None:
    """Whether the partition may give an alert, read off its Arrow trades before any frame is built: some owner's run
    passes ``_may_push``'s tests and, when a profit leg is required, the owner's opposite trading on the other venues
    around it may reach ``min_benefit_ratio`` of the run (``_push``'s first test of the profit leg). Nine partitions
    in ten of the 10M-trade bench market have no such run; stopping them before the frame, the owners' join and the
    screen on the frame took the detector from 1.8 to ~0.5 CPU-s over ten days of it. The tests are read on codes
    in the table's row order: they count orders and compare times, and the sums in another order are loosened by a
    hair of the day's volume. None (the frame path decides) when a column is missing, of another type, or holds a
    null or a quantity that is not finite."""
    trades = _arrow_trades(part)
    if trades is None:
        return None
    table, lookup, venues, venue_firsts, t, quantity = trades
    if t.size < 10 or venue_firsts.size < 2:
        # as the kernel's first test: too few trades, or one venue (an eighth of the bench partitions), told before
        # any leg's owner is coded
        return False
    owner, multi = _leg_owners(part, table, lookup, venues, venue_firsts)
    aggressive, order_ids = _aggressive_legs(table)
    rows = np.flatnonzero(aggressive & multi)
    if rows.size == 0:
        return False
    runs = _coded_runs(rows, owner[rows], order_ids.take(pa.array(rows)), venues, t, config.max_gap_seconds)
    first, last, q = _passing_runs(runs, venues, t, quantity, config)
    if first.size == 0 or not config.require_benefit:
        return first.size > 0
    legs_at = runs[0]
    pushed = legs_at[first]
    around = dt.timedelta(minutes=config.benefit_minutes) // dt.timedelta(microseconds=1)
    benefit = _benefits(owner, venues, t, quantity, owner[pushed], venues[pushed % t.size],
                        np.where(pushed < t.size, 1, -1), t[legs_at[first] % t.size] - around,
                        t[legs_at[last] % t.size] + around)
    hair = 1e-9 * float(np.abs(quantity).sum())
    return bool((benefit + hair >= np.maximum(config.min_benefit_ratio * q, 1e-12) - hair).any())


_Lookup = tuple[tuple[np.ndarray, ...], np.ndarray, dict[str, int]]


def _arrow_trades(part: Partition) -> tuple[pa.Table, _Lookup, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The trades of ``part`` as ``_may_alert`` reads them, in the table's row order: the table, the all-venue owner
    map's lookup (``owner_keys.owner_lookup``), per trade its venue code (numbered in order of first appearance), the
    first row of each venue, and per trade its time (microseconds) and quantity. None when a column is missing, of
    another type, or holds a null or a quantity that is not finite, or the map has a key twice."""
    # The runner's pieces (one venue's trades each, in canonical order), left unsorted: each test reads a venue's
    # trades in their own order (volumes, runs by owner, venue and side), and the rest are counts, sets and sums
    # loosened by a hair, so every answer is the sorted table's; the sort is then made only for the partitions
    # that pass (``local._run_kernel``).
    table = part.unordered("trades")
    strings = ("venue", "buyer", "seller", "aggressor", "buy_order_id", "sell_order_id")
    if table is None or any(c not in table.column_names for c in (*strings, "ts", "quantity")):
        return None
    ts, qty = table["ts"], table["quantity"]
    if (not all(table[c].type == pa.string() for c in strings) or qty.type != pa.float64()
            or not pa.types.is_timestamp(ts.type) or ts.type.unit != "us"
            or any(table[c].null_count for c in (*strings[:3], *strings[4:], "ts", "quantity"))):
        return None
    quantity = qty.to_numpy()
    if not np.isfinite(quantity).all():
        return None
    lookup = owner_lookup(owner_map(part))
    if lookup is None:
        return None
    venue_offsets, venue_bytes, _ = string_buffers(table["venue"].combine_chunks())
    venue, firsts = venue_codes(venue_offsets, venue_bytes)
    t = ts.to_numpy().astype("datetime64[us]").view(np.int64)
    return table, lookup, venue, firsts, t, quantity


def _aggressive_legs(table: pa.Table) -> tuple[np.ndarray, pa.ChunkedArray]:
    """Per leg of ``table``'s trades (buyers' legs numbered as the trades, sellers' after them): whether it was
    aggressive (a missing aggressor makes neither side so, as the frame's ``fill_null(False)``), and its order id."""
    offsets, data, valid = string_buffers(table["aggressor"].combine_chunks())
    aggressive = _aggressive(offsets, data, valid, np.frombuffer(b"sell", np.uint8), np.frombuffer(b"buy", np.uint8))
    return aggressive, pa.chunked_array(table["buy_order_id"].chunks + table["sell_order_id"].chunks, pa.string())


@njit(cache=True, nogil=True)
def _aggressive(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, sell: np.ndarray, buy: np.ndarray
                ) -> np.ndarray:
    """Per leg (buyers' then sellers') of the aggressor strings ``offsets``/``data`` (``valid``: empty when none is
    missing): the buyer's leg when the aggressor is not ``sell``, the seller's when it is not ``buy`` (bytes compared,
    as Arrow's ``not_equal``), neither when it is missing. One pass, where two Arrow comparisons, their null fills and
    the concatenation took 0.015 CPU-s over ten bench days' 80 partitions, this 0.009 (same answers)."""
    n = offsets.shape[0] - 1
    out = np.zeros(2 * n, np.bool_)
    for i in range(n):
        if valid.shape[0] and not valid[i]:
            continue
        a, z = offsets[i], offsets[i + 1]
        out[i] = not (z - a == sell.shape[0] and same_bytes(data, a, sell, 0, z - a))
        out[n + i] = not (z - a == buy.shape[0] and same_bytes(data, a, buy, 0, z - a))
    return out


def _leg_owners(part: Partition | None, table: pa.Table, lookup: _Lookup, venue: np.ndarray, venue_firsts: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per leg (buyers' legs numbered as the trades, sellers' after them) its owner's code, as ``_pair_owners`` names
    the owners (equal codes for equal owner ids, a ``venue:account`` the map does not know is its own owner), and
    whether that owner trades on two venues or more; ``venue``/``venue_firsts`` are ``_arrow_trades``' venue codes,
    ``lookup`` the all-venue map's (``owner_keys.owner_lookup``).

    Each distinct venue and account (a few thousand) is looked up once: in the word table of its venue's own map
    (``_venue_found``) where that map names the same owners as the all-venue one, else (or without ``part``) in a
    compiled hash table of the all-venue map's keys (``find_keys``). Building the keys and looking them up in Python
    was half of ``_may_alert``; ``find_keys`` hashes each pair's bytes one at a time and reads four arrays out of
    cache for it (~280 ns a pair on the bench's 60k-key map), the venue's word table two: the screen went from
    0.30-0.31 to 0.24-0.25 CPU-s over ten bench days (80 partitions, ~3.5k pairs each; same sitting, same owners)."""
    n_venues = venue_firsts.size
    buyers, sellers = (one_chunk(table[c]) for c in ("buyer", "seller"))
    # each leg's (account, venue) pair numbered among the distinct pairs (by venue, then first appearance), and each
    # pair's account read once, as a string array (``distinct``: the pair's number times the venues, plus its venue)
    pair, first, pair_venue = _leg_pairs(*string_buffers(buyers)[:2], *string_buffers(sellers)[:2], venue,
                                         n_venues, _ALL_BITS)
    distinct = np.arange(first.size, dtype=np.int64) * n_venues + pair_venue
    return _pairs_owned(part, table, lookup, venue_firsts, pair, _pair_accounts(buyers, sellers, first), distinct)


def _pairs_owned(part: Partition | None, table: pa.Table, lookup: _Lookup, venue_firsts: np.ndarray,
                 pair: np.ndarray, accounts: pa.Array, distinct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_leg_owners`` from each leg's pair number (``pair``) and the distinct pairs (``distinct``: an account's
    number in ``accounts`` times the venues, plus its venue): each pair's owner looked up once, then per leg."""
    (slots, hashes, key_offsets, key_bytes), code_of_key, ids = lookup
    n_venues = venue_firsts.size
    venue_names = table["venue"].take(pa.array(venue_firsts)).combine_chunks()
    code = None if part is None else _venue_found(part, ids, venue_names, accounts, distinct)
    if code is None:
        venue_offsets, venue_bytes, _ = string_buffers(venue_names)
        account_offsets, account_bytes, _ = string_buffers(accounts)
        found = find_keys(slots, hashes, key_offsets, key_bytes, venue_offsets, venue_bytes, distinct % n_venues,
                          account_offsets, account_bytes, distinct // n_venues)
        code = np.full(found.size, -1, np.int64)
        code[found >= 0] = code_of_key[found[found >= 0]]
    fresh = len(ids)
    unknown = np.flatnonzero(code < 0)
    if unknown.size:
        keys = pc.binary_join_element_wise(venue_names.take(pa.array(distinct[unknown] % n_venues)),
                                           accounts.take(pa.array(distinct[unknown] // n_venues)), ":")
        # a key the map does not know is its own owner: the customer of that id, if one is named so (keys distinct)
        for i, key in zip(unknown, keys.to_pylist(), strict=True):
            known = ids.get(key)
            code[i] = fresh if known is None else known
            fresh += known is None
    return _owners_of_pairs(pair, code, distinct % n_venues, fresh)


# ``_leg_pairs``' hash bits: all of them; the tests pass none, so that every pair meets every other in one run of slots
_ALL_BITS = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, nogil=True)
def _leg_pairs(buy_offsets: np.ndarray, buy_bytes: np.ndarray, sell_offsets: np.ndarray, sell_bytes: np.ndarray,
               venue: np.ndarray, n_venues: int, bits: np.uint64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per leg (buyers' legs numbered as the trades, sellers' after them; ``venue`` per trade) the number of its
    (account, venue) pair among the distinct pairs, numbered by venue and then by first appearance, and per pair its
    first leg and its venue. One pass (``_side_pairs``, a side at a time) through a small open-addressing table of
    the pairs (a few thousand: it stays in cache), each pair checked on its venue, length and first and last words
    (and its bytes beyond 16), where Arrow's dictionary encoding of every leg's account (~31 ns a leg) and a table of
    every account's venues (session 18's ``_dense_pairs``, ~6) took longer: ~15 ns a leg; ``_leg_owners`` 0.138 ->
    0.102 CPU-s over ten bench days (least of 7 per partition, interleaved). ``bits``: the hash bits used, all but in
    the tests."""
    n = venue.shape[0]
    pair = np.empty(2 * n, np.int64)
    # per pair: its hash, venue and length (one word), first and last words, and first leg; only found pairs written
    keys = np.empty((2 * n, 4), np.uint64)
    firsts = np.empty(2 * n, np.int64)
    slots = np.zeros(1024, np.int64)  # 0 empty, else the pair's number + 1
    sides = ((buy_offsets, buy_bytes), (sell_offsets, sell_bytes))
    count = 0
    for side in range(2):
        offsets, data = sides[side]
        at = 0
        while at < n:
            # the table is grown between passes, never inside one: an array named anew inside the legs' loop made
            # the whole pass slower (37-41 against 34 ns a leg, before the words were read in the loop itself)
            at, count = _side_pairs(offsets, data, venue, side * n, at, bits, pair, keys, firsts, slots, count,
                                    buy_offsets, buy_bytes, sell_offsets, sell_bytes)
            if 2 * count > slots.shape[0]:
                slots = _grown(keys, count, 2 * slots.shape[0])
    # numbered again by venue (a counting sort: first appearance kept within each venue)
    starts = np.zeros(n_venues + 1, np.int64)
    for k in range(count):
        starts[np.intp(keys[k, 1] >> np.uint64(32)) + 1] += 1
    starts = np.cumsum(starts)
    renumber = np.empty(count, np.int64)
    first = np.empty(count, np.int64)
    pair_venue = np.empty(count, np.int64)
    for k in range(count):
        v = np.intp(keys[k, 1] >> np.uint64(32))
        at = starts[v]
        starts[v] += 1
        renumber[k], first[at], pair_venue[at] = at, firsts[k], v
    for leg in range(2 * n):
        pair[leg] = renumber[pair[leg]]
    return pair, first, pair_venue


@njit(cache=True, nogil=True)
def _side_pairs(offsets: np.ndarray, data: np.ndarray, venue: np.ndarray, base: int, start: int, bits: np.uint64,
                pair: np.ndarray, keys: np.ndarray, firsts: np.ndarray, slots: np.ndarray, count: int,
                buy_offsets: np.ndarray, buy_bytes: np.ndarray, sell_offsets: np.ndarray, sell_bytes: np.ndarray
                ) -> tuple[int, int]:
    """``_leg_pairs``' pass over one side's accounts (``offsets``/``data``, legs numbered from ``base``) from trade
    ``start`` on: each leg's pair found in ``slots``, or added, until the table is half full; the next trade and the
    pairs' count."""
    mask = np.uint64(slots.shape[0] - 1)
    for i in range(start, venue.shape[0]):
        a, z = int(offsets[i]), int(offsets[i + 1])
        v = venue[i]
        # an account's words: of 8 bytes or more its first and last 8, which with its length hold every byte up to 16
        # (a longer one's bytes are compared on a match); shorter, its bytes and zeros (a call of its own: an inlined
        # helper holding that loop took the pass from 14 to 34 ns a leg)
        w0 = w1 = np.uint64(0)
        if z - a >= 8:
            w0 = load_u64(data, a)  # type: ignore[call-arg]
            w1 = load_u64(data, z - 8)  # type: ignore[call-arg]
        else:
            w0 = word_of(data, a, z - a)
        x = (w0 ^ (np.uint64(z - a) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(v)) * np.uint64(0xC2B2AE3D27D4EB4F)
        x ^= x >> np.uint64(29)
        x = (x ^ w1) * np.uint64(0x165667B19E3779F9)
        x = (x ^ (x >> np.uint64(32))) & bits
        tag = (np.uint64(v) << np.uint64(32)) | np.uint64(z - a)
        s = np.intp(x & mask)
        while True:
            k = slots[s] - 1
            if k < 0:
                k = count
                keys[k, 0], keys[k, 1], keys[k, 2], keys[k, 3] = x, tag, w0, w1
                firsts[k] = base + i
                slots[s] = k + 1
                count += 1
                break
            if keys[k, 0] == x and keys[k, 1] == tag and keys[k, 2] == w0 and keys[k, 3] == w1 and (
                    z - a <= 16 or _same_long(buy_offsets, buy_bytes, sell_offsets, sell_bytes, firsts[k], data, a,
                                              z - a)):
                break
            s = np.intp((np.uint64(s) + np.uint64(1)) & mask)
        pair[base + i] = k
        if 2 * count > slots.shape[0]:
            return i + 1, count
    return venue.shape[0], count


@njit(cache=True, nogil=True)
def _grown(keys: np.ndarray, count: int, size: int) -> np.ndarray:
    """``_leg_pairs``' table of ``size`` slots, its ``count`` pairs placed again by their hashes."""
    slots = np.zeros(size, np.int64)
    for k in range(count):
        s = np.intp(keys[k, 0] & np.uint64(size - 1))
        while slots[s] != 0:
            s = (s + 1) & (size - 1)
        slots[s] = k + 1
    return slots


@njit(cache=True, nogil=True)
def _same_long(buy_offsets: np.ndarray, buy_bytes: np.ndarray, sell_offsets: np.ndarray, sell_bytes: np.ndarray,
               leg: int, data: np.ndarray, a: int, length: int) -> bool:
    """Whether leg ``leg``'s account (of ``length``, over 16 bytes, its first and last words alike) holds the bytes
    ``data[a:a + length]``."""
    n = buy_offsets.shape[0] - 1
    if leg < n:
        return same_bytes(buy_bytes, buy_offsets[leg], data, a, length)  # type: ignore[no-any-return]
    return same_bytes(sell_bytes, sell_offsets[leg - n], data, a, length)  # type: ignore[no-any-return]


def _pair_accounts(buyers: pa.Array, sellers: pa.Array, first: np.ndarray) -> pa.Array:
    """The account of each pair's ``first`` leg (buyers' legs numbered as the trades, sellers' after them), as one
    string array."""
    b_off, b_bytes, _ = string_buffers(buyers)
    s_off, s_bytes, _ = string_buffers(sellers)
    large = len(b_bytes) + len(s_bytes) >= 2**31
    offsets, data = _copy_accounts(b_off, b_bytes, s_off, s_bytes, first, np.int64(0) if large else np.int32(0))
    return pa.Array.from_buffers(pa.large_string() if large else pa.string(), first.size,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


@njit(cache=True, nogil=True)
def _copy_accounts(buy_offsets: np.ndarray, buy_bytes: np.ndarray, sell_offsets: np.ndarray, sell_bytes: np.ndarray,
                   first: np.ndarray, width: np.integer) -> tuple[np.ndarray, np.ndarray]:
    """``_pair_accounts``' copy: the offsets (of ``width``'s type) and bytes of each first leg's account."""
    n = buy_offsets.shape[0] - 1
    offsets = np.zeros(first.shape[0] + 1, type(width))
    for k in range(first.shape[0]):
        leg = first[k]
        size = buy_offsets[leg + 1] - buy_offsets[leg] if leg < n else sell_offsets[leg - n + 1] - sell_offsets[leg - n]
        offsets[k + 1] = offsets[k] + size
    data = np.empty(offsets[-1], np.uint8)
    for k in range(first.shape[0]):
        leg = first[k]
        at = offsets[k]
        if leg < n:
            for p in range(buy_offsets[leg], buy_offsets[leg + 1]):
                data[at + p - buy_offsets[leg]] = buy_bytes[p]
        else:
            for p in range(sell_offsets[leg - n], sell_offsets[leg - n + 1]):
                data[at + p - sell_offsets[leg - n]] = sell_bytes[p]
    return offsets, data


def _owners_of_pairs(pair: np.ndarray, code: np.ndarray, venue: np.ndarray, n_codes: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per leg (``pair``: its pair's number) its owner's code (``code`` per pair) and whether that owner trades on two
    venues or more: read off the pairs (``venue`` per pair; ``_spread``), a few thousand, not the legs, whose pairs
    hold every venue an owner trades on."""
    on_two = _spread(code, n_codes, venue)
    return code[pair], on_two[pair]


def _venue_found(part: Partition, ids: dict[str, int], venue_names: pa.Array, accounts: pa.Array,
                 distinct: np.ndarray) -> np.ndarray | None:
    """Per distinct pair (``distinct``: an account's number in ``accounts`` times the venues, plus the venue's in
    ``venue_names``) its owner's code in the all-venue map's numbering (``ids``), or -1 when the map does not know it,
    each account found in its venue's map (``frames.owner_map(part, venue)``, keyed by bare accounts) by
    ``owner_keys.accounts_found``. None (``find_keys`` decides) unless the maps are the broadcast accounts table's and
    agree: no venue holds a colon and every key of the all-venue map has one (so ``venue:account`` names one venue and
    account, and the first row of a key is the first of its account in its venue's map), and every owner of a venue's
    map has a code in ``ids``."""
    if part.broadcast.get("accounts") is None or "accounts" in part.tables:
        return None  # a map built per call: the one all-venue map is the cheaper
    names = venue_names.to_pylist()
    everyone = owner_map(part)
    if any(":" in v for v in names) or not _one_colon(everyone):
        return None
    n_venues = len(names)
    code = np.full(distinct.size, -1, np.int64)
    for v, name in enumerate(names):
        known = _key_codes(owner_map(part, name), everyone, ids)
        if known is None:
            return None
        at = np.flatnonzero(distinct % n_venues == v)
        offsets, data, _ = string_buffers(accounts.take(pa.array(distinct[at] // n_venues)))
        found = accounts_found(known[0], offsets, data)
        code[at[found >= 0]] = known[1][found[found >= 0]]
    return code


# Per all-venue owner map, whether every key has one colon (``_one_colon``); per venue map and all-venue map, the
# venue map's key table and its keys' owner codes in the all-venue numbering (``_key_codes``). Keyed by the maps'
# ids, references kept (so the ids stay their own): ``frames.owner_map`` hands every partition of a task the same maps.
_ONE_COLON: dict[int, tuple[pl.DataFrame, bool]] = {}
_KEY_CODES: dict[tuple[int, int], tuple[pl.DataFrame, pl.DataFrame, tuple[tuple[np.ndarray, ...], np.ndarray] | None]] \
    = {}


def _one_colon(everyone: pl.DataFrame) -> bool:
    """Whether every key of the all-venue map (``venue:account``) holds exactly one colon."""
    found = _ONE_COLON.get(id(everyone))
    if found is None or found[0] is not everyone:
        keys = everyone["account"]
        ok = keys.dtype == pl.String and bool((keys.drop_nulls().str.count_matches(":", literal=True) == 1).all())
        if len(_ONE_COLON) >= 16:
            _ONE_COLON.clear()
        found = (everyone, ok)
        _ONE_COLON[id(everyone)] = found
    return found[1]


def _key_codes(venue_map: pl.DataFrame, everyone: pl.DataFrame, ids: dict[str, int]
               ) -> tuple[tuple[np.ndarray, ...], np.ndarray] | None:
    """A venue map's key table (``owner_keys.owner_lookup``) and each key's owner code in the all-venue map's
    numbering (``ids``, of ``everyone``); None when the map's columns are not text, it has a key twice, or one of its
    owners has no code in ``ids``. Made once per pair of maps."""
    found = _KEY_CODES.get((id(venue_map), id(everyone)))
    if found is None or found[0] is not venue_map or found[1] is not everyone:
        if len(_KEY_CODES) >= 16:
            _KEY_CODES.clear()
        found = (venue_map, everyone, _translated(venue_map, ids))
        _KEY_CODES[(id(venue_map), id(everyone))] = found
    return found[2]


def _translated(venue_map: pl.DataFrame, ids: dict[str, int]) -> tuple[tuple[np.ndarray, ...], np.ndarray] | None:
    """``_key_codes``' answer, made."""
    if venue_map["account"].dtype != pl.String or venue_map["owner"].dtype != pl.String:
        return None
    lookup = owner_lookup(venue_map)
    if lookup is None:
        return None
    table, code_of_key, venue_ids = lookup
    to_all = np.empty(len(venue_ids), np.int64)
    for owner, code in venue_ids.items():
        at = ids.get(owner)
        if at is None:
            return None
        to_all[code] = at
    return table, to_all[code_of_key]


@njit(cache=True, nogil=True)
def _benefits(owner: np.ndarray, venue: np.ndarray, ts: np.ndarray, quantity: np.ndarray, push_owner: np.ndarray,
              push_venue: np.ndarray, push_sign: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per push (its owner, venue, side and the span around it): the quantity of its owner's legs of the other side
    on the other venues in that span (``_push``'s ``elsewhere``), of the legs (``owner``: buyers' legs numbered as
    the trades, sellers' after them) of the trades' venues, times and quantities."""
    n = ts.shape[0]
    out = np.zeros(push_owner.shape[0])
    for j in range(push_owner.shape[0]):
        total = 0.0
        for i in range(owner.shape[0]):
            k = i % n
            if (owner[i] == push_owner[j] and (1 if i < n else -1) == -push_sign[j] and venue[k] != push_venue[j]
                    and lo[j] <= ts[k] <= hi[j]):
                total += quantity[k]
        out[j] = total
    return out


def _shares(venues: np.ndarray, ts: np.ndarray, quantity: np.ndarray, q: np.ndarray, venue: np.ndarray,
            start: np.ndarray, end: np.ndarray, min_share: float) -> np.ndarray:
    """Per run (its quantity ``q``, venue code, first and last time): whether it may be ``min_share`` of its venue's
    volume while it lasts (the trades' ``venues``, times and quantities), as ``_pushes`` reads it. Loosened by a hair
    of the venue's day volume: ``_pushes`` sums in its own order, which rounds otherwise; a NaN quantity passes, as
    NaN is the largest value in Polars' comparisons.

    The volumes come from one compiled pass (``_venue_volumes``) when each venue's times are in row order (as the
    lake's are), where a Python loop per venue (flatnonzero, a stable sort of sorted times, cumsum, searchsorted)
    took 0.015-0.016 CPU-s over ten bench days' partitions, this 0.0066 (least of 9 per partition, interleaved; the
    screen 0.207-0.271 -> 0.199-0.261, same answers). Its sums are NumPy's (the same additions in the same order),
    but its hair is a plain sum where NumPy's is pairwise: a run whose answer the hair's rounding could turn (both
    answers read at the plain sum loosened and tightened by the sums' error bound) is read again per venue, as
    ``_venue_shares``."""
    if q.size == 0 or any(a.dtype != np.int64 for a in (ts, start, end)) or quantity.dtype != np.float64:
        return _venue_shares(venues, ts, quantity, q, venue, start, end, min_share)
    in_order, vol, plain = _venue_volumes(venues.astype(np.int64), ts, quantity, int(venues.max()) + 1,
                                          venue.astype(np.int64), start, end)
    if not in_order:
        return _venue_shares(venues, ts, quantity, q, venue, start, end, min_share)
    bound = 4.0 * (ts.size + 1) * np.finfo(np.float64).eps  # both sums' rounding, relative to the sum (terms >= 0)
    lo, hi = 1e-9 * plain[venue] * (1 - bound), 1e-9 * plain[venue] * (1 + bound)
    ok = (q + lo >= min_share * (vol - lo)) | np.isnan(q)
    loose = (q + hi >= min_share * (vol - hi)) | np.isnan(q)
    unsure = ok != loose
    if unsure.any():
        ok[unsure] = _venue_shares(venues, ts, quantity, q[unsure], venue[unsure], start[unsure], end[unsure],
                                   min_share)
    return ok


@njit(cache=True, nogil=True)
def _venue_volumes(venues: np.ndarray, ts: np.ndarray, quantity: np.ndarray, n_venues: int, venue: np.ndarray,
                   start: np.ndarray, end: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
    """``_shares``' volumes: per run (venue code, first and last time) its venue's volume from ``start`` to ``end``
    (cumulative sums of each venue's quantities in row order, as ``np.cumsum``), and per venue the plain sum of its
    quantities' sizes (NaN skipped); first, False when a venue's times are not in row order (a sort would reorder
    them)."""
    n = ts.shape[0]
    at = np.zeros(n_venues + 1, np.int64)
    for i in range(n):
        at[venues[i] + 1] += 1
    for v in range(n_venues):
        at[v + 1] += at[v]
    # per venue a block of its times, and of its cumulative sums with a leading zero (one more slot per venue)
    times = np.empty(n, np.int64)
    cum = np.zeros(n + n_venues, np.float64)
    filled = at[:-1].copy()
    plain = np.zeros(n_venues, np.float64)
    for i in range(n):
        v = venues[i]
        k = filled[v]
        if k > at[v] and ts[i] < times[k - 1]:
            return False, cum[:0], plain
        times[k] = ts[i]
        cum[k + v + 1] = cum[k + v] + quantity[i]
        if not np.isnan(quantity[i]):
            plain[v] += abs(quantity[i])
        filled[v] = k + 1
    vol = np.empty(venue.shape[0], np.float64)
    for j in range(venue.shape[0]):
        v = venue[j]
        a, z = at[v], at[v + 1]
        hi = a + np.searchsorted(times[a:z], end[j], side="right")
        lo = a + np.searchsorted(times[a:z], start[j], side="left")
        vol[j] = cum[hi + v] - cum[lo + v]
    return True, vol, plain


def _venue_shares(venues: np.ndarray, ts: np.ndarray, quantity: np.ndarray, q: np.ndarray, venue: np.ndarray,
                  start: np.ndarray, end: np.ndarray, min_share: float) -> np.ndarray:
    """``_shares`` read per venue in NumPy: its trades sorted by time, cumulative sums, the hair a NumPy sum."""
    ok = np.zeros(q.size, np.bool_)
    for v in np.unique(venue):
        mine = np.flatnonzero(venues == v)
        mine = mine[np.argsort(ts[mine], kind="stable")]
        cum = np.concatenate([[0.0], np.cumsum(quantity[mine])])
        at = venue == v
        vol = cum[np.searchsorted(ts[mine], end[at], side="right")] - cum[np.searchsorted(ts[mine], start[at])]
        hair = 1e-9 * float(np.nansum(np.abs(quantity[mine])))
        ok[at] = (q[at] + hair >= min_share * (vol - hair)) | np.isnan(q[at])
    return ok


def _lead_floor(group: np.ndarray, order: np.ndarray, ts: np.ndarray, first: np.ndarray, lead: int) -> np.ndarray:
    """Per run starting at row ``first`` (rows in blocks of ``group``, by time in each): its group's orders whose
    first leg came in the ``lead`` (microseconds) before the run — at most ``_lead_orders``' count, which reads each
    order from its first leg at or after the earliest push's lead on, a time at or before this run's lead."""
    block = np.cumsum(group) - 1
    _, once = np.unique(block * (int(order.max()) + 1) + order, return_index=True)
    opened = np.zeros(ts.size + 1, np.int64)
    opened[once + 1] = 1
    opened = np.cumsum(opened)  # orders opened before each row
    starts = np.flatnonzero(group)
    out = np.empty(first.size)
    for i, row in enumerate(first):
        g0 = starts[block[row]]
        lo = g0 + np.searchsorted(ts[g0:row], ts[row] - lead, side="left")
        out[i] = opened[row] - opened[lo]
    return out


def _order_key(t: pl.DataFrame, order_id: str) -> pl.Expr:
    """A leg's order: its order id, or (none) its time stamp in microseconds. Stamps are formatted only when an
    id is missing: formatting every leg's time only to drop it is wasted work."""
    if t[order_id].null_count() == 0:
        return pl.col(order_id)
    return pl.coalesce(pl.col(order_id), pl.col("ts").cast(pl.Int64).cast(pl.String))


def _on_two_venues(legs: pl.DataFrame) -> pl.Series:
    """Per leg, whether its owner traded on two venues or more: one compiled pass on exactly interned owner ids
    (a group-by of the owners' string ids was a third of the push search); on the strings, the owner's first and
    last venue differ (the venue is a partition key of the lake, never null), when the ids cannot be interned."""
    found = exact_codes([legs["owner"].to_arrow()]) if legs.height and not legs["venue"].null_count() else None
    if found is None:
        multi = legs.group_by("owner").agg(lo=pl.col("venue").min(), hi=pl.col("venue").max()) \
            .filter(pl.col("lo") != pl.col("hi")).select("owner")
        return legs.select(pl.col("owner").is_in(multi["owner"].implode())).to_series()
    codes, firsts = found
    return pl.Series(_spread(codes, len(firsts), string_ranks(legs["venue"])[0]))


@njit(cache=True, nogil=True)
def _spread(owner: np.ndarray, n: int, venue: np.ndarray) -> np.ndarray:
    first = np.full(n, -1, np.int64)
    multi = np.zeros(n, np.bool_)
    for i in range(owner.shape[0]):
        o = owner[i]
        if first[o] < 0:
            first[o] = venue[i]
        elif venue[i] != first[o]:
            multi[o] = True
    out = np.empty(owner.shape[0], np.bool_)
    for i in range(owner.shape[0]):
        out[i] = multi[owner[i]]
    return out


def _pushes(legs: pl.DataFrame, trades: pl.DataFrame, config: CrossVenueConfig) -> pl.DataFrame:
    """Runs of aggressive one-way orders by owners who trade the symbol on two venues or more that day, with
    their share of their venue's volume while they last."""
    # owners on two venues or more (``multi``, from ``_legs``)
    runs = stable_sort(legs.filter(pl.col("aggr").fill_null(False) & pl.col("multi")),
                       ["owner", "venue", "sign", "ts"])
    if runs.height == 0:
        return runs
    gap = dt.timedelta(seconds=config.max_gap_seconds)
    # each owner's aggressive legs on a venue and side, cut into runs at pauses longer than the gap
    runs = runs.with_columns(run=run_numbers(["owner", "venue", "sign"], pl.col("ts").diff() > gap))
    pushes = _counted_runs(runs, config.min_orders)
    if pushes is None:
        pushes = _grouped_runs(runs, config.min_orders)
    if pushes.height == 0:
        return pushes
    pushes = _not_profit_legs(pushes, dt.timedelta(minutes=config.benefit_minutes))
    # The venue's volume while the push lasts, from cumulative volume (two binary searches per push).
    vol = []
    # Only the columns the volumes need are sorted and cut (the permutation depends on the time stamps alone).
    for (v,), df in trades.select("venue", "ts", "quantity").sort("ts").partition_by("venue", as_dict=True).items():
        mine = pushes.filter(pl.col("venue") == v)
        if mine.height == 0:
            continue
        ts = df["ts"].to_numpy()
        cum = np.concatenate([[0.0], np.cumsum(df["quantity"].to_numpy())])
        lo = np.searchsorted(ts, mine["start"].to_numpy(), side="left")
        hi = np.searchsorted(ts, mine["end"].to_numpy(), side="right")
        vol.append(mine.with_columns(vol=pl.Series(cum[hi] - cum[lo])))
    pushes = pl.concat(vol).filter(pl.col("q") >= config.min_share * pl.col("vol"))
    if pushes.height == 0:
        return pushes
    # The owner's own pace of such orders elsewhere in the day, and over the hour just before the run (a
    # pump's distribution, a long execution: a pace kept for an hour is no push however busy its day is
    # elsewhere), over a span as long as the run; the faster of the two is the one the run must beat.
    day = max(span_seconds(trades["ts"], 3600.0), 3600.0)
    dur = ((pushes["end"] - pushes["start"]).dt.total_microseconds().to_numpy() / 1e6).clip(60.0, None)
    pace = (pushes["day_n"].to_numpy() - pushes["n"].to_numpy()) * dur / np.maximum(day - dur, dur)
    lead = _lead_orders(runs, pushes, dt.timedelta(minutes=config.baseline_minutes))
    pace = np.maximum(pace, lead * dur / (config.baseline_minutes * 60.0))
    chance = [poisson_tail(int(n), float(lam)) for n, lam in zip(pushes["n"].to_list(), pace, strict=True)]
    return pushes.with_columns(chance=pl.Series(chance)).filter(pl.col("chance") <= config.max_coincidence)


def _grouped_runs(runs: pl.DataFrame, min_orders: int) -> pl.DataFrame:
    """The runs of at least ``min_orders`` separate orders (their size, span, median time, trades and accounts)
    with the owner's orders on that venue and side over the day (``day_n``), grouped by the owners' string ids:
    ``_counted_runs``' path when the orders cannot be interned exactly."""
    keys = ["owner", "venue", "sign"]
    day_n = runs.group_by(*keys).agg(day_n=pl.col("order").n_unique())
    return runs.group_by(*keys, "run").agg(
        n=pl.col("order").n_unique(), q=pl.col("quantity").sum(), start=pl.col("ts").min(), end=pl.col("ts").max(),
        mid=pl.col("ts").median(),
        ids=pl.col("trade_id"), accounts=pl.col("account").unique().sort(),
    ).filter(pl.col("n") >= min_orders).join(day_n, on=keys)


def _counted_runs(runs: pl.DataFrame, min_orders: int) -> pl.DataFrame | None:
    """``_grouped_runs`` (same rows and values) from one compiled pass: the legs are sorted by owner, venue, side and
    time, so each run, and each owner's venue and side, is a block of rows. Its orders are counted on exactly interned
    ids, and only the runs with enough orders are grouped — by block number, not by the owners' strings (grouping
    every run by its four keys took the detector from 1.03 to 1.37 CPU-s on the bench market, and most runs are one
    or two orders). None when a key,
    time or order id is missing (Polars' grouping reads nulls its own way)."""
    keys = ["owner", "venue", "sign"]
    if any(runs[c].null_count() for c in (*keys, "run", "ts")):
        return None
    found = exact_codes([runs["order"].to_arrow()])
    if found is None:
        return None
    codes, firsts = found
    cuts = runs.select(
        group=run_starts(keys), run=run_starts(["run"]))
    group = cuts["group"].to_numpy()
    block, n, day_n = _orders_per_block(codes, len(firsts), group, group | cuts["run"].to_numpy())
    counted = runs.with_columns(block=pl.Series(block), n=pl.Series(n, dtype=pl.UInt32),
                                day_n=pl.Series(day_n, dtype=pl.UInt32))
    return counted.filter(pl.col("n") >= min_orders).group_by("block", maintain_order=True).agg(
        *[pl.col(c).first() for c in (*keys, "run", "n")],
        q=pl.col("quantity").sum(), start=pl.col("ts").min(), end=pl.col("ts").max(), mid=pl.col("ts").median(),
        ids=pl.col("trade_id"), accounts=pl.col("account").unique().sort(), day_n=pl.col("day_n").first(),
    ).drop("block")


@njit(cache=True, nogil=True)
def _orders_per_block(order: np.ndarray, n_ids: int, group: np.ndarray, run: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (blocks of rows start where ``group`` or ``run`` holds): its run's number, and the distinct orders
    of its run and of its group."""
    rows = order.shape[0]
    in_run = np.full(n_ids, -1, np.int64)  # the last run, and group, an order was counted in
    in_group = np.full(n_ids, -1, np.int64)
    block = np.cumsum(run) - 1
    groups = np.cumsum(group) - 1
    run_n = np.zeros(rows, np.int64)
    group_n = np.zeros(rows, np.int64)
    for i in range(rows):
        o, b, g = order[i], block[i], groups[i]
        if in_run[o] != b:
            in_run[o] = b
            run_n[b] += 1
        if in_group[o] != g:
            in_group[o] = g
            group_n[g] += 1
    n = np.empty(rows, np.int64)
    day_n = np.empty(rows, np.int64)
    for i in range(rows):
        n[i] = run_n[block[i]]
        day_n[i] = group_n[groups[i]]
    return block, n, day_n


def _lead_orders(runs: pl.DataFrame, pushes: pl.DataFrame, lead: dt.timedelta) -> np.ndarray:
    """Per push: the owner's aggressive orders on that venue and side that began in the ``lead`` before it."""
    keys = ["owner", "venue", "sign"]
    # only the pushes' owners and sides, from the earliest lead on: the day's other orders are never grouped
    since = as_dt(pushes["start"].min()) - lead
    first = runs.filter(pl.col("ts") >= since).join(pushes.select(keys).unique(), on=keys, how="semi") \
        .group_by(*keys, "order").agg(ts=pl.col("ts").min())
    hits = pushes.select(*keys, "run", "start").join(first, on=keys).filter(
        (pl.col("ts") >= pl.col("start") - lead) & (pl.col("ts") < pl.col("start"))) \
        .group_by(*keys, "run").agg(lead_n=pl.len())
    return pushes.join(hits, on=[*keys, "run"], how="left")["lead_n"].fill_null(0).to_numpy().astype(float)


def _not_profit_legs(runs: pl.DataFrame, around: dt.timedelta) -> pl.DataFrame:
    """Drop a run that follows the same owner's opposite run on another venue (its orders came earlier, and it is
    still going or within ``around`` of this one's start): the profit is taken once the reference has moved, so
    the earlier run is the push and this one its profit leg — even when the push's own evidence is weaker (a thin
    venue's small shift), and the profit leg's larger orders dislocate its own venue more. "Earlier" is by the
    runs' median times, not their first trades: an ordinary trade of the owner minutes before the profit leg
    joins its run and would make the profit leg look first."""
    earlier = runs.select("owner", venue_e="venue", sign_e="sign", mid_e="mid", end_e="end")
    profit = runs.select("owner", "venue", "sign", "run", "start", "mid").join(earlier, on="owner").filter(
        (pl.col("venue_e") != pl.col("venue")) & (pl.col("sign_e") == -pl.col("sign"))
        & (pl.col("mid_e") < pl.col("mid")) & (pl.col("start") <= pl.col("end_e") + around)) \
        .select("owner", "venue", "sign", "run").unique()
    return runs.join(profit, on=["owner", "venue", "sign", "run"], how="anti")


class CrossVenueDetector(Detector[CrossVenueConfig]):
    name = "cross_venue"
    version = "1.6"
    typology = "cross_venue"
    config_model = CrossVenueConfig
    description = "One owner pushes a venue's price away from the others while trading the other way elsewhere."

    def describe(self, config: CrossVenueConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("symbol", "date"),
                        columns={"trades": TRADE_COLUMNS, "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: CrossVenueConfig) -> pa.Table:
        out = AlertBuilder(self)
        verdict = _may_alert(part, config)
        if verdict is False:
            return out.to_table()
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height < 10 or trades["venue"].n_unique() < 2:
            return out.to_table()
        for c in ("buy_order_id", "sell_order_id"):
            if c not in trades.columns:
                trades = trades.with_columns(pl.lit(None, pl.String).alias(c))
        symbol = str(part.key.get("symbol") or trades["symbol"][0])
        owned = _pair_owners(trades, owner_map(part))
        if verdict is None and owned is not None and not _may_push(trades, owned, config):
            return out.to_table()
        legs = _legs(part, trades, owned)
        pushes = _pushes(legs, trades, config)
        if pushes.height == 0:
            return out.to_table()
        basis = _basis(trades, config.bar_seconds)
        found = [f for p in pushes.iter_rows(named=True)
                 if (f := self._push(part, legs, basis, p, symbol, config)) is not None]
        for alert in _keep_moved_venue(found):
            out.add(**alert["alert"])
        return out.to_table()

    def _push(self, part: Partition, legs: pl.DataFrame, basis: pl.DataFrame, p: dict, symbol: str,
              config: CrossVenueConfig) -> dict | None:
        venue, direction = p["venue"], int(p["sign"])
        bar = dt.timedelta(seconds=config.bar_seconds)
        mine = basis.filter(pl.col("venue") == venue)
        before = mine.filter((pl.col("bar") >= p["start"] - dt.timedelta(minutes=config.baseline_minutes))
                             & (pl.col("bar") < p["start"] - bar))
        during = mine.filter((pl.col("bar") >= p["start"] - bar) & (pl.col("bar") <= p["end"]))
        if before.height < 5 or during.height == 0:
            return None
        moved = [direction * sh for sh, noise in _basis_shifts(before, during)
                 if direction * sh >= config.min_dislocation
                 and direction * sh / noise * math.sqrt(during.height) >= config.min_sigmas]
        if not moved:
            return None
        shift = moved[0]
        around = dt.timedelta(minutes=config.benefit_minutes)
        elsewhere = legs.filter((pl.col("venue") != venue) & (pl.col("owner") == p["owner"])
                                & (pl.col("ts") >= p["start"] - around) & (pl.col("ts") <= p["end"] + around)
                                & (pl.col("sign") == -direction))
        benefit = float(elsewhere["quantity"].sum())
        if config.require_benefit and (benefit < max(config.min_benefit_ratio * p["q"], 1e-12)
                                       or self._habit(legs, elsewhere, venue, p, direction, around,
                                                   config.benefit_order_size) >
                                       config.max_benefit_coincidence):
            return None
        start = as_dt(min([p["start"], *elsewhere["ts"].to_list()]))
        end = as_dt(max([p["end"], *elsewhere["ts"].to_list()]))
        if not ends_in_window(part.window, end):
            return None
        verb = "bought" if direction > 0 else "sold"
        other = ""
        if elsewhere.height:
            other = (f", while the same customer's account(s) {names(elsewhere['account'].unique().to_list())} on "
                     f"{', '.join(sorted(elsewhere['venue'].unique().to_list()))} "
                     f"{'sold' if direction > 0 else 'bought'} {fmt_qty(benefit)} units there")
        share = p["q"] / max(p["vol"], 1e-12)
        return {"owner": p["owner"], "peak": shift, "push": as_dt(p["start"]), "start": start, "end": end,
                "alert": dict(
            venue=venue, symbol=symbol, accounts=list(p["accounts"]), start=start, end=end,
            score=clip01(0.5 + share / 2 + (0.2 if elsewhere.height else 0.0)),
            evidence_ids=list(p["ids"]) + elsewhere["trade_id"].to_list(),
            explanation=(f"account {names(p['accounts'])} aggressively {verb} {fmt_qty(p['q'])} units of {symbol} "
                         f"on {venue} in {p['n']} orders ({share:.0%} of its volume in "
                         f"{fmt_span(as_dt(p['start']), as_dt(p['end']))}) as its price moved "
                         f"{math.expm1(shift) * direction:+.2%} away from the other venues against the hour "
                         f"before{other}."))}

    @staticmethod
    def _habit(legs: pl.DataFrame, elsewhere: pl.DataFrame, venue: str, p: dict, direction: int,
               around: dt.timedelta, min_size: float) -> float:
        """Chance that the owner's opposite-side orders elsewhere around the push come from its own pace of them
        over the rest of the day (Poisson): the profit leg must be timed to the push, not the owner's habit. The
        smaller of two readings: all its orders, and its orders of the profit leg's size."""
        window = ((p["end"] - p["start"]) + 2 * around).total_seconds()
        day = max(span_seconds(legs["ts"], 3600.0), window)
        day_orders = legs.filter((pl.col("venue") != venue) & (pl.col("owner") == p["owner"])
                                 & (pl.col("sign") == -direction)).group_by("order").agg(size=pl.col("quantity").sum())
        sizes = elsewhere.group_by("order").agg(size=pl.col("quantity").sum())["size"]
        median = sizes.median()
        chances = []
        # All its orders, and (1.6) only those of at least ``min_size`` of the leg's median order: a profit taken in
        # a few large orders is not explained by the customer's many small ordinary ones there, which happen to
        # fall in the same hour.
        for floor in (0.0, min_size * float(median) if isinstance(median, (int, float)) else 0.0):
            n = int((sizes >= floor).sum())
            day_n = int((day_orders["size"] >= floor).sum())
            # At least one such order a day is habit: an owner seen nowhere else that day has an unknown pace, not
            # a zero one (a single order elsewhere is then a few per cent chance, not an impossibility).
            chances.append(poisson_tail(n, max(day_n - n, 1) * window / max(day - window, window)))
        return min(chances)


DETECTOR = register(CrossVenueDetector())


def _keep_moved_venue(found: list[dict]) -> list[dict]:
    """One customer seen pushing two venues at once (pushing A, then trading the other way on B, which can
    dislocate B too): the push that came first moved the reference; the later one is the profit taken."""
    kept: list[dict] = []
    for a in sorted(found, key=lambda f: (f["push"], -f["peak"], f["alert"]["venue"])):
        clash = any(k["owner"] == a["owner"] and k["alert"]["venue"] != a["alert"]["venue"]
                    and a["start"] <= k["end"] and k["start"] <= a["end"] for k in kept)
        if not clash:
            kept.append(a)
    return sorted(kept, key=lambda f: (f["alert"]["venue"], f["start"]))
