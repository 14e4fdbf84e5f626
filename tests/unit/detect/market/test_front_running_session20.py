"""Front running's and the owner keys' session-20 passes against the session-19 versions they replace (kept here as
the references), on random inputs:

- ``front_running_orders._probe`` reads an event's id of 8 to 16 bytes in its loop (any other through
  ``_keyed_apart``): its answers are session 19's (and those of ``probe_spans`` through either) on random takers'
  ids and order events — ids of every length from 0 to 24 bytes, at the very end of their buffers, in two halves,
  in one Arrow chunk or several, sliced (offsets not from 0), with ties in time and equal quantities — with the
  hashes whole or forced to be shared (``_HASH_BITS``), so that every match is told apart by the keys;
- ``owner_keys._find_entries`` reads a string of 8 to 16 bytes in its loop (any other through ``_word_key_apart``)
  and keeps its words for the probe: its answers are session 19's and a dictionary's on random keys and strings of
  every length from 0 to 24 bytes (known, unknown, at the very end of their buffers, sliced, 32- and 64-bit
  offsets), and session 19's on forged tables where a key sits in the slot of another string with its hash's top
  bits.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from numba import njit

import harbour.detect.market.front_running_orders as fro
from harbour.data.arrow_strings import is_word, same_bytes, string_buffers
from harbour.detect.market import owner_keys

from .test_owner_word_table import forged_slots

ALPHABET = list("ab\u00e9XY0")


def _strings(rng: np.random.Generator, n: int, longest: int = 25) -> list[str]:
    """Random strings of 0 to ``longest`` - 1 characters (some of two bytes): every length around 8 and 16."""
    return ["".join(rng.choice(ALPHABET, int(rng.integers(0, longest)))) for _ in range(n)]


# --- the probe -----------------------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _probe_s19(a_sp: np.ndarray, a_data: np.ndarray, b_sp: np.ndarray, b_data: np.ndarray, o_off: np.ndarray,
               o_data: np.ndarray, news: np.ndarray, k_off: np.ndarray, k_data: np.ndarray, typed: bool,
               ts: np.ndarray, qty: np.ndarray, market: np.ndarray, keep: np.uint64, force: np.uint64
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Session 19's ``_probe``: every event's id hashed and keyed by ``_keyed`` inlined."""
    codes, rep, slots, hashes, keys = fro._numbered(a_sp, a_data, b_sp, b_data, keep, force)
    n_ids = rep.shape[0]
    bloom = fro._bloom(hashes)
    placed, size = np.zeros(n_ids, np.int64), np.zeros(n_ids, np.float64)
    has_placed, has_size = np.zeros(n_ids, np.bool_), np.zeros(n_ids, np.bool_)
    unfilled = np.empty(news.shape[0], np.int64)
    k = 0
    for j in range(news.shape[0]):
        i = news[j]
        c = -1
        h, n, w0, w1 = fro._keyed(o_off, o_data, i, keep, force)
        if fro._maybe(bloom, h):
            if n <= 16:
                s = fro._short_slot(slots, keys, h, n, w0, w1)
            else:
                s = fro._long_slot(slots, keys, rep, h, n, w0, w1, o_off, o_data, i, a_sp, a_data, b_sp, b_data)
            v = slots[s]
            c = -1 if v == 0 else fro._id_in(v)
        if c < 0:
            if typed and is_word(k_off, k_data, i, market):
                unfilled[k] = i
                k += 1
            continue
        if not has_placed[c] or ts[i] < placed[c]:
            placed[c] = ts[i]
            has_placed[c] = True
        if not has_size[c] or qty[i] > size[c]:
            size[c] = qty[i]
            has_size[c] = True
    return codes, rep, placed, size, has_placed, has_size, unfilled[:k]


# The hash bits (kept, forced): whole; all shared; a few low bits kept (slots and bloom bits shared, top bits apart
# for some); the top bits forced (every match of the top bits a key compare).
HASH_BITS = [
    (np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0)),
    (np.uint64(0), np.uint64(0x5EED)),
    (np.uint64(0x3), np.uint64(0xABCD000000000000)),
    (np.uint64(0x00000000FFFFFFFF), np.uint64(0x1234567800000000)),
]

EVENTS = ["new", "fill", "cancel", "new", "new", "amend"]
KINDS = ["market", "limit", "market", "marke", "markets", ""]


def _halves(rng: np.random.Generator, ids: list[str]) -> fro.Halves:
    """The takers' ids as two halves, each an Arrow array (sliced at times, so its offsets do not start at 0)."""
    cut = int(rng.integers(0, len(ids) + 1))
    halves = []
    for part in (ids[:cut], ids[cut:]):
        pad = int(rng.integers(0, 3))
        arr = pa.array(["x" * 5] * pad + part + ["tail"] * int(rng.integers(0, 2)), pa.string())
        arr = arr.slice(pad, len(part))
        offsets, data, _ = string_buffers(arr)
        halves.append(fro.StringSpans(fro.spans_of_offsets(offsets.astype(np.int64)), data, fro._NO_NULLS))
    return fro.Halves(halves[0], halves[1])


def _orders(rng: np.random.Generator, ids: list[str], n: int, chunks: int, large: bool) -> pa.Table:
    """Random order events: ids of the takers and others, kinds, ties in time, equal quantities; the last event's id
    at the very end of its buffer; in ``chunks`` chunks."""
    others = _strings(rng, max(1, n // 3))
    order_id = [ids[int(rng.integers(0, len(ids)))] if ids and rng.random() < 0.5
                else others[int(rng.integers(0, len(others)))] for _ in range(n)]
    event = [EVENTS[int(k)] for k in rng.integers(0, len(EVENTS), n)]
    kind = [KINDS[int(k)] for k in rng.integers(0, len(KINDS), n)]
    base = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    ts = [base + dt.timedelta(microseconds=int(u)) for u in rng.integers(0, 50, n)]
    qty = rng.choice([1.0, 2.0, 5.0, 7.5, 100.0], n)
    text = pa.large_string() if large else pa.string()
    table = pa.table({"order_id": pa.array(order_id, text), "event": pa.array(event, text),
                      "ts": pa.array(ts, pa.timestamp("us", "UTC")), "quantity": pa.array(qty, pa.float64()),
                      "order_type": pa.array(kind, text)})
    if chunks > 1 and n > 2:
        cuts = sorted({int(c) for c in rng.integers(1, n, chunks - 1)})
        batches = [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
        table = pa.concat_tables(batches)
    return table


def _same(found: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> bool:
    return len(found) == len(expected) and all(
        f.dtype == e.dtype and f.shape == e.shape and np.array_equal(f, e, equal_nan=f.dtype.kind == "f")
        for f, e in zip(found, expected, strict=True))


def _probe_args(halves: fro.Halves, orders: pa.Table, keep: np.uint64, force: np.uint64) -> tuple[object, ...]:
    """``_probe``'s arguments as ``probe_spans`` reads them off the events."""
    order_id = fro._strings(orders.column("order_id"))
    event = fro._strings(orders.column("event"))
    kind = fro._strings(orders.column("order_type"))
    assert order_id is not None and event is not None and kind is not None
    ts = orders.column("ts").cast(pa.int64()).to_numpy()
    qty = orders.column("quantity").to_numpy()
    a, b = halves
    return (a.spans, a.data, b.spans, b.data, order_id[0], order_id[1], fro._new_rows(*event), kind[0], kind[1],
            True, ts, qty, fro._MARKET, keep, force)


@pytest.mark.parametrize("seed", range(8))
def test_probe_answers_as_session_19(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(12):
        ids = _strings(rng, int(rng.integers(0, 60)))
        ids += [ids[int(k)] for k in rng.integers(0, len(ids), len(ids) // 2)] if ids else []  # repeats
        rng.shuffle(ids)
        halves = _halves(rng, ids)
        orders = _orders(rng, ids, int(rng.integers(1, 300)), int(rng.integers(1, 4)), case % 3 == 0)
        for keep, force in HASH_BITS:
            args = _probe_args(halves, orders, keep, force)
            assert _same(fro._probe(*args), _probe_s19(*args)), (seed, case, keep, force)


@pytest.mark.parametrize("seed", range(4))
def test_probe_spans_answers_as_with_session_19s_probe(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``probe_spans`` through the new ``_probe`` and through session 19's: the same ``Probed``, with the hashes whole
    and shared."""
    rng = np.random.default_rng(100 + seed)
    for case in range(10):
        ids = _strings(rng, int(rng.integers(1, 40)))
        halves = _halves(rng, ids)
        orders = _orders(rng, ids, int(rng.integers(1, 200)), int(rng.integers(1, 4)), case % 2 == 0)
        for bits in HASH_BITS[:2]:
            monkeypatch.setattr(fro, "_HASH_BITS", bits)
            new = fro.probe_spans(halves, orders)
            with monkeypatch.context() as m:
                m.setattr(fro, "_probe", _probe_s19)
                old = fro.probe_spans(halves, orders)
            assert new is not None and old is not None
            assert _same(tuple(new), tuple(old)), (seed, case, bits)


def test_probe_ids_at_the_very_end_of_their_buffer() -> None:
    """Every length from 0 to 24 as the last event's id (its bytes end the buffer), a taker's and not."""
    for n in range(25):
        for known in (True, False):
            last = "q" * n
            ids = ["abcdefgh", "a" * 16, "b" * 17, last if known else "z" * 30]
            halves = _halves(np.random.default_rng(n), ids)
            base = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
            orders = pa.table({"order_id": pa.array(["abcdefgh", "zz", last], pa.string()),
                               "event": pa.array(["new", "new", "new"], pa.string()),
                               "ts": pa.array([base] * 3, pa.timestamp("us", "UTC")),
                               "quantity": pa.array([1.0, 2.0, 3.0]),
                               "order_type": pa.array(["limit", "market", "market"], pa.string())})
            for keep, force in HASH_BITS:
                args = _probe_args(halves, orders, keep, force)
                assert _same(fro._probe(*args), _probe_s19(*args)), (n, known, keep, force)


# --- the owner keys' look-ups -------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _find_entries_s19(entries: np.ndarray, key_offsets: np.ndarray, key_bytes: np.ndarray, offsets: np.ndarray,
                      data: np.ndarray) -> np.ndarray:
    """Session 19's ``_find_entries``: each string's key read twice by ``_word_key`` inlined (once for the hashes
    asked for ahead, once for the probe)."""
    m = offsets.shape[0] - 1
    out = np.full(m, -1, np.int64)
    mask = np.uint64(entries.shape[0] - 1)
    hashes = np.empty(m, np.uint64)
    for i in range(m):
        hashes[i] = owner_keys._word_key(offsets, data, i)[0]
    for i in range(m):
        x, n, w0, w1 = owner_keys._word_key(offsets, data, i)
        top, s = x >> np.uint64(32), x & mask
        while entries[s, 0] != 0:
            v = entries[s, 0]
            if (v >> np.uint64(32)) == top and entries[s, 1] == np.uint64(n) and entries[s, 2] == w0 and \
                    entries[s, 3] == w1:
                j = np.intp(v & np.uint64(0xFFFFFFFF)) - 1
                if n <= 16 or same_bytes(key_bytes, key_offsets[j], data, offsets[i], n):
                    out[i] = j
                    break
            s = (s + np.uint64(1)) & mask
    return out


def _entries(keys: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offsets, data, _ = string_buffers(pa.array(keys, pa.large_string()))
    return owner_keys._entry_table(*owner_keys._word_table(offsets, data)), offsets, data


@pytest.mark.parametrize("seed", range(8))
def test_find_entries_answers_as_session_19_and_a_dictionary(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(8):
        keys = list(dict.fromkeys(_strings(rng, int(rng.integers(1, 300)))))
        keys += [f"{'p' * 8}{m}{'s' * 8}" for m in ("A", "B", "AB")]  # long keys sharing both end words
        keys += ["abcdefgh" + t for t in ("", "1", "12345678")]  # 8, 9 and 16 bytes sharing the first word
        keys = list(dict.fromkeys(keys))
        entries, k_off, k_data = _entries(keys)
        index = {k: i for i, k in enumerate(keys)}
        asked = [k for k in keys if rng.random() < 0.6] + _strings(rng, 200)
        asked += ["p" * 8 + "C" + "s" * 8, "abcdefgh2", "abcdefgh123456789"]
        rng.shuffle(asked)
        for text in (pa.string(), pa.large_string()):
            for tail in ([], [keys[int(rng.integers(0, len(keys)))]]):  # a known key ending the buffer
                strings = asked + tail
                arr = pa.array(["pad"] + strings, text).slice(1)  # offsets not from 0
                offsets, data, _ = string_buffers(arr)
                found = owner_keys._find_entries(entries, k_off, k_data, offsets, data)
                assert found.tolist() == _find_entries_s19(entries, k_off, k_data, offsets, data).tolist()
                assert found.tolist() == [index.get(s, -1) for s in strings], (seed, case)


def test_find_entries_every_length_at_the_buffers_end() -> None:
    keys = ["k" * n for n in range(25)]
    entries, k_off, k_data = _entries(keys)
    for n in range(25):
        for last in ("k" * n, "j" * n):
            offsets, data, _ = string_buffers(pa.array(["k" * 9, last], pa.string()))
            found = owner_keys._find_entries(entries, k_off, k_data, offsets, data).tolist()
            assert found == _find_entries_s19(entries, k_off, k_data, offsets, data).tolist()
            assert found == [9, n if last[:1] != "j" else -1], (n, last)


@pytest.mark.parametrize(("key", "asked"), [
    ("abcdefgh1", "abcdefgh2"),  # 9 bytes: the same first word, another last one
    ("1bcdefghij", "2bcdefghij"),  # the same last word, another first one
    ("abcdefgh", "abcdefgi"),  # 8 bytes
    ("a" * 16, "a" * 15 + "b"),  # 16 bytes
    ("abc", "abd"),  # fewer than 8 bytes
    ("abcdefgh", "abcdefgh\u0000"),  # a zero byte more
    ("p" * 8 + "A" + "s" * 8, "p" * 8 + "B" + "s" * 8),  # longer than 16: the same words, compared byte by byte
])
def test_find_entries_tells_a_forged_hash_match_apart(key: str, asked: str) -> None:
    """A key placed in the slot of another string with that string's hash's top bits (a forged table of 16 slots):
    not found for the other string, found for itself as session 19 finds it."""
    slots, words, k_off, k_data, a_off, a_data = forged_slots(key, asked)
    entries = owner_keys._entry_table(slots, words)
    found = owner_keys._find_entries(entries, k_off, k_data, a_off, a_data)
    assert found[0] == -1
    assert found.tolist() == _find_entries_s19(entries, k_off, k_data, a_off, a_data).tolist()


# --- the trades' columns read in place ----------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _aggressors_s19(spans: np.ndarray, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Session 19's ``_aggressors``: a compare per kind and row."""
    n = spans.shape[0] // 2
    out = np.empty(n, np.int8)
    for i in range(n):
        if valid.shape[0] and not valid[i]:
            out[i] = fro.AGGRESSOR_NULL
        elif is_word(spans, data, 2 * i, fro._BUY):
            out[i] = fro.AGGRESSOR_BUY
        elif is_word(spans, data, 2 * i, fro._SELL):
            out[i] = fro.AGGRESSOR_SELL
        else:
            out[i] = fro.AGGRESSOR_OTHER
    return out


SIDES = ["buy", "sell", "buy", "sell", "BUY", "bu", "buyx", "sel", "sells", "", "b", "sellbuy", "buy\u0000", None]


@pytest.mark.parametrize("seed", range(6))
def test_aggressors_as_session_19(seed: int) -> None:
    """Random aggressors (kinds that share bytes with ``buy`` and ``sell``, nulls), buffers under 8 bytes, the last
    string ending the buffer, sliced, in chunks, and as Polars' string views (``text``)."""
    import polars as pl

    rng = np.random.default_rng(seed)
    for case in range(40):
        n = int(rng.integers(0, 200)) if case % 4 else int(rng.integers(0, 4))
        sides = [SIDES[int(k)] for k in rng.integers(0, len(SIDES) - (case % 2), n)]  # nulls in half the cases
        text = pa.large_string() if case % 3 == 0 else pa.string()
        arr = pa.array(sides, text)
        pieces = [arr]
        if n > 2:
            lo, hi = sorted(int(x) for x in rng.integers(0, n + 1, 2))
            pieces += [arr.slice(lo, hi - lo), pa.chunked_array([arr.slice(0, lo), arr.slice(lo)])]
        for piece in pieces:
            col = piece if isinstance(piece, pa.ChunkedArray) else pa.chunked_array([piece], text)
            spans = fro._spans(col)
            assert spans is not None
            assert fro._aggressors(*spans).tolist() == _aggressors_s19(*spans).tolist(), (seed, case)
        viewed = fro.text(pl.Series(sides, dtype=pl.String))
        assert viewed is not None
        assert fro._aggressors(*viewed).tolist() == _aggressors_s19(*viewed).tolist(), (seed, case)


def _spans_s19(offsets: np.ndarray) -> np.ndarray:
    """Session 19's ``spans_of_offsets`` (its callers copied 32-bit offsets to 64 bits first)."""
    spans = np.empty(2 * (offsets.shape[0] - 1), np.int64)
    spans[0::2], spans[1::2] = offsets[:-1], offsets[1:]
    return spans


@pytest.mark.parametrize("seed", range(3))
def test_spans_of_offsets_as_session_19(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 7, 300):
        for kind in (pa.string(), pa.large_string()):
            arr = pa.array(_strings(rng, n), kind)
            for piece in (arr, arr.slice(n // 3, n // 2)):
                offsets, _, _ = string_buffers(piece)
                found = fro.spans_of_offsets(offsets)
                assert found.dtype == np.int64
                assert found.tolist() == _spans_s19(offsets.astype(np.int64)).tolist()


def _numbers_s19(col: pa.ChunkedArray, to: pa.DataType) -> np.ndarray:
    """Session 19's reading of a column of numbers: always cast."""
    import pyarrow.compute as pc

    return np.asarray(pc.cast(col, to).to_numpy(), np.int64 if to == pa.int64() else np.float64)


@pytest.mark.parametrize("seed", range(3))
def test_numbers_as_session_19s_casts(seed: int) -> None:
    """Times (microseconds, with and without a zone; milliseconds: cast) and quantities (float64; integers and
    float32: cast), in one chunk or several, sliced, empty: the same numbers, read-only as the casts' were."""
    rng = np.random.default_rng(seed)
    kinds = [(pa.timestamp("us", "UTC"), pa.int64()), (pa.timestamp("us"), pa.int64()),
             (pa.timestamp("ms", "UTC"), pa.int64()), (pa.float64(), pa.float64()), (pa.int64(), pa.float64()),
             (pa.float32(), pa.float64())]
    for kind, to in kinds:
        for n in (0, 1, 9, 200):
            raw = rng.integers(-(10 ** 12), 10 ** 12, n) if pa.types.is_timestamp(kind) or kind == pa.int64() \
                else rng.normal(0, 1e6, n)
            arr = pa.array(raw).cast(kind)
            cut = n // 3
            for col in (pa.chunked_array([arr], kind), pa.chunked_array([arr.slice(cut)], kind),
                        pa.chunked_array([arr.slice(0, cut), arr.slice(cut)], kind), pa.chunked_array([], kind)):
                found, expected = fro._numbers(col, to), _numbers_s19(col, to)
                assert found.dtype == expected.dtype and found.tolist() == expected.tolist(), (kind, n)
                assert not found.flags.writeable or expected.flags.writeable


def _dense_s19(code: np.ndarray) -> tuple[list[int], int]:
    """Session 19's dense numbering in ``leg_codes``: the used codes marked, their running count gathered."""
    used = np.zeros(int(code.max(initial=-1)) + 1, np.bool_)
    used[code] = True
    return (np.cumsum(used) - 1)[code].tolist(), int(used.sum())


@pytest.mark.parametrize("seed", range(4))
def test_dense_codes_as_session_19(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (0, 1, 2, 50, 3000):
        for room in (1, 5, 11005):
            code = rng.integers(0, room, n).astype(np.int64)
            dense, count = owner_keys._dense(code, int(code.max(initial=-1)) + 1)
            assert (dense.tolist(), count) == _dense_s19(code), (n, room)


def test_leg_codes_as_session_19() -> None:
    """Through ``leg_codes``: accounts known and unknown (an unknown one its own owner, sharing a code with an owner
    of its name), the codes numbered densely as before."""
    import polars as pl

    owners = pl.DataFrame({"account": ["a1", "a2", "a3", "a4", "a5"], "owner": ["C1", "C2", "C1", "a9", "C3"]})
    legs = pa.array(["a3", "a9", "zz", "a1", "a5", "zz", "a3"], pa.string())
    found = owner_keys.leg_codes(owners, legs)
    assert found is not None
    code = owner_keys.account_owners(owners, legs)
    assert code is not None
    assert (found[0].tolist(), found[1]) == _dense_s19(code)
    assert found[0].tolist() == [0, 1, 3, 0, 2, 3, 0]  # C1, a9 (a4's owner), zz, C1, C3, zz, C1
