"""Marking the close: trading just before a daily reference time to move the reference ("closing") price.

The defining behaviour: in the last minutes before the reference time one owner's aggressive trades push
the price in one direction, dominating the market's volume there; the move is out of line with the
day, and the price tends to give it back afterwards. The push goes through the book (each aggressive order
takes resting orders of its own, ``min_book_reach``) and on into the close (the group's last trade within
``max_end_gap`` of the span before the reference time). Each side's strongest group is alerted: two groups may
press one close from opposite sides, and in the same span the weaker one's push is masked by the stronger's, so
the price need only have gone the way of one of them (1.4). The reference time is configuration (default 08:00
UTC = 16:00 Hong Kong time, the close used by the generator; a venue with another fixing time sets its own).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from pydantic import BaseModel, Field

from harbour.data.arrow_strings import same_string, string_buffers
from harbour.detect.aml.interning import string_hash
from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    TRADE_COLUMNS,
    as_dt,
    clip01,
    dictionary_codes,
    ends_in_window,
    fmt_qty,
    frame,
    instant,
    leg_owners,
    micros,
    names,
    owner_map,
    part_symbol,
    part_venue,
    poisson_tail,
    robust_spread,
    span_seconds,
    with_owner,
)
from harbour.detect.market.momentum_screens import arrow_sides

_US = dt.timedelta(microseconds=1)


class MarkingTheCloseConfig(BaseModel):
    reference_time_utc: dt.time = Field(
        dt.time(8, 0), description="daily reference (closing) time in UTC; 08:00 UTC is 16:00 in Hong Kong")
    windows_minutes: tuple[float, ...] = Field(
        (2.0, 5.0, 15.0), description="spans before the reference time that are each examined; marking is often "
        "crammed into the last minutes, sometimes spread over a quarter hour")
    min_share: float = Field(
        0.2, gt=0, le=1, description="aggressive one-sided volume of the marking owners (at most max_group of them) "
        "in a watched span as a share of all volume there")
    max_group: int = Field(3, ge=1, description="owners acting together that are alerted as one group")
    min_member_share: float = Field(0.08, gt=0, le=1, description="smallest share for an owner to count in the group")
    min_orders: int = Field(
        3, ge=1, description="separate aggressive orders by the group in the watched span: marking is a run of "
        "decisions, not one large order that sweeps several price levels")
    min_member_orders: int = Field(
        2, ge=1, description="separate aggressive orders for an owner to count in the group: a member repeats "
        "its push, several strangers with one order each are ordinary flow")
    max_coincidence: float = Field(
        1e-4, gt=0, le=1, description="chance that the group's orders in the span come from its own pace over the "
        "rest of the day (Poisson); a busy trader with a few orders there is not marking")
    min_move_sigmas: float = Field(
        0.0, ge=0, description="move of the span's volume-weighted price against the span before it, in the group's "
        "direction, in units of the day's robust spread of such span-to-span moves")
    min_intensity: float = Field(
        10.0, ge=0, description="the owner's volume per minute in the watched span against its average per minute "
        "over the day, and against its rate over the lead_minutes before the span: an active trader who happens to "
        "trade then at its usual pace is not marking, nor is one that kept the same pace for the hour before (a "
        "pump's build-up, a long execution) — marking is a burst timed to the reference")
    lead_minutes: float = Field(
        60.0, gt=0, description="span before the watched span over which the owner's own pace is also measured")
    max_end_gap: float = Field(
        0.25, gt=0, le=1, description="the group's last aggressive trade is at most this share of the watched span "
        "before the reference time: marking presses on into the close, while a burst that stopped early in the span "
        "(another abuse's push, a momentum burst, a block worked off) leaves the closing price to others")
    min_book_reach: float = Field(
        0.5, ge=0, description="resting orders an owner's aggressive orders traded against, per aggressive order: a "
        "push takes liquidity from the book, order after order; many small aggressive orders that all fill one or "
        "two resting orders (a market maker's re-posted quotes crossing a large resting order) leave the price "
        "where that order rests, and its owner is the one trading")


def _span_move(trades: pl.DataFrame, ref: dt.datetime, minutes: float) -> tuple[float, float]:
    """Log move of the volume-weighted price of the span just before ``ref`` against the span before it, and
    the robust spread (1.4826 MAD) of such moves between consecutive spans of the same length over the day.

    Span VWAPs, not last prices: where quotes are wide a last print bounces by the spread, which would drown
    the move; the same statistic over the whole day calibrates what an ordinary move of that span is."""
    span_us = int(minutes * 60e6)
    spans = trades.with_columns(k=(pl.col("ts") - instant(ref)).dt.total_microseconds() // span_us) \
        .group_by("k").agg(vwap=(pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum()) \
        .sort("k")
    k = spans["k"].to_numpy()
    logp = np.log(spans["vwap"].to_numpy())
    at = np.flatnonzero(k == -1)
    if at.size == 0 or at[0] == 0:
        return 0.0, math.inf
    i = int(at[0])
    moves = np.diff(logp)[np.diff(k) == 1]
    if moves.size < 5:
        return 0.0, math.inf
    return float(logp[i] - logp[i - 1]), robust_spread(moves)


def _may_mark(t: pl.DataFrame, ref: dt.datetime, config: MarkingTheCloseConfig) -> bool:
    """Whether some watched span and side has owners that could form a group: a necessary condition for an alert,
    checked with numpy on the widest span's trades before any leg is built. No book-day of the 10M-trade bench
    market's first ten days has such owners, and the full reading costs ~10 ms a partition there (~80 Polars
    operations), this under 1 ms (four or six: eager ones, as a lazy query's optimisation costs more than it saves
    on a small frame, ~0.3 ms against ~0.15 ms for a filter and a select).

    A group in ``_window`` needs members each with ``q >= min_member_share * win_vol``, ``n >= min_member_orders``
    orders, ``resting >= min_book_reach * n`` resting orders (for counts of orders, ``_candidates``) and a volume
    rate in the span ``min_intensity`` times its rate over the day and over the lead before the span (``_bursts``);
    at most ``max_group`` of them with ``min_orders`` orders and ``min_share * win_vol`` volume between them, so the
    candidates' orders and their ``max_group`` largest volumes reach those; and the group's last leg within
    ``max_end_gap`` of the span before ``ref``, so some candidate's last leg is. Owners whose names are null never
    join ``day_vol``: their legs are left out. Volumes are summed here in another order than Polars does: a slack
    far above the rounding of the sums (a relative 1e-16 per addition) keeps an owner at a threshold in; with a
    quantity not finite it says yes. On the bench the volumes, legs and end gap alone let two book-days in three
    through, the rates as well one in five, the counts of orders as well none."""
    widest = ref - dt.timedelta(minutes=max(config.windows_minutes, default=0.0))
    side = pl.col("aggressor").fill_null("both")
    ids = {c: pl.col(c) if c in t.columns else pl.lit(None, dtype=pl.String) for c in ("buy_order_id", "sell_order_id")}
    near = _span_rows(t, micros(widest), micros(ref)).select(
        ts=pl.col("ts").dt.epoch("us"), qty=pl.col("quantity").fill_null(0.0),
        buys=side.is_in(["buy", "both"]) & pl.col("owner_b").is_not_null(), buyer=pl.col("owner_b").fill_null(""),
        sells=side.is_in(["sell", "both"]) & pl.col("owner_s").is_not_null(), seller=pl.col("owner_s").fill_null(""),
        buy_order=ids["buy_order_id"], sell_order=ids["sell_order_id"],
    )
    qty = near["qty"].to_numpy()
    gross = float(np.abs(qty).sum())
    if not math.isfinite(gross):
        return True
    found = []
    for legs, owner, order, resting in (("buys", "buyer", "buy_order", "sell_order"),
                                        ("sells", "seller", "sell_order", "buy_order")):
        mine = near[legs].to_numpy()
        names, codes = np.unique(near[owner].to_numpy()[mine], return_inverse=True)
        keys = (_id_codes(near[order].to_numpy()[mine]), _id_codes(near[resting].to_numpy()[mine]))
        rows = (near["ts"].to_numpy(), qty, mine, codes, *keys)
        for minutes in config.windows_minutes:
            found += _candidates(rows, names, micros(ref), minutes, 1e-8 * gross, config)
    return _bursts(t, found, config) if found else False


def _arrow_may_mark(part: Partition, venue: str, config: MarkingTheCloseConfig) -> bool | None:
    """``_may_mark`` read off the partition's Arrow trades, in their row order, with each leg's owner as a code
    (``frames.leg_owners``) where ``_may_mark`` reads the frame's owner names: the same rows in the spans, the same
    counts of distinct owners and orders and the same times, the sums in another order (``_may_mark``'s slack covers
    it). No frame is built for the trades nor a name written for each leg's owner: the test of ten bench days'
    book-days took 0.64-0.71 CPU-s on the frame (Polars' select of the span, strings compared as Python objects to
    number the owners and orders, the filter of the day's trades for the candidates' rates), this 0.22-0.29 and the
    legs' owner codes ~0.31 (shared with wash_trade's screens); the detector in the whole suite 0.64 -> 0.50 CPU-s.
    None when the trades cannot be read so (a column missing or of another type, a time missing, no venue in the key;
    ``leg_owners``): the frame path decides."""
    arrow = part.tables.get("trades")
    if arrow is None or "venue" not in part.key or any(
            c not in arrow.column_names for c in ("ts", "quantity", "aggressor")):
        return None
    ts, quantity, aggressor = arrow["ts"], arrow["quantity"], arrow["aggressor"]
    if (ts.type != pa.timestamp("us", "UTC") or ts.null_count or not pa.types.is_floating(quantity.type)
            or not (pa.types.is_string(aggressor.type) or pa.types.is_large_string(aggressor.type))):
        return None
    owners = leg_owners(part, venue)
    if owners is None or arrow.num_rows == 0:
        return None
    buyer, seller, _ = owners
    us = ts.combine_chunks().view(pa.int64()).to_numpy() if isinstance(ts, pa.ChunkedArray) \
        else ts.view(pa.int64()).to_numpy()
    qty = (pc.fill_null(quantity, 0.0) if quantity.null_count else quantity).to_numpy().astype(np.float64, copy=False)
    day = dt.datetime.fromtimestamp(0, dt.UTC) + dt.timedelta(microseconds=int(us.min()))
    ref = dt.datetime.combine(day.date(), config.reference_time_utc, tzinfo=dt.UTC)
    widest = ref - dt.timedelta(minutes=max(config.windows_minutes, default=0.0))
    lo_us, ref_us = micros(widest), micros(ref)
    if us.size < 2 or bool((us[1:] >= us[:-1]).all()):  # in time order, as the runners hand them: a slice
        lo, hi = np.searchsorted(us, [lo_us, ref_us], "left")
        near: np.ndarray | slice = slice(int(lo), int(hi))
        span = arrow.slice(int(lo), int(hi - lo))
    else:
        near = np.flatnonzero((us >= lo_us) & (us < ref_us))
        span = arrow.take(pa.array(near))
    gross = float(np.abs(qty[near]).sum())
    if not math.isfinite(gross):
        return True
    ids = {c: _arrow_id_codes(span[c]) if c in span.column_names else np.full(span.num_rows, -1, np.int64)
           for c in ("buy_order_id", "sell_order_id")}
    found = []
    for mine, owner, order, resting in zip(_aggressive_sides(span["aggressor"]), (buyer, seller),
                                           ("buy_order_id", "sell_order_id"), ("sell_order_id", "buy_order_id"),
                                           strict=True):
        mine_owner, orders, resting_ids = owner[near][mine], ids[order][mine], ids[resting][mine]
        if not _side_may_pass((us[near], qty[near], mine, mine_owner, orders, resting_ids), ref_us,
                              1e-8 * gross, config):
            continue  # no span of this side has candidates: most book-days' both sides
        names, codes = np.unique(mine_owner, return_inverse=True)
        rows = (us[near], qty[near], mine, codes.reshape(-1), orders, resting_ids)
        for minutes in config.windows_minutes:
            found += _candidates(rows, names, ref_us, minutes, 1e-8 * gross, config)
    return _coded_bursts((us, qty, buyer, seller), owners[2], found, config) if found else False


def _side_may_pass(rows: tuple[np.ndarray, ...], ref_us: int, slack: float, config: MarkingTheCloseConfig) -> bool:
    """Whether ``_candidates`` may find candidates of one side (``rows`` as there, with each leg's owner code where
    ``_candidates`` reads its place among the side's names) in some watched span: the same figures and tests of
    every span in one compiled call (``_spans_may_pass``), so that the sides with none (325 of the 360 sides of ten
    bench days) skip ``np.unique`` of the owners and the per-span Python ``_candidates`` and ``may_form`` (six a
    book-day): the screen (``_arrow_may_mark``, least of 9 runs a book-day, summed over those 180, interleaved with
    the old code in one process) 81-89 -> 66-70 ms. False only where every span's tests fail; a span whose group
    share sits within rounding of its threshold says yes, and ``_candidates`` decides."""
    ts, qty, mine, owner, orders, resting = rows
    minutes = np.array(config.windows_minutes, dtype=np.float64)
    lo_us = np.array([ref_us - dt.timedelta(minutes=m) // _US for m in config.windows_minutes], dtype=np.int64)
    gap_us = np.array([dt.timedelta(minutes=m * config.max_end_gap) // _US for m in config.windows_minutes],
                      dtype=np.int64)
    if minutes.size == 0:
        return False
    return bool(_spans_may_pass(ts, qty, mine, owner.astype(np.int64, copy=False), orders, resting, lo_us, gap_us,
                                ref_us, slack, config.min_orders, config.min_member_share, config.min_member_orders,
                                config.min_book_reach, config.max_group, config.min_share))


@njit(cache=True, nogil=True)
def _spans_may_pass(ts: np.ndarray, qty: np.ndarray, mine: np.ndarray, owner: np.ndarray, orders: np.ndarray,
                    resting: np.ndarray, lo_us: np.ndarray, gap_us: np.ndarray, ref_us: int, slack: float,
                    min_orders: int, min_member_share: float, min_member_orders: int, min_book_reach: float,
                    max_group: int, min_share: float) -> bool:
    """``_side_may_pass``' test: for each span (from ``lo_us[w]`` to ``ref_us``, end gap ``gap_us[w]``) the figures of
    ``_span_figures`` on the owners numbered densely (a sort of the side's few hundred codes: the numbers only name
    the owners, no test depends on them) and ``_candidates``' and ``may_form``'s tests on them."""
    dense = np.empty(owner.shape[0], np.int64)
    size = 0
    if owner.shape[0]:
        by = np.argsort(owner)
        for p in range(by.shape[0]):
            size += p > 0 and owner[by[p]] != owner[by[p - 1]]
            dense[by[p]] = size
        size += 1
    for w in range(lo_us.shape[0]):
        count, win_vol, q, last, n_least, n_unknown, r_least, r_unknown = _span_figures(
            ts, qty, mine, dense, orders, resting, size, lo_us[w], ref_us)
        if count < min_orders:
            continue
        n = n_least + n_unknown
        keep = (q >= min_member_share * win_vol - slack) & (n >= min_member_orders) \
            & (r_least + r_unknown >= min_book_reach * n_least)
        n_kept, latest = 0, np.iinfo(np.int64).min
        for c in range(size):
            if keep[c]:
                n_kept += n[c]
                latest = max(latest, last[c])
        if n_kept < min_orders or latest < ref_us - gap_us[w]:
            continue
        top = np.sort(q[keep])[::-1][:max_group]
        total = 0.0
        for v in top:
            total += max(v, 0.0)
        bar = min_share * win_vol - slack
        # numpy sums ``may_form``'s few volumes in another order: within a rounding margin the span may pass
        if total >= bar - 1e-12 * (abs(total) + abs(bar)):
            return True
    return False


def _aggressive_sides(aggressor: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows count as a buyer's aggressive leg and which as a seller's, as ``_may_mark`` reads them: the aggressor
    side ``buy`` or ``sell``, both when it is ``both`` or missing. One compiled pass over each text chunk's bytes
    (``momentum_screens.arrow_sides``): in place of Arrow's dictionary encoding of the span's column and a Python
    list of its values, it took the screen over ten bench days from 52-53 to 47-48 ms (as in ``_side_may_pass``);
    other types through their few distinct values."""
    if not (pa.types.is_string(aggressor.type) or pa.types.is_large_string(aggressor.type)):
        coded = dictionary_codes(aggressor)
        values = coded.dictionary.to_pylist()
        index = _filled(coded.indices, len(values))
        return tuple(np.array([v in sides for v in values] + [True])[index]  # type: ignore[return-value]
                     for sides in (("buy", "both"), ("sell", "both")))
    return arrow_sides(aggressor, both_too=True)


def _arrow_id_codes(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """``_id_codes`` of an Arrow column: equal codes exactly for equal ids, -1 for a missing one. A text column of
    one chunk (a span's slice of the day's trades) is numbered by a compiled hash table over its buffers whose hits
    are checked byte for byte (``_string_codes``): Arrow's dictionary encoding, its indices' null fill and copy took
    ~21 us a column of 300 bench ids, this ~13 (least of 9, interleaved); other columns are numbered by Arrow."""
    chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
    if len(chunks) == 1 and (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        offsets, data, valid = string_buffers(chunks[0])
        return _string_codes(offsets, data, valid, _string_hashes(offsets, data))  # type: ignore[no-any-return]
    return _filled(dictionary_codes(ids).indices, -1)


@njit(cache=True, nogil=True)
def _string_hashes(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """``interning.string_hash`` of each string of a string array's buffers (a pass of its own: the inlined hash's
    loops kept out of ``_string_codes``' loop)."""
    out = np.empty(offsets.shape[0] - 1, np.uint64)
    for i in range(out.shape[0]):
        out[i] = string_hash(offsets, data, i)
    return out


@njit(cache=True, nogil=True)
def _string_codes(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Each string of a string array's buffers (``valid`` empty when none is null) numbered in order of first
    appearance, -1 where null: an open-addressing table (linear probing) of the first row of each distinct string,
    a slot taken only where its hash (``hashes``, per row) and bytes are the row's, so strings that share a hash get
    codes of their own."""
    n = hashes.shape[0]
    size = 2
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    slot_row = np.full(size, -1, np.int64)
    codes = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if valid.shape[0] and not valid[i]:
            codes[i] = -1
            continue
        h = hashes[i]
        s = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32) & mask
        while slot_row[s] >= 0 and not (hashes[slot_row[s]] == h and same_string(offsets, data, i, offsets, data,
                                                                                   slot_row[s])):
            s = (s + np.uint64(1)) & mask
        if slot_row[s] < 0:
            slot_row[s] = i
            codes[i] = k
            k += 1
        else:
            codes[i] = codes[slot_row[s]]
    return codes


def _filled(index: pa.Array, missing: int) -> np.ndarray:
    """Dictionary indices as int64, ``missing`` where null."""
    if index.null_count:
        index = pc.fill_null(index, missing)
    return index.to_numpy().astype(np.int64)


def _span_rows(t: pl.DataFrame, lo_us: int, hi_us: int) -> pl.DataFrame:
    """The rows of ``t`` with ``lo_us <= ts < hi_us``. Where the times are in order without nulls (``frame``'s sort,
    so every partition of the suite) they are a slice found by a binary search of the times' view: a Polars filter
    gathers every column of the day's trades for the few of the span (0.56 ms a book-day on the 10M-trade bench
    market, a slice ~0.03 ms); otherwise the filter."""
    ts = t["ts"]
    if ts.dtype == pl.Datetime("us", "UTC") and ts.null_count() == 0:
        us = ts.to_numpy().view(np.int64)
        if us.size < 2 or bool((us[1:] >= us[:-1]).all()):
            lo, hi = np.searchsorted(us, [lo_us, hi_us], "left")
            return t.slice(int(lo), int(hi - lo))
    return t.filter((pl.col("ts") >= pl.lit(lo_us).cast(pl.Datetime("us", "UTC")))
                    & (pl.col("ts") < pl.lit(hi_us).cast(pl.Datetime("us", "UTC"))))


def _id_codes(ids: np.ndarray) -> np.ndarray:
    """Codes of the ids, -1 for a missing one."""
    known = np.not_equal(ids, np.array(None))
    codes = np.full(ids.size, -1, dtype=np.int64)
    codes[known] = np.unique(ids[known], return_inverse=True)[1]
    return codes


class _Candidates(NamedTuple):
    """One side's owners in one watched span that may pass ``_window``'s tests of an owner's volume and orders,
    with their volume ``q``, most orders ``n`` and last leg's time ``last`` (microseconds), and the span's figures."""

    names: np.ndarray
    q: np.ndarray
    n: np.ndarray
    last: np.ndarray
    minutes: float
    win_vol: float
    slack: float
    ref_us: int

    def may_form(self, keep: np.ndarray, config: MarkingTheCloseConfig) -> bool:
        """Whether the ``keep`` ones could hold a group that passes ``_window``'s group tests: orders, share (its
        ``max_group`` largest volumes) and end gap."""
        gap_us = dt.timedelta(minutes=self.minutes * config.max_end_gap) // _US
        # the largest volumes, none below zero: a group's volume is at most theirs (the group is of ``keep``)
        top = np.maximum(np.sort(self.q[keep])[::-1][:config.max_group], 0.0)
        return bool(self.n[keep].sum() >= config.min_orders
                    and top.sum() >= config.min_share * self.win_vol - self.slack
                    and self.last[keep].max(initial=np.iinfo(np.int64).min) >= self.ref_us - gap_us)


def _candidates(rows: tuple[np.ndarray, ...], names: np.ndarray, ref_us: int, minutes: float, slack: float,
                config: MarkingTheCloseConfig) -> list[_Candidates]:
    """The candidates (``_may_mark``) of one side (``names``, and ``codes`` of its legs: the ``mine`` ones of
    ``rows``) in the span of ``minutes`` before ``ref_us``; none when no group of them could pass."""
    ts, qty, mine, codes, orders, resting = rows
    count, win_vol, q, last, n_least, n_unknown, r_least, r_unknown = _span_figures(
        ts, qty, mine, codes, orders, resting, names.size, ref_us - dt.timedelta(minutes=minutes) // _US, ref_us)
    if count < config.min_orders:
        return []
    # The orders' and resting orders' keys of legs without an id are stamps and prices, so an owner's count of
    # either is at least its distinct ids and at most those plus its legs without one.
    n = n_least + n_unknown
    keep = (q >= config.min_member_share * win_vol - slack) & (n >= config.min_member_orders) \
        & (r_least + r_unknown >= config.min_book_reach * n_least)
    c = _Candidates(names[keep], q[keep], n[keep], last[keep], minutes, win_vol, slack, ref_us)
    return [c] if c.may_form(np.ones(c.q.size, dtype=bool), config) else []


@njit(cache=True, nogil=True)
def _span_figures(ts: np.ndarray, qty: np.ndarray, mine: np.ndarray, codes: np.ndarray, orders: np.ndarray,
                  resting: np.ndarray, size: int, lo_us: int, hi_us: int) -> tuple[
                      int, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Of the rows with ``lo_us <= ts < hi_us``: how many, their volume and, per owner (of ``size`` codes) of the
    ``mine`` ones (``codes``, ``orders`` and ``resting`` are of those rows), its volume, last time, and counts of
    distinct known order and resting-order ids (codes, -1 missing) and of legs without one. One compiled pass:
    the numpy reading (bincounts and sorted uniques of the pairs, ~25 array operations of a few hundred rows) took
    ~0.5 ms a span and side, three spans and two sides a book-day."""
    q = np.zeros(size)
    last = np.full(size, np.iinfo(np.int64).min)
    n_unknown = np.zeros(size, np.int64)
    r_unknown = np.zeros(size, np.int64)
    n_least = np.zeros(size, np.int64)
    r_least = np.zeros(size, np.int64)
    order_keys = np.empty(codes.shape[0], np.int64)
    resting_keys = np.empty(codes.shape[0], np.int64)
    o_width, r_width = orders.max() + 1 if orders.size else 1, resting.max() + 1 if resting.size else 1
    count, win_vol, j, ko, kr = 0, 0.0, 0, 0, 0
    for i in range(ts.shape[0]):
        inside = lo_us <= ts[i] < hi_us
        if inside:
            count += 1
            win_vol += qty[i]
        if not mine[i]:
            continue
        if inside:
            c = codes[j]
            q[c] += qty[i]
            last[c] = max(last[c], ts[i])
            if orders[j] >= 0:
                order_keys[ko] = c * o_width + orders[j]
                ko += 1
            else:
                n_unknown[c] += 1
            if resting[j] >= 0:
                resting_keys[kr] = c * r_width + resting[j]
                kr += 1
            else:
                r_unknown[c] += 1
        j += 1
    for keys, k, width, least in ((order_keys, ko, o_width, n_least), (resting_keys, kr, r_width, r_least)):
        ordered = np.sort(keys[:k])
        for i in range(k):
            if i == 0 or ordered[i] != ordered[i - 1]:
                least[ordered[i] // width] += 1
    return count, win_vol, q, last, n_least, n_unknown, r_least, r_unknown


def _bursts(t: pl.DataFrame, found: list[_Candidates], config: MarkingTheCloseConfig) -> bool:
    """Whether the candidates ``found`` of some span still could form a group once those whose volume rate in the
    span is under ``min_intensity`` times their rate over the day, or over the ``lead_minutes`` before the span
    (``_burst_not_pace``), are left out (``_may_mark``). Their volumes are summed from the rows they trade in: the
    day's other owners are never grouped."""
    names = np.unique(np.concatenate([c.names for c in found]))
    listed = names.tolist()
    # the four columns read, then the filter: filtering the whole frame gathered every column of the day's trades
    day = t.select("ts", "quantity", "owner_b", "owner_s").filter(
        pl.col("owner_b").is_in(listed) | pl.col("owner_s").is_in(listed)).select(
        ts=pl.col("ts").dt.epoch("us"), qty=pl.col("quantity").fill_null(0.0),
        buyer=pl.col("owner_b").fill_null(""), b=pl.col("owner_b").is_in(listed).fill_null(False),
        seller=pl.col("owner_s").fill_null(""), s=pl.col("owner_s").is_in(listed).fill_null(False))
    sides = []  # each side's rows of the names, and their names' places
    for owner, hit in (("buyer", "b"), ("seller", "s")):
        mine = day[hit].to_numpy()
        sides.append((mine, np.searchsorted(names, day[owner].to_numpy()[mine])))
    first, last = t["ts"].min(), t["ts"].max()
    day_seconds = (as_dt(last) - as_dt(first)).total_seconds() if first is not None else -math.inf
    return _may_burst(day["ts"].to_numpy(), day["qty"].to_numpy(), sides, names, day_seconds, found, config)


def _coded_bursts(day: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], n_codes: int,
                  found: list[_Candidates], config: MarkingTheCloseConfig) -> bool:
    """``_bursts`` on owner codes (``_arrow_may_mark``): the day's times (microseconds), quantities (a null 0) and
    its buyers' and sellers' owner codes (0 to ``n_codes`` - 1), in any row order. The rows of the names are read
    off a table of the codes: ``np.isin`` of the day's ~7k codes of each side was 40 % of this function's time (34
    calls over ten bench days); with ``_name_volumes`` for ``np.add.at`` the screen over those days took 66-70 ->
    52-53 ms (as in ``_side_may_pass``)."""
    us, qty, buyer, seller = day
    names = np.unique(np.concatenate([c.names for c in found]))
    named = np.zeros(max(n_codes, int(names[-1]) + 1), dtype=bool)
    named[names] = True
    b, s = named[buyer], named[seller]
    rows = np.flatnonzero(b | s)
    sides = [(hit[rows], np.searchsorted(names, owner[rows][hit[rows]])) for hit, owner in ((b, buyer), (s, seller))]
    return _may_burst(us[rows], qty[rows], sides, names, (int(us.max()) - int(us.min())) / 1e6, found, config)


def _may_burst(ts: np.ndarray, qty: np.ndarray, sides: list[tuple[np.ndarray, np.ndarray]], names: np.ndarray,
               day_seconds: float, found: list[_Candidates], config: MarkingTheCloseConfig) -> bool:
    """``_bursts``' test on the rows where the candidates' owners (``names``, sorted) trade: their times, quantities
    and, per side, which rows are the names' and their names' places; ``day_seconds`` the day's span."""
    gross = float(np.abs(qty).sum())
    if not math.isfinite(gross):
        return True

    (buys, buy_at), (sells, sell_at) = sides

    def volume(lo_us: int, hi_us: int, whole: bool = False) -> np.ndarray:
        """Each name's volume over the rows of ``day`` with ``lo_us <= ts < hi_us``, bought and sold, less a slack
        for the order of the sum: added one by one in row order, bought then sold, as ``np.add.at`` adds (a compiled
        loop, ``_name_volumes``: ``np.add.at``'s two calls a span were 80 % of ``_may_burst``'s time)."""
        return _name_volumes(ts, qty, buys, buy_at.astype(np.int64, copy=False), sells,
                             sell_at.astype(np.int64, copy=False), names.size, -1e-8 * gross, lo_us, hi_us, whole)

    day_vol = volume(0, 0, whole=True)
    lead_us = dt.timedelta(minutes=config.lead_minutes) // _US
    for c in found:
        w0 = c.ref_us - dt.timedelta(minutes=c.minutes) // _US
        at = np.searchsorted(names, c.names)
        rate = (c.q + c.slack) / c.minutes
        day_minutes = max(day_seconds, c.minutes * 60) / 60  # ``span_seconds``
        lead_vol = volume(w0 - lead_us, w0)
        burst = (rate >= config.min_intensity * day_vol[at] / day_minutes) \
            & (rate >= config.min_intensity * lead_vol[at] / config.lead_minutes)
        if c.may_form(burst, config):
            return True
    return False


@njit(cache=True, nogil=True)
def _name_volumes(ts: np.ndarray, qty: np.ndarray, buys: np.ndarray, buy_at: np.ndarray, sells: np.ndarray,
                  sell_at: np.ndarray, size: int, start: float, lo_us: int, hi_us: int, whole: bool) -> np.ndarray:
    """``_may_burst``'s volumes: from ``start``, each of ``size`` names' quantities of the rows with
    ``lo_us <= ts < hi_us`` (every row when ``whole``), its buying rows (``buys``; ``buy_at`` the names' places of
    those rows, in order) added in row order, then its selling rows."""
    vol = np.full(size, start)
    _add_side(vol, ts, qty, buys, buy_at, lo_us, hi_us, whole)
    _add_side(vol, ts, qty, sells, sell_at, lo_us, hi_us, whole)
    return vol


@njit(cache=True, nogil=True)
def _add_side(vol: np.ndarray, ts: np.ndarray, qty: np.ndarray, hit: np.ndarray, at: np.ndarray, lo_us: int,
              hi_us: int, whole: bool) -> None:
    """``_name_volumes``' sum over one side's rows."""
    j = 0
    for i in range(ts.shape[0]):
        if hit[i]:
            if whole or lo_us <= ts[i] < hi_us:
                vol[at[j]] += qty[i]
            j += 1


def _burst_not_pace(per: pl.DataFrame, t: pl.DataFrame, w0: dt.datetime, minutes: float,
                    config: MarkingTheCloseConfig) -> pl.DataFrame:
    """The owners of ``per`` whose volume rate in the span (``q`` over ``minutes``) is ``min_intensity`` times their
    own rate over the ``lead_minutes`` before it: a burst timed to the reference, not a pace kept for an hour.
    Only the few candidates are looked up, so the day's other trades are never grouped."""
    if per.height == 0:
        return per
    lead = t.filter((pl.col("ts") >= instant(w0 - dt.timedelta(minutes=config.lead_minutes)))
                  & (pl.col("ts") < instant(w0)))
    lead_vol = pl.concat([lead.select(owner="owner_b", q="quantity"), lead.select(owner="owner_s", q="quantity")]) \
        .join(per.select("owner"), on="owner", how="semi").group_by("owner").agg(lead_vol=pl.col("q").sum())
    return per.join(lead_vol, on="owner", how="left").filter(
        pl.col("q") / minutes >= config.min_intensity * pl.col("lead_vol").fill_null(0.0) / config.lead_minutes) \
        .drop("lead_vol")


def _legs(t: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The aggressive legs of ``rows`` (trades of ``t``): one per trade and side that took liquidity, with the
    owner, sign, order and the resting order it traded against. Aggressor side when known; otherwise each trade
    counts for both sides (no side is favoured). One aggressive *order* is one decision: its fills share an order
    id (or, in feeds without order ids, a time stamp); the keys are chosen on the whole day's trades."""
    return pl.concat([_side_legs(t, rows, 1), _side_legs(t, rows, -1)])


def _side_legs(t: pl.DataFrame, rows: pl.DataFrame, sign: int) -> pl.DataFrame:
    side = pl.col("aggressor").fill_null("both")
    if sign > 0:
        return rows.filter(side.is_in(["buy", "both"])).select(
            "ts", "trade_id", "price", "quantity", account="buyer", owner="owner_b", sign=pl.lit(1),
            order=_order_key("buy_order_id", t), resting=_resting_key("sell_order_id", "seller", t))
    return rows.filter(side.is_in(["sell", "both"])).select(
        "ts", "trade_id", "price", "quantity", account="seller", owner="owner_s", sign=pl.lit(-1),
        order=_order_key("sell_order_id", t), resting=_resting_key("buy_order_id", "buyer", t))


def _day_orders(t: pl.DataFrame, owners: pl.Series, sign: int) -> pl.DataFrame:
    """The separate aggressive orders of each of ``owners`` on side ``sign`` over the whole day (``day_n``)."""
    return _side_legs(t, t, sign).filter(pl.col("owner").is_in(owners.implode())) \
        .group_by("owner").agg(day_n=pl.col("order").n_unique())


def _rank(found: dict) -> tuple[bool, float]:
    """A side's strongest span: one where its group moved the price its way before one where the other side's did."""
    return found["moved"], found["strength"]


def _resting_key(column: str, account: str, t: pl.DataFrame) -> pl.Expr:
    """The resting order an aggressive leg traded against: its order id, or (none) its account and price — one
    resting order shows one price."""
    by_price = pl.concat_str([pl.col(account).fill_null(""), pl.col("price").cast(pl.String)], separator="@")
    if column in t.columns and t[column].null_count() == 0:
        return pl.col(column)
    return pl.coalesce(pl.col(column), by_price) if column in t.columns else by_price


def _order_key(column: str, t: pl.DataFrame) -> pl.Expr:
    # Stamps are formatted only when some order id is missing: formatting every leg's time only to drop it is
    # wasted work.
    if column in t.columns and t[column].null_count() == 0:
        return pl.col(column)
    stamp = pl.col("ts").cast(pl.Int64).cast(pl.String)
    return pl.coalesce(pl.col(column), stamp) if column in t.columns else stamp


class MarkingTheCloseDetector(Detector[MarkingTheCloseConfig]):
    name = "marking_the_close"
    version = "1.4"
    typology = "marking_the_close"
    config_model = MarkingTheCloseConfig
    description = "One owner's aggressive trades dominate and move the price just before the reference time."

    def describe(self, config: MarkingTheCloseConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("venue", "symbol", "date"),
                        columns={"trades": TRADE_COLUMNS, "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: MarkingTheCloseConfig) -> pa.Table:
        out = AlertBuilder(self)
        arrow = part.tables.get("trades")
        if arrow is not None and arrow.num_rows < 5:
            return out.to_table()  # the frame's rows
        # most book-days stop here, read off the Arrow trades: no owners that could form a group
        verdict = _arrow_may_mark(part, str(part.key["venue"]), config) if "venue" in part.key else None
        if verdict is False:
            return out.to_table()
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height < 5:
            return out.to_table()
        venue, symbol = part_venue(part, trades), part_symbol(part, trades)
        day = as_dt(trades["ts"].min()).date()
        ref = dt.datetime.combine(day, config.reference_time_utc, tzinfo=dt.UTC)
        owners = owner_map(part, venue)
        t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s")
        if verdict is None and not _may_mark(t, ref, config):
            return out.to_table()  # no owners that could form a group: most book-days
        # Only the trades of the widest watched span become legs: the legs are read only there, and each owner's
        # orders over the day only for a group that passes every other test (``_day_orders``); building and
        # grouping the day's legs of every owner was a fifth of the detector.
        widest = ref - dt.timedelta(minutes=max(config.windows_minutes, default=0.0))
        near = t.filter((pl.col("ts") >= instant(widest)) & (pl.col("ts") < instant(ref)))
        legs = _legs(t, near)
        # Each owner's volume over the day, of the owners that trade in the spans only (the others never join it).
        day_vol = pl.concat([t.select(owner="owner_b", q="quantity"), t.select(owner="owner_s", q="quantity")]) \
            .filter(pl.col("owner").is_in(legs["owner"].unique().implode())) \
            .group_by("owner").agg(day_vol=pl.col("q").sum())
        # The strongest span of each side: two groups may mark one close from opposite sides (a buyer and a
        # seller each pressing the price their way in different spans); one side's group is one alert.
        best: dict[int, dict] = {}
        for minutes in sorted(config.windows_minutes):
            for found in self._window((t, near), legs, day_vol, ref, minutes, config):
                if found["sign"] not in best or _rank(found) > _rank(best[found["sign"]]):
                    best[found["sign"]] = found
        for sign in sorted(best, reverse=True):
            if ends_in_window(part.window, best[sign]["end"]):
                self._emit(out, venue, symbol, ref, best[sign])
        return out.to_table()

    def _window(self, trades: tuple[pl.DataFrame, pl.DataFrame], legs: pl.DataFrame, day_vol: pl.DataFrame,
                ref: dt.datetime, minutes: float, config: MarkingTheCloseConfig) -> list[dict]:
        t, near = trades  # the day's trades, and those of the widest span
        w0 = ref - dt.timedelta(minutes=minutes)
        in_span = (pl.col("ts") >= instant(w0)) & (pl.col("ts") < instant(ref))
        win = near.select("ts", "quantity").filter(in_span)
        if win.height < config.min_orders:
            return []
        move, spread = _span_move(t, ref, minutes)
        day_minutes = span_seconds(t["ts"], minutes * 60) / 60
        win_vol = float(win["quantity"].sum())
        groups: list[dict] = []
        # The direction is the group's (the side its aggressive orders took); the price must have gone that way,
        # unless a group pressing from the other side in the same span moved it (1.4): two groups marking one close
        # from opposite sides, the weaker one's push is masked by the stronger's, not absent.
        # The side the price went first: the other side's group is only worth reading when this one has a group.
        for sign in sorted((1, -1), key=lambda sg: sg * move < config.min_move_sigmas * spread):
            if groups == [] and sign * move < config.min_move_sigmas * spread:
                break
            per = legs.filter(in_span & (pl.col("sign") == sign)) \
                .group_by("owner").agg(n=pl.col("order").n_unique(), q=pl.col("quantity").sum(),
                                       resting=pl.col("resting").n_unique(),
                                       ids=pl.col("trade_id"), accounts=pl.col("account").unique(),
                                       start=pl.col("ts").min(), end=pl.col("ts").max()) \
                .join(day_vol, on="owner").filter(
                    (pl.col("q") >= config.min_member_share * win_vol) & (pl.col("n") >= config.min_member_orders)
                    & (pl.col("q") / minutes >= config.min_intensity * pl.col("day_vol") / day_minutes)
                    & (pl.col("resting") >= config.min_book_reach * pl.col("n")))
            per = _burst_not_pace(per, t, w0, minutes, config) \
                .sort(["q", "owner"], descending=[True, False]).head(config.max_group)
            q = float(per["q"].sum()) if per.height else 0.0
            n = int(per["n"].sum()) if per.height else 0
            if n < config.min_orders or q < config.min_share * win_vol:
                continue
            # The group must press on into the close: a burst that ended early in the span did not set the close.
            if ref - as_dt(per["end"].max()) > dt.timedelta(minutes=minutes * config.max_end_gap):
                continue
            # Its own pace elsewhere in the day: expected orders in a span this long, summed over the group.
            # (in the group's order: the day's orders were grouped in an order Polars draws afresh in every process,
            # so the sum below was added up in an order that changed from run to run)
            rest = per.join(_day_orders(t, per["owner"], sign), on="owner", maintain_order="left")
            pace = float(((rest["day_n"] - rest["n"]) * minutes / max(day_minutes - minutes, minutes)).sum())
            chance = poisson_tail(n, pace)
            if chance > config.max_coincidence:
                continue
            sigmas = sign * move / spread
            found = {"minutes": minutes, "q": q, "n": n, "share": q / win_vol, "move": move, "sigmas": sigmas,
                     "sign": sign, "accounts": sorted({a for accs in per["accounts"] for a in accs}),
                     "ids": [i for ids in per["ids"] for i in ids], "start": as_dt(per["start"].min()),
                     "end": as_dt(per["end"].max()), "strength": q / win_vol * max(sigmas, 0.1),
                     "chance": chance}
            groups.append(found)
        for g in groups:
            g["moved"] = g["sign"] * move >= config.min_move_sigmas * spread
        return groups if any(g["moved"] for g in groups) else []

    def _emit(self, out: AlertBuilder, venue: str, symbol: str | None, ref: dt.datetime, f: dict) -> None:
        verb = "bought" if f["sign"] > 0 else "sold"
        out.add(venue=venue, symbol=symbol, accounts=f["accounts"], start=f["start"], end=f["end"],
                score=clip01(0.5 + f["share"] / 2 + f["sigmas"] / 40), evidence_ids=f["ids"],
                explanation=(f"in the {f['minutes']:g} minutes before the {ref:%H:%M} UTC reference time account(s) "
                             f"{names(f['accounts'])} aggressively {verb} {fmt_qty(f['q'])} units of {symbol} in "
                             f"{f['n']} orders ({f['share']:.0%} of the volume) and the span's average price moved "
                             f"{math.expm1(f['move']):+.2%} against the span before ({f['sigmas']:.1f}x the day's "
                             f"usual span-to-span move); at their own pace elsewhere that day, so many orders "
                             f"there had a {f['chance']:.0e} chance."))


DETECTOR = register(MarkingTheCloseDetector())
