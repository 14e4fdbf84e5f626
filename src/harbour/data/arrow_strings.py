"""Arrow string arrays read in place, for the compiled passes that hash, compare or copy their bytes (the AML
graph's interning, the market kernels' exact ids, the lake's row-order check)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit


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
