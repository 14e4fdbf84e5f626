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
