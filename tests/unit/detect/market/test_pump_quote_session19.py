"""Session 19's faster paths of quote_stuffing, each compared with the reading it replaced on random inputs
(pump_and_dump's trial in that session was not kept: no change, no test here).

The event kinds from a table of the names' keys (``_kind_of``) against the byte-by-byte comparison it replaced and
Arrow's dictionary encoding, on names that share a prefix with a known one, extend it, hold NUL bytes, run to 8 bytes
or more, or hash to a known name's slot; and the screen read from the times and only the names near busy moments
(``_busy_times``) against the whole timeline's runs (``_timeline`` and ``_busy_run``), on random streams with ties,
dense buckets, negative times, times on bucket edges, nulls, several and sliced chunks, times out of order and other
column types."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import harbour.detect.market.quote_stuffing as qs
from harbour.data.arrow_strings import string_buffers

# --- quote_stuffing: kinds ---------------------------------------------------------------------------------------

_OLD_BYTES = np.frombuffer("".join(qs._KINDS).encode(), np.uint8)
_OLD_OFFSETS = np.cumsum([0] + [len(k.encode()) for k in qs._KINDS]).astype(np.int64)
_OLD_CODES = np.array(list(qs._KINDS.values()), np.int8)


@njit(cache=False)
def _old_kind_of(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, out: np.ndarray) -> None:
    """The kinds as session 18 read them: each name compared with the known names of its length, byte by byte."""
    names, bounds, codes = _OLD_BYTES, _OLD_OFFSETS, _OLD_CODES
    for i in range(offsets.size - 1):
        a = offsets[i]
        n = offsets[i + 1] - a
        kind = qs._OTHER
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
        if valid.size and not valid[i]:
            out[i] = qs._NONE


def _old_kinds(events: pa.ChunkedArray) -> np.ndarray:
    out = np.empty(len(events), np.int8)
    at = 0
    for chunk in events.chunks:
        offsets, data, valid = string_buffers(chunk)
        _old_kind_of(offsets, data, valid, out[at:at + len(chunk)])
        at += len(chunk)
    return out


def _encoded(events: pa.ChunkedArray) -> np.ndarray:
    coded = pc.dictionary_encode(events).combine_chunks()
    kinds = np.array([qs._KINDS.get(e, qs._OTHER) for e in coded.dictionary.to_pylist()] + [qs._NONE], np.int8)
    return kinds[coded.indices.fill_null(len(kinds) - 1).to_numpy(zero_copy_only=False)]


def _slot(name: bytes) -> int:
    n = min(len(name), 8)
    word = int.from_bytes(name[:n], "little") if n < 8 else 0
    return int(((word | n << 56) * int(qs._KIND_MULT)) % (1 << 64) >> 61)


def _slot_sharers() -> list[str]:
    """Names of 1 to 7 letters that are no known name but hash to a known name's slot (forced collisions)."""
    rng = np.random.default_rng(0)
    taken = {_slot(k.encode()) for k in qs._KINDS}
    found: list[str] = []
    while len(found) < 12:
        name = "".join(chr(c) for c in rng.integers(97, 123, rng.integers(1, 8)))
        if name not in qs._KINDS and _slot(name.encode()) in taken:
            found.append(name)
    return found


NAMES = ["new", "cancel", "fill", "expire", "amend", None, "", "ne", "n", "newer", "newx", "cancelled", "cance",
         "fil", "fills", "expirE", "NEW", "cancel ", "néw", "new\x00", "fill\x00\x00\x00\x00", "cancel\x00\x00",
         "expire\x00\x00\x00", "newnewne", "cancelcancel", "\x00", "\x00\x00\x00", *_slot_sharers()]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kinds_are_the_byte_comparison_and_the_encoding(kind: pa.DataType, seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [NAMES[i] for i in rng.integers(0, len(NAMES), 900)]
    whole = pa.array(names, kind)
    # sliced chunks (offsets into shared buffers), an empty one, and the buffer's last strings
    events = pa.chunked_array([whole.slice(0, 300), whole.slice(300, 0), whole.slice(300, 17),
                               whole.slice(317, 583)], kind)
    got = qs._kinds(events)
    assert got.dtype == np.int8
    assert np.array_equal(got, _old_kinds(events))
    assert np.array_equal(got, _encoded(events))
    assert set(got.tolist()) == {*qs._KINDS.values(), qs._OTHER, qs._NONE}


@pytest.mark.parametrize("name", NAMES)
def test_each_name_alone_at_the_end_of_its_buffer(name: str | None) -> None:
    """A buffer of one short string: its word would be read past the buffer's end, so it is read byte by byte."""
    events = pa.chunked_array([pa.array([name], pa.string())])
    assert qs._kinds(events).tolist() == _old_kinds(events).tolist() == _encoded(events).tolist()


def test_names_sharing_a_known_slot_are_other() -> None:
    sharers = _slot_sharers()
    assert qs._kinds(pa.chunked_array([pa.array(sharers * 3)])).tolist() == [qs._OTHER] * len(sharers) * 3


def test_empty_and_non_string_columns() -> None:
    assert qs._kinds(pa.chunked_array([], pa.string())).size == 0
    events = pa.chunked_array([pa.array(["new", None, "amend", "fill", "expire"]).dictionary_encode()])
    assert qs._kinds(events).tolist() == [qs._NEW, qs._NONE, qs._OTHER, qs._FILL, qs._CANCEL]


# --- quote_stuffing: the screen ----------------------------------------------------------------------------------

def _old_may_stuff(arrow: pa.Table, config: qs.QuoteStuffingConfig) -> bool:
    """Session 18's screen: every event's bucket and kind in time order, then ``_busy_run`` (reading the kinds with
    the old byte comparison where the column is of strings)."""
    ts = pc.cast(arrow.column("ts"), pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy()
    if ts.dtype != np.int64:
        return True
    events = arrow.column("event")
    kind = _old_kinds(events) if pa.types.is_string(events.type) or pa.types.is_large_string(events.type) \
        else _encoded(events)
    if ts.size > 1 and bool((ts[1:] < ts[:-1]).any()):
        order = np.argsort(ts, kind="stable")
        ts, kind = ts[order], kind[order]
    message = (kind != qs._FILL) & (kind != qs._NONE)
    return bool(qs._busy_run(np.floor_divide(ts, config.bucket_ms * 1000), message,
                             config.min_rate * config.bucket_ms / 1000.0, config.max_gap_buckets, config.min_messages))


def _stream(rng: np.random.Generator, n: int, bucket_us: int, origin: int, spread: int) -> np.ndarray:
    """``n`` times in order over ``spread`` buckets from ``origin``, some piled into a few dense buckets."""
    plain = rng.integers(0, spread * bucket_us, n)
    dense = rng.integers(0, spread, n) * bucket_us + rng.integers(0, bucket_us, n) // rng.integers(1, 50, n)
    pick = rng.random(n) < rng.random()
    return np.sort(origin + np.where(pick, dense, plain)).astype(np.int64)


def _table(ts: np.ndarray, names: list[str | None], chunks: int, events_type: pa.DataType, ts_nulls: bool = False
           ) -> pa.Table:
    ts_arr = pa.array(ts, pa.timestamp("us", "UTC"),
                      mask=(np.arange(ts.size) % 7 == 3) if ts_nulls else None)
    ev_arr = pa.array(names, pa.string()).cast(events_type)
    cuts = sorted({0, ts.size, *np.linspace(0, ts.size, chunks + 1).astype(int).tolist()})
    # each chunk a slice of the whole arrays (offsets into shared buffers)
    return pa.table({"ts": pa.chunked_array([ts_arr.slice(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)],
                                            ts_arr.type),
                     "event": pa.chunked_array([ev_arr.slice(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)],
                                               ev_arr.type)})


SCREEN_NAMES = ["new", "cancel", "fill", "expire", "amend", None, "ne", "newer", "cancelled", "fil", "new\x00"]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 600), bucket_ms=st.sampled_from([1, 3, 1000]),
       rate=st.sampled_from([0.5, 1.0, 1500.0, 2000.0, 3333.3, 6000.0, 9000.0, 1e9]),
       max_gap=st.integers(1, 3), least=st.integers(1, 80),
       origin=st.sampled_from([0, -7_777_777, 1_767_571_200_000_000]),
       spread=st.integers(1, 60), chunks=st.integers(1, 3),
       events_type=st.sampled_from([pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())]),
       shuffled=st.booleans(), ts_nulls=st.booleans())
def test_the_screen_is_the_whole_timelines(seed: int, n: int, bucket_ms: int, rate: float, max_gap: int, least: int,
                                           origin: int, spread: int, chunks: int, events_type: pa.DataType,
                                           shuffled: bool, ts_nulls: bool) -> None:
    rng = np.random.default_rng(seed)
    bucket_us = bucket_ms * 1000
    ts = _stream(rng, n, bucket_us, origin, spread)
    if shuffled and n > 1:
        ts = ts[rng.permutation(n)]
    weights = rng.random(len(SCREEN_NAMES))
    names = [SCREEN_NAMES[i] for i in rng.choice(len(SCREEN_NAMES), n, p=weights / weights.sum())]
    arrow = _table(ts, names, chunks, events_type, ts_nulls and rng.random() < 0.2)
    config = qs.QuoteStuffingConfig(bucket_ms=bucket_ms, min_rate=rate / bucket_ms, max_gap_buckets=max_gap,
                                    min_messages=least)
    assert qs._may_stuff(arrow, qs._times(arrow), config) == _old_may_stuff(arrow, config)


def test_the_screen_reads_busy_and_quiet_streams_without_the_timeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-order streams of string names take ``_busy_times`` alone, both ways; ties and dense buckets included."""
    monkeypatch.setattr(qs, "_timeline", lambda *a: pytest.fail("the whole timeline was read"))
    config = qs.QuoteStuffingConfig(bucket_ms=1, min_rate=5000.0, max_gap_buckets=2, min_messages=20)  # 5 a bucket
    seen = set()
    for seed in range(300):
        rng = np.random.default_rng(seed)
        ts = _stream(rng, int(rng.integers(20, 300)), 1000, 0, int(rng.integers(5, 80)))
        names = [SCREEN_NAMES[i] for i in rng.integers(0, len(SCREEN_NAMES), ts.size)]
        arrow = _table(ts, names, 1, pa.string())
        got = qs._may_stuff(arrow, qs._times(arrow), config)
        assert got == _old_may_stuff(arrow, config)
        seen.add(got)
    assert seen == {True, False}


def test_a_run_joins_hot_buckets_across_quiet_ones() -> None:
    """Two hot buckets two quiet buckets apart (max_gap 2) make one run with the quiet buckets' messages; three
    apart, two runs. 3 messages make a bucket hot; the run needs 8."""
    config = qs.QuoteStuffingConfig(bucket_ms=1, min_rate=3000.0, max_gap_buckets=2, min_messages=8)

    def busy(buckets: list[int], names: list[str]) -> bool:
        ts = np.array(buckets, np.int64) * 1000 + 5
        arrow = _table(ts, list(names), 1, pa.string())
        got = qs._may_stuff(arrow, qs._times(arrow), config)
        assert got == _old_may_stuff(arrow, config)
        return got

    hot = ["new", "cancel", "amend"]
    assert busy([0, 0, 0, 1, 2, 3, 3, 3], [*hot, "new", "new", *hot])            # 3 + 2 + 3
    assert not busy([0, 0, 0, 1, 2, 3, 3, 3], [*hot, "fill", "new", *hot])       # a fill is no message
    assert not busy([0, 0, 0, 4, 4, 4, 5, 5], [*hot, *hot, "new", "new"])  # 4 apart: two runs of 3
    assert not busy([0, 0, 0, 0, 0, 0, 0], ["new", "fill", "fill", None, "new", "fill", "fill"])  # 2 messages


def test_a_time_on_a_bucket_edge_is_the_next_buckets() -> None:
    """Two messages late in bucket 0 and one at the first microsecond of bucket 1: no bucket has the 3 that make it
    hot, though the three lie less than a bucket apart."""
    config = qs.QuoteStuffingConfig(bucket_ms=1, min_rate=3000.0, max_gap_buckets=2, min_messages=3)
    for ts, want in (([5, 6, 1000], False), ([5, 6, 999], True), ([-1000, -999, 0], False), ([-1000, -1, -1], True)):
        arrow = _table(np.array(ts, np.int64), ["new", "new", "new"], 1, pa.string())
        assert qs._may_stuff(arrow, qs._times(arrow), config) == _old_may_stuff(arrow, config) == want
