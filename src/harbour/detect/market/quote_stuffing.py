"""Quote stuffing: floods of order messages that are placed and cancelled at once, to clog the venue's
feed and slow other participants, not to trade.

The defining behaviour: one owner's new/amend/cancel messages reach ``min_rate`` per second for a spell,
far above the market's message rate at that time (``min_share`` of all messages in the spell), nearly
every order placed is cancelled, and almost nothing executes. Market makers send many messages too,
but steadily, and their quotes trade.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from pydantic import BaseModel, Field

from harbour.data.arrow_strings import load_u64, string_buffers
from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    as_dt,
    clip01,
    ends_in_window,
    fmt_span,
    names,
    owner_map,
)

ORDER_COLUMNS = ("venue", "symbol", "order_id", "account", "ts", "event")


class QuoteStuffingConfig(BaseModel):
    bucket_ms: int = Field(1000, ge=1, description="time bucket for message rates, in milliseconds")
    min_rate: float = Field(
        20.0, gt=0, description="messages per second from one owner that make a bucket 'hot'")
    max_gap_buckets: int = Field(2, ge=1, description="quiet buckets allowed inside one spell")
    min_messages: int = Field(100, ge=1, description="messages in a spell before it is judged")
    min_share: float = Field(
        0.5, gt=0, le=1, description="the owner's share of all messages on the symbol during the spell")
    min_cancel_ratio: float = Field(0.9, gt=0, le=1, description="cancelled (or expired) orders over placed orders")
    max_fill_ratio: float = Field(0.05, ge=0, le=1, description="orders with a fill over orders placed")


class QuoteStuffingDetector(Detector[QuoteStuffingConfig]):
    name = "quote_stuffing"
    version = "1.0"
    typology = "quote_stuffing"
    config_model = QuoteStuffingConfig
    description = "Bursts of placed-and-cancelled orders far above the market's message rate, with no fills."

    def describe(self, config: QuoteStuffingConfig) -> WorkSpec:
        return WorkSpec(tables=("orders",), partition_by=("venue", "symbol", "date"),
                        columns={"orders": ORDER_COLUMNS, "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: QuoteStuffingConfig) -> pa.Table:
        out = AlertBuilder(self)
        arrow = part.tables.get("orders")
        if arrow is None or arrow.num_rows < config.min_messages:
            return out.to_table()
        venue = str(part.key.get("venue") or arrow.column("venue")[0].as_py())
        symbol = str(part.key.get("symbol") or arrow.column("symbol")[0].as_py())
        line = _timeline(arrow, config.bucket_ms * 1000)
        if not _may_stuff(line, config):
            return out.to_table()
        ev = _events(arrow, owner_map(part, venue), line)
        spells = _spells(ev, config)
        if spells.passed.height == 0:
            return out.to_table()
        for row in _spell_rows(arrow, ev, spells, config).iter_rows(named=True):
            start, end = as_dt(row["start"]), as_dt(row["end"])
            if not ends_in_window(part.window, end):
                continue
            secs = max((end - start).total_seconds(), config.bucket_ms / 1000.0)
            rate = row["msgs"] / secs
            out.add(venue=venue, symbol=symbol, accounts=row["accounts"], start=start, end=end,
                    score=clip01(0.5 + row["msgs"] / row["all_msgs"] / 2 + min(rate / config.min_rate, 10) / 40),
                    evidence_ids=row["ids"],
                    explanation=(f"account {names(row['accounts'])} sent {row['msgs']} order messages on {symbol} in "
                                 f"{fmt_span(start, end)} ({rate:.0f} per second, {row['msgs'] / row['all_msgs']:.0%}"
                                 f" of all messages then): {row['placed']} orders placed, {row['cancelled']} "
                                 f"cancelled, {row['filled']} filled."))
        return out.to_table()


class _Events(NamedTuple):
    """The partition's order events as integer arrays in time order."""
    order: np.ndarray      # the Arrow table's row of each event
    ts: np.ndarray         # µs since the epoch
    bucket: np.ndarray     # ts // bucket_us, non-decreasing
    owner: np.ndarray      # owner code, -1 without an account
    kind: np.ndarray       # _FILL, _NEW, _CANCEL (cancel or expire), _OTHER (amend), _NONE (no event)
    owners: pa.Array       # owner code -> owner (customer_id, or the account itself when unknown)


_FILL, _NEW, _CANCEL, _OTHER, _NONE = 0, 1, 2, 3, 4


class _Timeline(NamedTuple):
    """The partition's order events in time order, before their owners are looked up."""
    order: np.ndarray | None  # the Arrow table's row of each event, None when the table is in time order
    ts: np.ndarray         # µs since the epoch
    bucket: np.ndarray     # ts // bucket_us, non-decreasing
    kind: np.ndarray       # as ``_Events.kind``


def _timeline(arrow: pa.Table, bucket_us: int) -> _Timeline:
    """The events' times, buckets and kinds, all ``_may_stuff`` reads."""
    ts = pc.cast(arrow.column("ts"), pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy()
    kind = _kinds(arrow.column("event"))
    order = None
    if ts.size > 1 and bool((ts[1:] < ts[:-1]).any()):
        order = np.argsort(ts, kind="stable")
        ts, kind = ts[order], kind[order]
    return _Timeline(order, ts, np.floor_divide(ts, bucket_us), kind)


def _may_stuff(line: _Timeline, config: QuoteStuffingConfig) -> bool:
    """False when no owner can have a spell that passes the message count test of ``_spells``, read without the
    owners: a bucket hot for an owner (``min_rate`` of its messages) holds at least that many messages of all
    accounts, so an owner's spell lies within a run of such buckets at most ``max_gap_buckets`` quiet buckets
    apart, and its messages are at most all the messages of that run. 167 of the 180 book-days of ten days of the
    10M-trade bench market have no run with ``min_messages``, and skipping their owners' lookup and spells took
    the detector from 0.63 to 0.20 CPU-s there. True (read the owners) when the times are not plain integers
    (nulls)."""
    if line.bucket.dtype != np.int64:
        return True
    message = (line.kind != _FILL) & (line.kind != _NONE)
    return bool(_busy_run(line.bucket, message, config.min_rate * config.bucket_ms / 1000.0,
                          config.max_gap_buckets, config.min_messages))


@njit(cache=True, nogil=True)
def _busy_run(bucket: np.ndarray, message: np.ndarray, threshold: float, max_gap: int, least: int) -> bool:
    """Whether some run of buckets with ``threshold`` messages or more, at most ``max_gap`` quiet buckets apart,
    holds ``least`` messages from its first bucket to its last (``bucket`` non-decreasing)."""
    seen = 0            # messages before the current bucket
    start_seen = -1     # messages before the current run's first bucket (-1: no run)
    last_hot = 0
    i, n = 0, bucket.size
    while i < n:
        b, count = bucket[i], 0
        while i < n and bucket[i] == b:
            count += message[i]
            i += 1
        if count >= threshold:
            if start_seen < 0 or b - last_hot > max_gap + 1:
                start_seen = seen
            last_hot = b
            if seen + count - start_seen >= least:
                return True
        seen += count
    return False


def _events(arrow: pa.Table, owners: pl.DataFrame, line: _Timeline) -> _Events:
    """Counting messages per owner and bucket in a Polars frame of every order event, grouped by account
    string, was most of the detector's time. Accounts and events are coded once (Arrow's hash), owners looked
    up once per distinct account, and the counting runs over integer arrays in time order."""
    accounts = pc.dictionary_encode(arrow.column("account")).combine_chunks()
    known_accounts, known_owners = _arrow_owners(owners)
    distinct = accounts.dictionary
    at = pc.index_in(distinct, value_set=pc.cast(known_accounts, distinct.type))
    owner_of = pc.coalesce(pc.take(pc.cast(known_owners, distinct.type), at), distinct)
    coded = pc.dictionary_encode(owner_of)
    account_owner = coded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    acc = accounts.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    owner = np.where(acc >= 0, account_owner[np.maximum(acc, 0)] if account_owner.size else -1, -1).astype(np.int32)
    if line.order is None:
        return _Events(np.arange(line.ts.size), line.ts, line.bucket, owner, line.kind, coded.dictionary)
    return _Events(line.order, line.ts, line.bucket, owner[line.order], line.kind, coded.dictionary)


_KINDS = {"fill": _FILL, "new": _NEW, "cancel": _CANCEL, "expire": _CANCEL}
# ``_KINDS``' names as one byte string with offsets, for ``_kind_of``
_KIND_BYTES = np.frombuffer("".join(_KINDS).encode(), np.uint8)
_KIND_OFFSETS = np.cumsum([0] + [len(k.encode()) for k in _KINDS]).astype(np.int64)
_KIND_CODES = np.array(list(_KINDS.values()), np.int8)


def _kinds(events: pa.ChunkedArray) -> np.ndarray:
    """Each event's kind (``_KINDS``, ``_OTHER`` for any other name, ``_NONE`` for none), read from the names'
    bytes in one compiled pass: Arrow's dictionary encoding, a hash of every event's name, was a third of
    ``_events`` (16 against 5 ms for the 486k events of one of the bench market's book-days). Other column types
    take that encoding."""
    if not (pa.types.is_string(events.type) or pa.types.is_large_string(events.type)):
        coded = pc.dictionary_encode(events).combine_chunks()
        kinds = np.array([_KINDS.get(e, _OTHER) for e in coded.dictionary.to_pylist()] + [_NONE], np.int8)
        return kinds[coded.indices.fill_null(len(kinds) - 1).to_numpy(zero_copy_only=False)]
    out = np.empty(len(events), np.int8)
    at = 0
    for chunk in events.chunks:
        offsets, data, valid = string_buffers(chunk)
        _kind_of(offsets, data, valid, out[at:at + len(chunk)])
        at += len(chunk)
    return out


@njit(cache=True, nogil=True)
def _kind_of(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, out: np.ndarray) -> None:
    """``out[i]`` = the kind of string i (``valid`` empty: no nulls). A name of 8 bytes or fewer is read as one word
    (its bytes, the rest zeroed) and compared with the known names' words of its length: comparing byte by byte,
    a loop of 3-6 rounds whose exit the processor mispredicts, took 12.8 ms for 1.81M events of a bench venue's
    days, the words 9.4 (a branch-free table of the four words was no better: ~4 ns an event is the loads). The
    last strings of the buffer, whose word would read past its end, and longer names are compared byte by byte."""
    names, bounds, codes = _KIND_BYTES, _KIND_OFFSETS, _KIND_CODES
    words = np.zeros(codes.size, np.uint64)
    for k in range(codes.size):
        for j in range(bounds[k + 1] - bounds[k]):
            words[k] |= np.uint64(names[bounds[k] + j]) << np.uint64(8 * j)
    size = data.size
    for i in range(offsets.size - 1):
        a = offsets[i]
        n = offsets[i + 1] - a
        kind = _OTHER
        if n <= 8 and a + 8 <= size:
            w = load_u64(data, np.intp(a))  # type: ignore[call-arg,var-annotated]
            if n < 8:
                w &= (np.uint64(1) << np.uint64(8 * n)) - np.uint64(1)
            for k in range(codes.size):
                if bounds[k + 1] - bounds[k] == n and words[k] == w:
                    kind = codes[k]
                    break
        else:
            for k in range(codes.size):
                b = bounds[k]
                if bounds[k + 1] - b == n:
                    j = 0
                    while j < n and data[a + j] == names[b + j]:
                        j += 1
                    if j == n:
                        kind = codes[k]
                        break
        out[i] = kind
    if valid.size:
        for i in range(offsets.size - 1):
            if not valid[i]:
                out[i] = _NONE

# The owner map as Arrow, for the last few maps (kept with a reference, so an id stays its own): one map serves
# every partition of a runner's task.
_ARROW_OWNERS: dict[int, tuple[tuple[pa.Array, pa.Array], pl.DataFrame]] = {}


def _arrow_owners(owners: pl.DataFrame) -> tuple[pa.Array, pa.Array]:
    """The map's accounts and their owners as two Arrow arrays."""
    found = _ARROW_OWNERS.get(id(owners))
    if found is None or found[1] is not owners:
        if len(_ARROW_OWNERS) >= 4:
            _ARROW_OWNERS.clear()
        table = owners.to_arrow()
        found = ((table.column("account").combine_chunks(), table.column("owner").combine_chunks()), owners)
        _ARROW_OWNERS[id(owners)] = found
    return found[0]


class _Spells(NamedTuple):
    passed: pl.DataFrame   # the spells that passed the count tests, with their counts and owner
    of_event: np.ndarray   # each event's spell (-1 outside every spell)


def _spells(ev: _Events, config: QuoteStuffingConfig) -> _Spells:
    """Each owner's spells of hot buckets (``min_rate`` messages a second, at most ``max_gap_buckets`` quiet
    buckets inside), with their messages, placements and cancellations and all messages on the symbol then;
    kept are those passing the count tests (messages, share, cancellations)."""
    message = (ev.kind != _FILL) & (ev.kind != _NONE)
    threshold = config.min_rate * config.bucket_ms / 1000.0
    n_owners = len(ev.owners)
    s_owner, s_b0, s_b1 = _hot_spells(ev.owner, ev.bucket, message, n_owners, threshold, config.max_gap_buckets)
    if s_owner.size == 0:
        return _Spells(pl.DataFrame(), np.empty(0, np.int64))
    spell = _spell_of(ev.owner, ev.bucket, s_owner, s_b0, s_b1, n_owners)
    inside = spell >= 0
    k = s_owner.size
    msgs = np.bincount(spell[inside & message], minlength=k)
    placed = np.bincount(spell[inside & (ev.kind == _NEW)], minlength=k)
    cancelled = np.bincount(spell[inside & (ev.kind == _CANCEL)], minlength=k)
    # all messages on the symbol in the spell's buckets (every account's, the owner's included)
    before = np.concatenate([[0], np.cumsum(message)])
    all_msgs = before[np.searchsorted(ev.bucket, s_b1, "left")] - before[np.searchsorted(ev.bucket, s_b0, "left")]
    keep = np.flatnonzero((msgs >= config.min_messages) & (msgs >= config.min_share * all_msgs)
                          & (cancelled >= config.min_cancel_ratio * placed))
    passed = pl.DataFrame({
        "spell": keep, "msgs": msgs[keep], "placed": placed[keep], "cancelled": cancelled[keep],
        "all_msgs": all_msgs[keep], "owner": ev.owners.take(pa.array(s_owner[keep])).cast(pa.string()).to_pylist(),
    }, schema={"spell": pl.Int64, "msgs": pl.Int64, "placed": pl.Int64, "cancelled": pl.Int64,
               "all_msgs": pl.Int64, "owner": pl.String})
    return _Spells(passed, spell)


def _spell_rows(arrow: pa.Table, ev: _Events, spells: _Spells, config: QuoteStuffingConfig) -> pl.DataFrame:
    """The events of the spells that passed the count tests (few), read from the table: the orders that
    filled, the span, the order ids and accounts; then the fill test."""
    wanted = np.isin(spells.of_event, spells.passed["spell"].to_numpy())
    rows = pl.from_arrow(arrow.select(["order_id", "account", "event"]).take(pa.array(ev.order[wanted])))
    assert isinstance(rows, pl.DataFrame)
    rows = rows.with_columns(spell=pl.Series(spells.of_event[wanted]),
                             ts=pl.Series(ev.ts[wanted]).cast(pl.Datetime("us", "UTC")))
    stats = rows.group_by("spell").agg(
        filled=pl.col("order_id").filter(pl.col("event") == "fill").n_unique(),
        start=pl.col("ts").min(), end=pl.col("ts").max(), ids=pl.col("order_id").unique(),
        accounts=pl.col("account").unique())
    return spells.passed.join(stats, on="spell") \
        .filter(pl.col("filled") <= config.max_fill_ratio * pl.col("placed")).sort("owner", "start")


@njit(cache=True, nogil=True)
def _hot_spells(owner: np.ndarray, bucket: np.ndarray, message: np.ndarray, n_owners: int, threshold: float,
                max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass in time order: each owner's message count in its current bucket; a bucket with ``threshold``
    messages or more is hot and joins its owner's current spell when at most ``max_gap`` quiet buckets lie
    between, else starts one. Returns the spells' owner, first bucket and last bucket + 1, each owner's in
    time order."""
    n = owner.size
    cur_b = np.zeros(n_owners, np.int64)
    cur_n = np.zeros(n_owners, np.int64)
    last = np.full(n_owners, -1, np.int64)   # the owner's latest spell
    s_owner = np.empty(n, np.int64)
    s_b0 = np.empty(n, np.int64)
    s_b1 = np.empty(n, np.int64)
    k = 0
    for i in range(n + n_owners):
        if i < n:
            if not message[i] or owner[i] < 0:
                continue
            o, b = owner[i], bucket[i]
            if cur_n[o] > 0 and cur_b[o] == b:
                cur_n[o] += 1
                continue
        else:
            o = i - n  # the end: every owner's last bucket closes
        if cur_n[o] >= threshold:
            hot = cur_b[o]
            if last[o] >= 0 and hot - (s_b1[last[o]] - 1) <= max_gap + 1:
                s_b1[last[o]] = hot + 1
            else:
                s_owner[k], s_b0[k], s_b1[k] = o, hot, hot + 1
                last[o] = k
                k += 1
        if i < n:
            cur_b[o], cur_n[o] = bucket[i], 1
        else:
            cur_n[o] = 0
    return s_owner[:k], s_b0[:k], s_b1[:k]


@njit(cache=True, nogil=True)
def _spell_of(owner: np.ndarray, bucket: np.ndarray, s_owner: np.ndarray, s_b0: np.ndarray, s_b1: np.ndarray,
              n_owners: int) -> np.ndarray:
    """Each event's spell: the one of its owner whose buckets hold it, or -1. Events come in time order and an
    owner's spells are disjoint and in time order, so one pointer per owner walks them."""
    ptr = np.zeros(n_owners + 1, np.int64)
    for s in range(s_owner.size):
        ptr[s_owner[s] + 1] += 1
    for o in range(n_owners):
        ptr[o + 1] += ptr[o]
    mine = np.empty(s_owner.size, np.int64)   # spells grouped by owner, each group in time order
    fill = ptr[:-1].copy()
    for s in range(s_owner.size):
        mine[fill[s_owner[s]]] = s
        fill[s_owner[s]] += 1
    at = ptr[:-1].copy()
    out = np.full(owner.size, -1, np.int64)
    for i in range(owner.size):
        o = owner[i]
        if o < 0:
            continue
        p, end = at[o], ptr[o + 1]
        while p < end and s_b1[mine[p]] <= bucket[i]:
            p += 1
        at[o] = p
        if p < end and s_b0[mine[p]] <= bucket[i]:
            out[i] = mine[p]
    return out


DETECTOR = register(QuoteStuffingDetector())
