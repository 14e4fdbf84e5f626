"""Quote stuffing: floods of order messages that are placed and cancelled at once, to clog the venue's
feed and slow other participants, not to trade.

The defining behaviour: one owner's new/amend/cancel messages reach ``min_rate`` per second for a spell,
far above the market's message rate at that time (``min_share`` of all messages in the spell), nearly
every order placed is cancelled, and almost nothing executes. Market makers send many messages too,
but steadily, and their quotes trade.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from pydantic import BaseModel, Field

from harbour.data.arrow_strings import load_u64, one_chunk, string_buffers, word_of
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
        ts = _times(arrow)
        if not _may_stuff(arrow, ts, config):
            return out.to_table()
        ev = _events(arrow, owner_map(part, venue), _timeline(arrow, ts, config.bucket_ms * 1000))
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


def _times(arrow: pa.Table) -> np.ndarray:
    """The events' times in µs since the epoch: int64, or numpy's floats with NaN where a time is missing."""
    return pc.cast(arrow.column("ts"), pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy()  # type: ignore[no-any-return]


def _timeline(arrow: pa.Table, ts: np.ndarray, bucket_us: int) -> _Timeline:
    """The events' times (``_times``), buckets and kinds, in time order."""
    kind = _kinds(arrow.column("event"))
    order = None
    if ts.size > 1 and bool((ts[1:] < ts[:-1]).any()):
        order = np.argsort(ts, kind="stable")
        ts, kind = ts[order], kind[order]
    return _Timeline(order, ts, np.floor_divide(ts, bucket_us), kind)


def _may_stuff(arrow: pa.Table, ts: np.ndarray, config: QuoteStuffingConfig) -> bool:
    """False when no owner can have a spell that passes the message count test of ``_spells``, read without the
    owners: a bucket hot for an owner (``min_rate`` of its messages) holds at least that many messages of all
    accounts, so an owner's spell lies within a run of such buckets at most ``max_gap_buckets`` quiet buckets
    apart, and its messages are at most all the messages of that run. 167 of the 180 book-days of ten days of the
    10M-trade bench market have no run with ``min_messages``, and skipping their owners' lookup and spells took
    the detector from 0.63 to 0.20 CPU-s there. The runs are read from the times and the names (``_busy_times``)
    where it can; else from the whole timeline (``_busy_run``). True (read the owners) when the times are not
    plain integers (nulls)."""
    if ts.dtype != np.int64:
        return True
    threshold = config.min_rate * config.bucket_ms / 1000.0
    events = arrow.column("event")
    if pa.types.is_string(events.type) or pa.types.is_large_string(events.type):
        offsets, data, valid = string_buffers(one_chunk(events))
        found = _busy_times(ts, offsets, data, valid, config.bucket_ms * 1000, threshold, config.max_gap_buckets,
                            config.min_messages, _KIND_KEYS, _KIND_SLOT_KINDS, _KIND_MULT, _LOW_BYTES)
        if found >= 0:
            return found == 1
    line = _timeline(arrow, ts, config.bucket_ms * 1000)
    message = (line.kind != _FILL) & (line.kind != _NONE)
    return bool(_busy_run(line.bucket, message, threshold, config.max_gap_buckets, config.min_messages))


# Times beyond this (µs, either sign) are left to ``_busy_run``: ``_busy_times`` multiplies buckets back to times.
_FAR = 1 << 62


@njit(cache=True, nogil=True)
def _busy_times(ts: np.ndarray, offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, bucket_us: int,
                threshold: float, max_gap: int, least: int, keys: np.ndarray, kinds: np.ndarray, mult: np.uint64,
                low: np.ndarray) -> int:
    """``_busy_run`` of the events' times (``ts``) and names (string buffers, ``valid`` empty without nulls), reading
    the names only near busy moments: 1 or 0 as it would return True or False, -1 when it cannot tell (times out of
    order or beyond ``_FAR``, or a ``threshold`` of one message or less). A hot bucket holds ``k`` =
    ceil(``threshold``) events or more, so some event and the one ``k - 1`` places on lie less than a bucket apart;
    where they do not (97 % of the events of the bench market), the scan steps on without reading a name. Where they
    do and share a bucket, the bucket's messages are counted, and a hot one joins the run as in ``_busy_run``
    (with the messages of the quiet buckets between). Reading every event's bucket and kind, the screen took 0.14
    CPU-s over the 180 book-days of ten bench days (alone, in one process), this 0.04."""
    n = ts.size
    if not threshold > 1.0:
        return -1
    if threshold > n:
        return 0  # no bucket holds that many messages
    k = int(math.ceil(threshold))
    for i in range(1, n):
        if ts[i] < ts[i - 1]:
            return -1
    if n and (ts[0] < -_FAR or ts[n - 1] > _FAR):
        return -1
    scratch = np.empty(n, np.int8)
    run = 0          # messages of the current run, from its first hot bucket to the last
    last_hot = 0     # the current run's last hot bucket
    last_end = -1    # the row after it (-1: no run)
    i = 0
    while i + k - 1 < n:
        if ts[i + k - 1] - ts[i] >= bucket_us:
            i += 1
            continue
        b = ts[i] // bucket_us
        end = (b + 1) * bucket_us
        if ts[i + k - 1] >= end:
            i += 1
            continue
        lo, hi = i, i + k  # the bucket's first row: the scan stepped row by row from the end of an earlier one
        while hi < n and ts[hi] < end:
            hi += 1
        count = _messages(offsets, data, valid, lo, hi, keys, kinds, mult, low, scratch)
        if count >= threshold:
            if last_end >= 0 and b - last_hot <= max_gap + 1:
                run += _messages(offsets, data, valid, last_end, lo, keys, kinds, mult, low, scratch) + count
            else:
                run = count
            last_hot, last_end = b, hi
            if run >= least:
                return 1
        i = hi
    return 0


@njit(cache=True, nogil=True)
def _messages(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, lo: int, hi: int, keys: np.ndarray,
              kinds: np.ndarray, mult: np.uint64, low: np.ndarray, scratch: np.ndarray) -> int:
    """The messages (events but fills and nulls) among strings ``lo`` to ``hi`` (not included), their kinds read by
    ``_kind_of`` into ``scratch`` (one buffer for the whole scan, not one per bucket)."""
    kind = scratch[lo:hi]
    _kind_of(offsets[lo:hi + 1], data, valid[lo:hi] if valid.size else valid[0:0], kind, keys, kinds, mult, low)
    count = 0
    for i in range(kind.size):
        count += kind[i] != _FILL and kind[i] != _NONE
    return count


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


def _kind_table() -> tuple[np.ndarray, np.ndarray, np.uint64]:
    """``_KINDS`` as a table of 8 slots for ``_kind_of``: each name's key (its bytes as one word, its length in the top
    byte) in the slot its key's multiplicative hash picks, with its kind; empty slots hold a key no string has (a top
    byte of 255; a key's is its length, 0 to 8). The multiplier is the first odd one from the golden ratio's that
    gives each name a slot of its own, found at import (so a name added later gets one too)."""
    keys = [int.from_bytes(k.encode(), "little") | len(k.encode()) << 56 for k in _KINDS]
    assert all(len(k.encode()) < 8 for k in _KINDS)
    mult = next(m for m in range(0x9E3779B97F4A7C15, 1 << 64, 2)
                if len({(k * m) % (1 << 64) >> 61 for k in keys}) == len(keys))
    table_keys = np.full(8, np.iinfo(np.uint64).max, np.uint64)
    table_kinds = np.full(8, _OTHER, np.int8)
    for key, code in zip(keys, _KINDS.values(), strict=True):
        table_keys[(key * mult) % (1 << 64) >> 61] = key
        table_kinds[(key * mult) % (1 << 64) >> 61] = code
    return table_keys, table_kinds, np.uint64(mult)


_KIND_KEYS, _KIND_SLOT_KINDS, _KIND_MULT = _kind_table()
# the low ``n`` bytes of a word for n = 0..7; none for 8 (a name of 8 bytes or more is keyed by that length alone)
_LOW_BYTES = np.array([(1 << 8 * n) - 1 for n in range(8)] + [0], np.uint64)


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
        _kind_of(offsets, data, valid, out[at:at + len(chunk)], _KIND_KEYS, _KIND_SLOT_KINDS, _KIND_MULT, _LOW_BYTES)
        at += len(chunk)
    return out


@njit(cache=True, nogil=True)
def _kind_of(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, out: np.ndarray, keys: np.ndarray,
             kinds: np.ndarray, mult: np.uint64, low: np.ndarray) -> None:
    """``out[i]`` = the kind of string i (``valid`` empty: no nulls), without a branch on the name: its key, its
    bytes as one word with its length in the top byte (a name of 8 bytes or more keyed by the length 8 alone, which no
    known name has), picks a slot of ``_kind_table``'s by its hash, and the slot's kind is taken where the slot holds
    that very key, else ``_OTHER``: equal keys are equal names, so the kind is exact. Comparing the word with each
    known name's, a loop whose exit the processor mispredicts on random names, took 0.11 s for the 9.1M events of ten
    bench days here, the table 0.02 s. A name whose word would be read past the buffer's end is read byte by byte."""
    size = data.size
    for i in range(offsets.size - 1):
        a = int(offsets[i])
        n = min(int(offsets[i + 1]) - a, 8)
        word = (load_u64(data, a) if a + 8 <= size else word_of(data, a, n)) & low[n]  # type: ignore[call-arg]
        key = word | (np.uint64(n) << np.uint64(56))
        slot = (key * mult) >> np.uint64(61)
        found = np.int8(keys[slot] == key)  # arithmetic, not a conditional: numba's branch was mispredicted
        out[i] = np.int8(_OTHER) + found * (kinds[slot] - np.int8(_OTHER))
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
