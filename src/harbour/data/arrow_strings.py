"""Arrow string arrays read in place, for the compiled passes that hash, compare or copy their bytes (the AML
graph's interning, the market kernels' exact ids, the lake's row-order check), and the byte comparisons and the
open-addressing table of string hashes those passes share (the owner map's keys, the spoofing/layering screen's and
front running's id tables)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


def string_buffers(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, bytes, validity or empty) of a string array, read in place; other types are cast first."""
    if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        chunk = chunk.cast(pa.large_string())
    _, off_buf, data_buf = chunk.buffers()
    width = np.int32 if pa.types.is_string(chunk.type) else np.int64
    offsets = np.frombuffer(off_buf, width)[chunk.offset:chunk.offset + len(chunk) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    valid = np.asarray(chunk.is_valid()) if chunk.null_count else np.zeros(0, np.bool_)
    return offsets, data, valid


def one_chunk(col: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its one chunk read in place, else its chunks combined (none: an empty array)."""
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


@njit(cache=True, nogil=True)
def word_of(data: np.ndarray, a: int, n: int) -> np.uint64:
    """The ``n`` bytes (at most 8) of ``data`` from ``a`` and zeros as one little-endian word, read byte by byte: for
    the strings a word's load would read past the buffer's end, or shorter than a word, a call of its own so that the
    hot loops that need it rarely do not carry its loop (numba inlined such loops into them, and they got slower)."""
    word = np.uint64(0)
    for j in range(n):
        word |= np.uint64(data[a + j]) << np.uint64(8 * j)
    return word


@njit(cache=True, nogil=True)
def compare_strings(offsets: np.ndarray, data: np.ndarray, i: int, j: int) -> int:
    """-1, 0 or 1 as string ``i`` of a string array's buffers (``string_buffers``) sorts before, with or after string
    ``j``: bytes first, then length, as Arrow and Polars order strings."""
    a, b = offsets[i], offsets[j]
    n, m = offsets[i + 1] - a, offsets[j + 1] - b
    for k in range(min(n, m)):
        if data[a + k] != data[b + k]:
            return -1 if data[a + k] < data[b + k] else 1
    return -1 if n < m else (1 if n > m else 0)


@intrinsic
def load_u64(typingctx: Any, data: Any, p: Any) -> Any:
    """The 8 bytes of ``data`` (uint8) from byte ``p`` as one word: one unaligned load (numba assembles a word
    from 8 byte loads otherwise, three times slower)."""
    sig = types.uint64(data, types.intp)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        word = builder.bitcast(builder.gep(arr.data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(word, align=1)

    return sig, codegen


@njit(cache=True, nogil=True)
def same_bytes(x: np.ndarray, a: int, y: np.ndarray, b: int, length: int) -> bool:
    """Whether ``x[a:a + length]`` and ``y[b:b + length]`` hold the same bytes (a loop: slices compared as arrays
    were allocated per row, which took most of a lookup; numba compiles no generator inside ``all``)."""
    for k in range(length):  # noqa: SIM110
        if x[a + k] != y[b + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def same_string(offsets: np.ndarray, data: np.ndarray, i: int, other_offsets: np.ndarray, other_data: np.ndarray,
                r: int) -> bool:
    """Whether string i of one column equals string r of another (or the same) column, byte for byte."""
    a, b = offsets[i], other_offsets[r]
    n = offsets[i + 1] - a
    if n != other_offsets[r + 1] - b:
        return False
    k = 0
    while k + 8 <= n:  # a word at a time (a byte at a time was most of the pass)
        if load_u64(data, a + k) != load_u64(other_data, b + k):  # type: ignore[call-arg]
            return False
        k += 8
    return same_bytes(data, a + k, other_data, b + k, n - k)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def is_word(offsets: np.ndarray, data: np.ndarray, i: int, word: np.ndarray) -> bool:
    """Whether string i of a string array's buffers is ``word``'s bytes."""
    a = offsets[i]
    if offsets[i + 1] - a != word.shape[0]:
        return False
    return same_bytes(data, a, word, 0, word.shape[0])  # type: ignore[no-any-return]


@njit(cache=True, nogil=True, inline="always")
def slot_of(slot_h: np.ndarray, slot_id: np.ndarray, h: np.uint64) -> int:
    """The slot of an open-addressing table (a power-of-two size, linear probing; ``slot_id`` -1 where empty) that
    holds hash ``h``, or the empty slot where it would go."""
    mask = np.uint64(slot_h.shape[0] - 1)
    s = np.intp(h & mask)
    while slot_id[s] >= 0 and slot_h[s] != h:
        s = np.intp((np.uint64(s) + np.uint64(1)) & mask)
    return s  # type: ignore[return-value]


@njit(cache=True, nogil=True)
def find_id(slot_h: np.ndarray, slot_id: np.ndarray, h: np.uint64) -> int:
    """The id whose hash is ``h`` in the open-addressing table, or -1."""
    return slot_id[slot_of(slot_h, slot_id, h)]  # type: ignore[no-any-return]



@intrinsic
def store_u64(typingctx: Any, data: Any, p: Any, word: Any) -> Any:
    """Write ``word`` as the 8 bytes of ``data`` (uint8) from byte ``p``: one unaligned store, the counterpart of
    ``load_u64``."""
    sig = types.void(data, types.intp, types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        where = builder.bitcast(builder.gep(arr.data, [args[1]]), ir.IntType(64).as_pointer())
        builder.store(args[2], where, align=1)
        return context.get_dummy_value()

    return sig, codegen


def dictionary_strings(chunk: pa.DictionaryArray) -> pa.Array:
    """A dictionary array of strings written out as a plain ``pa.string()`` array, equal to
    ``chunk.cast(pa.string())`` (values and nulls) but built in one compiled pass: Arrow's cast took 15-24 ns a row
    on the lake's event, side, order_type and aggressor columns (a handful of values of 3-6 bytes); ten bench days'
    ``conform`` went from 0.55-0.60 to 0.15-0.19 CPU-s on the same tables. Values of up to 8 bytes are written as
    one word each, in row order, every row's word overwriting the previous row's spare bytes (a byte loop of 3-6
    rounds, its exit mispredicted, took ~13 ns a row; the word pass ~4). Falls back
    to the cast for what it does not cover (a null among the dictionary's values, other value types, more bytes
    than 32-bit offsets hold)."""
    values = chunk.dictionary
    n = len(chunk)
    if (not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) or values.null_count
            or not pa.types.is_integer(chunk.type.index_type)):
        return chunk.cast(pa.string())
    value_offsets, value_bytes, _ = string_buffers(values)
    lengths = np.diff(value_offsets).astype(np.int64)
    widest = int(lengths.max()) if len(values) else 0
    if widest * n >= 2**31 - 8:
        return chunk.cast(pa.string())
    indices = chunk.indices
    index = (np.frombuffer(indices.buffers()[1], indices.type.to_pandas_dtype())[indices.offset:indices.offset + n]
             if n else np.zeros(0, np.int32))
    valid = np.asarray(indices.is_valid()) if chunk.null_count else np.zeros(0, np.bool_)
    offsets = np.empty(n + 1, np.int32)
    out = np.empty(widest * n + 8, np.uint8)  # room for the last row's whole word
    if widest <= 8:
        words = np.zeros(len(values), np.uint64)
        _value_words(value_offsets, value_bytes, words)
        total = _write_words(words, lengths, index, valid, offsets, out)
    else:
        total = _write_bytes(value_offsets, value_bytes, index, valid, offsets, out)
    if total < 0:  # an index outside the dictionary: Arrow's cast says what is wrong
        return chunk.cast(pa.string())
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if chunk.null_count else None
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out[:total]), bitmap,
                                       chunk.null_count)


@njit(cache=True, nogil=True)
def _value_words(value_offsets: np.ndarray, value_bytes: np.ndarray, words: np.ndarray) -> None:
    """Each dictionary value (8 bytes or fewer) as a little-endian word, zero-padded."""
    for v in range(words.shape[0]):
        a = value_offsets[v]
        w = np.uint64(0)
        for k in range(value_offsets[v + 1] - a):
            w |= np.uint64(value_bytes[a + k]) << np.uint64(8 * k)
        words[v] = w


@njit(cache=True, nogil=True)
def _write_words(words: np.ndarray, lengths: np.ndarray, index: np.ndarray, valid: np.ndarray, offsets: np.ndarray,
                 out: np.ndarray) -> int:
    """Rows' offsets, and their values' words stored at them (a null row, whose index may be anything, is empty);
    the total length, or -1 at an index outside the dictionary. ``out`` has 8 bytes to spare past the last row's
    start."""
    at = 0
    offsets[0] = 0
    nulls = valid.shape[0] != 0
    for i in range(index.shape[0]):
        if not nulls or valid[i]:
            v = index[i]
            if v < 0 or v >= words.shape[0]:
                return -1
            store_u64(out, at, words[v])  # type: ignore[call-arg]
            at += lengths[v]
        offsets[i + 1] = at
    return at


@njit(cache=True, nogil=True)
def _write_bytes(value_offsets: np.ndarray, value_bytes: np.ndarray, index: np.ndarray, valid: np.ndarray,
                 offsets: np.ndarray, out: np.ndarray) -> int:
    """``_write_words`` for values longer than a word: byte by byte."""
    at = 0
    offsets[0] = 0
    nulls = valid.shape[0] != 0
    for i in range(index.shape[0]):
        if not nulls or valid[i]:
            if index[i] < 0 or index[i] >= value_offsets.shape[0] - 1:
                return -1
            a = value_offsets[index[i]]
            for k in range(value_offsets[index[i] + 1] - a):
                out[at + k] = value_bytes[a + k]
            at += value_offsets[index[i] + 1] - a
        offsets[i + 1] = at
    return at

