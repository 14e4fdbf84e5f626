"""Arrow string arrays read in place, for the compiled passes that hash, compare or copy their bytes (the AML
graph's interning, the market kernels' exact ids, the lake's row-order check)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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
