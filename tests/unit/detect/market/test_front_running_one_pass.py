"""Front running's screens, session 17: the probe hashes each id where it reads its key (``_keyed``, one load of its
bytes for both: its hash must be ``_hash_of``'s, and ids that share a hash are still told apart); the distinct values
by a sort (``_distinct``: ``np.unique``'s answer); the trades' ids read once for every reader (``LazyStrings`` of a
``LazyStrings``); the trades read as they are where every trade is between two owners (``trade_arrays``' answer must
be the gathered one's)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from numba import njit

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_orders as fro
import harbour.detect.market.front_running_screens as frs
from harbour.data.arrow_strings import string_buffers

from .test_front_running_probe_keys import _alike, _expected, _halves, _orders
from .test_front_running_screens import _owned, _strings, takers_and_legs_as_the_frames

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=False)
def _both(offsets: np.ndarray, data: np.ndarray, keep: np.uint64, force: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    keyed, plain = np.empty(offsets.shape[0] - 1, np.uint64), np.empty(offsets.shape[0] - 1, np.uint64)
    for i in range(offsets.shape[0] - 1):
        keyed[i] = fro._keyed(offsets, data, i, keep, force)[0]
        plain[i] = (fro._hash_of(offsets, data, i) & keep) | force
    return keyed, plain


@pytest.mark.parametrize("seed", range(4))
def test_the_keyed_hash_is_the_hash_of_every_string(seed: int) -> None:
    """Strings of 0 to 24 bytes (unicode too), each alone at the end of its buffer (the masked load cannot read
    past it), then all in one buffer; with every bit kept, and with bits cleared and set."""
    strings = [*_alike(np.random.default_rng(seed), 300), "", "é", "日本語のID", "x" * 16, "y" * 17]
    for keep, force in [(_ALL, np.uint64(0)), (np.uint64(3), np.uint64(0)), (np.uint64(3), np.uint64(2**64 - 4))]:
        for packed in ([pa.array([s]) for s in strings], [pa.array(strings)]):
            for arr in packed:
                offsets, data, _ = string_buffers(arr)
                keyed, plain = _both(offsets.astype(np.int64), data, keep, force)
                assert np.array_equal(keyed, plain)
    offsets, data, _ = string_buffers(pa.array(strings))
    assert np.unique(_both(offsets.astype(np.int64), data, _ALL, np.uint64(0))[0]).shape[0] == len(set(strings))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bits", [(_ALL, 0), (3, 0), (3, 2**64 - 4), (0, 0)])
def test_the_probe_finds_ids_as_a_dictionary_whatever_hashes_they_share(
        seed: int, bits: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hash cut to four values (or one): each look-up meets other strings of its hash, and the probe's answer
    is still the dictionary's, and the one with the hashes apart."""
    rng = np.random.default_rng(seed)
    pool = list(dict.fromkeys(_alike(rng, 300)))
    ids = rng.choice(pool[:200], 500).tolist()
    ids = [s for s in ids for _ in range(int(rng.integers(1, 3)))]  # runs of one id (a sweep's fills)
    orders = _orders(rng, ids, pool[150:])
    halves = _halves(ids, int(rng.integers(0, len(ids))))
    apart = fro.probe_spans(halves, orders)
    monkeypatch.setattr(fro, "_HASH_BITS", (np.uint64(bits[0]), np.uint64(bits[1])))
    got = fro.probe_spans(halves, orders)
    assert got is not None and apart is not None
    codes, totals, unfilled = _expected(ids, orders)
    assert got.codes.tolist() == codes
    for c in range(got.firsts.shape[0]):
        assert bool(got.has_placed[c]) == (c in totals)
        if c in totals:
            assert (int(got.placed[c]), float(got.size[c])) == totals[c]
    assert got.unfilled_rows.tolist() == unfilled
    for mine, theirs in zip(got, apart, strict=True):
        assert np.array_equal(mine, theirs, equal_nan=True)


def test_the_probe_reads_no_takers_and_no_events() -> None:
    orders = _orders(np.random.default_rng(0), ["a"], ["b"])
    got = fro.probe_spans(_halves([], 0), orders)
    assert got is not None and got.codes.shape[0] == 0 and got.firsts.shape[0] == 0
    none = fro.probe_spans(_halves(["a", "a"], 1), orders.slice(0, 0))
    assert none is not None and none.codes.tolist() == [0, 0] and not none.has_placed.any()


@pytest.mark.parametrize("seed", range(4))
def test_distinct_is_np_unique(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cases = [np.zeros(0, np.int64), np.zeros(0, np.uint64), np.array([7], np.int64), np.full(9, 3, np.uint64),
             rng.integers(-5, 5, 200), rng.integers(0, 2**63, 50).astype(np.uint64) * np.uint64(2),
             rng.integers(0, 4, 1000).astype(np.uint64) | np.uint64(2**63)]
    for values in cases:
        got, want = frs._distinct(values), np.unique(values)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_strings_read_once_for_every_reader() -> None:
    """Two readers of one column at their own rows read it once (the same bytes), and read what each would alone:
    unicode, long and short strings, a column of two chunks."""
    values = pl.concat([pl.Series(["t1", "日本語-trade-000000001", "é", ""]),
                        pl.Series(["t-000000000000005", "t6", "t7"])], rechunk=False)
    whole = fro.LazyStrings(values)
    rows_a, rows_b = np.array([6, 1, 1, 0]), np.array([3, 4, 2])
    a, b = fro.LazyStrings(whole, rows_a), fro.LazyStrings(whole, rows_b)
    assert _strings(a.get()) == values.gather(rows_a).to_list()
    assert _strings(b.get()) == values.gather(rows_b).to_list()
    assert a.get().data is b.get().data is whole.get().data
    alone = fro.LazyStrings(values, rows_b).get()
    assert _strings(alone) == _strings(b.get())


@pytest.mark.parametrize("seed", range(6))
def test_trades_all_between_owners_read_as_the_gathered_ones(seed: int) -> None:
    """Trades all between two owners are read as they are (no gather): what the arrays hold is what the gathered
    path gives for the same trades with a trade within one owner after them, and the kernel's takers and legs."""
    owned = _owned(np.random.default_rng(seed), [300, 1500, 4000][seed % 3])
    between = fr._between_owners(owned)
    within = owned.filter(pl.col("owner_b") == pl.col("owner_s")).head(1)
    got, gathered = fro.trade_arrays(between), fro.trade_arrays(pl.concat([between, within]))
    assert got is not None and gathered is not None
    assert np.array_equal(got.kept, np.arange(between.height)) and np.array_equal(gathered.kept, got.kept)
    for name in ("ts", "qty", "aggressor"):
        assert np.array_equal(getattr(got, name), getattr(gathered, name)), name
    for name in ("owners", "ids"):
        assert _strings(getattr(got, name)) == _strings(getattr(gathered, name)), name
    assert _strings(got.trade_text.get().at(got.kept)) == between["trade_id"].to_list()
    legs, want = takers_and_legs_as_the_frames(got, between)
    assert legs.trade_ids is not None and want.trade_ids is not None
    m = between.height
    assert _strings(legs.trade_ids.get().at(np.arange(2 * m) % m)) == _strings(want.trade_ids.get())
