"""The lake read's fast paths against the plain formulations they replace: dictionary columns written out to
strings (``dictionary_strings``, against Arrow's cast), the row-order check over chunked columns and with a
partition's constant keys skipped (against combined chunks and a full sort), and a file's time window taken as a
slice (against the mask)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.data.arrow_strings import dictionary_strings
from harbour.data.row_order import runs_in_key_order, sort_rows
from harbour.detect.runners.local import _within
from harbour.detect.runners.plan import conform

# Empty, one byte, exactly a word, longer than a word, multi-byte UTF-8, and values sharing long prefixes.
WORDS = ["", "a", "buy", "sell", "expire", "12345678", "123456789", "é", "€uro", "日本語テキスト", "zzzzzzzzzzzzzzzz",
         "zzzzzzzzzzzzzzzy"]
INDEX_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32()]


def _dictionary(values: list[str | None], index_type: pa.DataType, extra: list[str]) -> pa.DictionaryArray:
    """``values`` as a dictionary array whose dictionary also holds unused ``extra`` values (a Parquet page's
    dictionary may hold values a slice of it does not use)."""
    dictionary = list(dict.fromkeys([*extra, *(v for v in values if v is not None)]))
    indices = pa.array([None if v is None else dictionary.index(v) for v in values], index_type)
    return pa.DictionaryArray.from_arrays(indices, pa.array(dictionary, pa.string()))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(WORDS)), max_size=60), st.sampled_from(INDEX_TYPES),
       st.lists(st.sampled_from(WORDS), max_size=3), st.integers(0, 10), st.integers(0, 10))
def test_dictionary_strings_equal_arrows_cast(values: list[str | None], index_type: pa.DataType, extra: list[str],
                                              cut_front: int, cut_back: int) -> None:
    """Same values and nulls as the cast, on whole arrays and on slices of them (an offset into the indices)."""
    array = _dictionary(values, index_type, extra)
    for part in (array, array.slice(min(cut_front, len(array)), max(0, len(array) - cut_front - cut_back))):
        got = dictionary_strings(part)
        got.validate(full=True)
        assert got.type == pa.string()
        assert got.equals(part.cast(pa.string()))
        assert got.null_count == part.null_count


def test_dictionary_strings_edge_cases() -> None:
    empty = _dictionary([], pa.int32(), [])
    assert dictionary_strings(empty).equals(pa.array([], pa.string()))
    assert dictionary_strings(_dictionary(["sell"], pa.int32(), [])).to_pylist() == ["sell"]
    assert dictionary_strings(_dictionary([None, None], pa.int32(), [])).to_pylist() == [None, None]
    only_empty = _dictionary(["", "", None, ""], pa.int8(), [])
    assert dictionary_strings(only_empty).equals(only_empty.cast(pa.string()))
    # a null among the dictionary's values: left to the cast
    with_null = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), pa.array(["buy", None]))
    assert dictionary_strings(with_null).equals(with_null.cast(pa.string()))
    # a large_string dictionary gives a plain string array all the same
    large = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int32()), pa.array(["fill", "amend"],
                                                                                      pa.large_string()))
    assert dictionary_strings(large).equals(pa.array(["amend", "fill", "amend"], pa.string()))


def test_an_index_outside_the_dictionary_is_refused_as_the_cast_refuses_it() -> None:
    for value in ("buy", "a value longer than a word"):
        bad = pa.DictionaryArray.from_arrays(pa.array([0, 5, 0], pa.int32()), pa.array([value, "sell"]), safe=False)
        with pytest.raises(pa.ArrowIndexError):
            bad.cast(pa.string())
        with pytest.raises(pa.ArrowIndexError):
            dictionary_strings(bad)


def test_conform_writes_out_dictionary_chunks_each_with_its_own_dictionary() -> None:
    """A column read in pieces: every chunk its own dictionary (and one chunk empty)."""
    chunks = [_dictionary(["new", "fill", None], pa.int32(), ["cancel"]), _dictionary([], pa.int32(), []),
              _dictionary(["cancel", "new"], pa.int32(), [])]
    column = pa.chunked_array(chunks)
    data = pa.table({"aggressor": column})
    got = conform(data, "trades", ["aggressor"]).column("aggressor")
    assert got.type == pa.string()
    assert got.equals(column.cast(pa.string()))
    assert [len(c) for c in got.chunks] == [3, 0, 2]


# --- the row-order check ------------------------------------------------------------------------------

ROW = st.tuples(st.integers(0, 3), st.sampled_from(["o1", "o2", "o10", "12345678901234", "12345678901235",
                                                    "1234567890123", "é"]),
                st.sampled_from(["new", "fill"]), st.sampled_from([0.0, 1.5, 2.0]), st.integers(-2, 2))


def _orders(rows: list[tuple[int, str, str, float, int]]) -> pa.Table:
    t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    return pa.table({
        "venue": pa.array(["HBX"] * len(rows), pa.string()), "order_id": pa.array([r[1] for r in rows], pa.string()),
        "ts": pa.array([t0 + dt.timedelta(microseconds=r[0]) for r in rows], pa.timestamp("us", tz="UTC")),
        "event": pa.array([r[2] for r in rows], pa.string()), "quantity": pa.array([r[3] for r in rows], pa.float64()),
        "n": pa.array([r[4] for r in rows], pa.int64())})


def _in_pieces(table: pa.Table, cuts: list[int]) -> pa.Table:
    """The table as chunks cut at ``cuts`` (empty chunks included where cuts repeat)."""
    bounds = [0, *sorted(min(c, table.num_rows) for c in cuts), table.num_rows]
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


@settings(max_examples=200, deadline=None)
@given(st.lists(ROW, max_size=40), st.lists(st.integers(0, 40), max_size=4), st.booleans())
def test_the_order_check_over_chunks_agrees_with_a_pairwise_comparison(rows: list[tuple[int, str, str, float, int]],
                                                                         cuts: list[int], by_time: bool) -> None:
    """Chunked columns (a day and a look-back tail put together) are checked chunk by chunk plus the pairs across
    chunk boundaries; the answer is what comparing each pair's keys in Python gives, and what the combined
    columns give."""
    if by_time:
        rows = sorted(rows, key=lambda r: r[0])
    table = _orders(rows)
    pieces = _in_pieces(table, cuts)
    keys = ["order_id", "event", "quantity", "n"]
    pairs = np.arange(max(0, len(rows) - 1))
    if len(rows) > 2:
        pairs = pairs[::2] if cuts and cuts[0] % 2 else pairs  # not every pair: the check sees only tied ones
    expected = all(tuple(r[k].encode() if isinstance(r[k], str) else r[k] for k in (1, 2, 3, 4))
                   <= tuple(s[k].encode() if isinstance(s[k], str) else s[k] for k in (1, 2, 3, 4))
                   for r, s in ((rows[i], rows[i + 1]) for i in pairs))
    assert runs_in_key_order(pieces, keys, pairs) == expected
    assert runs_in_key_order(table.combine_chunks(), keys, pairs) == expected


def test_the_order_check_across_a_chunk_boundary() -> None:
    """The one tied pair straddles two chunks; in order one way, out of order the other."""
    rows = [(0, "o2", "new", 1.0, 0), (1, "o2", "new", 1.0, 0), (1, "o1", "new", 1.0, 0)]
    for ids, expected in ((["o2", "o1", "o2"], True), (["o2", "o2", "o1"], False)):
        table = _orders([(r[0], i, *r[2:]) for r, i in zip(rows, ids, strict=True)])
        for cuts in ([2], [2, 2], [0, 2], [1, 2, 3]):
            assert runs_in_key_order(_in_pieces(table, cuts), ["order_id"], np.array([1])) == expected, cuts


@settings(max_examples=100, deadline=None)
@given(st.lists(ROW, max_size=40), st.lists(st.integers(0, 40), max_size=3))
def test_sort_rows_skipping_constant_keys_gives_the_full_sort(rows: list[tuple[int, str, str, float, int]],
                                                              cuts: list[int]) -> None:
    """The venue, one value in a partition, skipped by the check: the rows still come out as the full sort has
    them, and rows already in order are handed back as they are."""
    table = _in_pieces(_orders(rows).drop_columns(["n"]), cuts)
    keys = [("ts", "ascending"), ("venue", "ascending"), ("order_id", "ascending"), ("event", "ascending"),
            ("quantity", "ascending")]
    expected = table.sort_by(keys)
    assert sort_rows(table, "orders", constant=["venue"]).equals(expected)
    ordered = _in_pieces(expected, cuts)
    assert sort_rows(ordered, "orders", constant=["venue"]) is ordered


# --- a file's time window -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=30), st.one_of(st.none(), st.integers(-1, 22)),
       st.one_of(st.none(), st.integers(-1, 22)))
def test_a_time_ordered_file_is_cut_by_slice_to_the_rows_the_mask_keeps(times: list[int], start: int | None,
                                                                         end: int | None) -> None:
    times = sorted(times)
    data = pa.table({"ts": pa.array(times, pa.int64()), "i": list(range(len(times)))})
    t = pc.cast(data.column("ts"), pa.int64()).to_numpy() if times else None
    plain = _within(data, t, start, end)
    sliced = _within(data, t, start, end, ordered=True)
    assert sliced.equals(plain)
    expected = [x for x in times if (start is None or x >= start) and (end is None or x < end)]
    assert sliced.column("ts").to_pylist() == (expected if t is not None else times)
    if t is not None and len(expected) == len(times):
        assert sliced is data  # nothing cut: the file's table itself
