"""``lifecycles.exact_codes`` reads the columns' chunks in place (``_joined``) instead of one concatenated large
string column: the same ids, and the same refusals, on columns of several chunks of both string widths, sliced
chunks (offsets not starting at 0, bytes outside the slice), empty chunks and columns, and empty strings; and a
collision between strings of different chunks is still caught."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import harbour.detect.market.lifecycles as lifecycles
from harbour.detect.aml.interning import intern_columns
from harbour.detect.market.lifecycles import exact_codes

WORDS = [f"ord-{i}" for i in range(300)] + ["", "x" * 23, "order-0000000017", "é-ü"]


def _concatenated(cols: list[pa.Array | pa.ChunkedArray]) -> tuple[np.ndarray, np.ndarray] | None:
    """The old form: every chunk cast to a large string and concatenated, interned, and each id's strings
    compared in Python."""
    if any(c.null_count for c in cols):
        return None
    chunks = [c for col in cols for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col])]
    whole = pa.concat_arrays([c.cast(pa.large_string()) for c in chunks]) if chunks else pa.array([], pa.large_string())
    codes, firsts = intern_columns([whole])
    text = whole.to_pylist()
    if any(text[i] != text[firsts[c]] for i, c in enumerate(codes.tolist())):
        return None
    return codes, firsts


def _column(rng: np.random.Generator) -> pa.Array | pa.ChunkedArray:
    kind = rng.choice([pa.string(), pa.large_string()])
    parts = []
    for _ in range(int(rng.integers(0, 4))):
        part = pa.array([WORDS[i] for i in rng.integers(0, len(WORDS), int(rng.integers(0, 60)))], kind)
        if len(part) > 4 and rng.random() < 0.5:
            part = part.slice(int(rng.integers(1, 4)), int(rng.integers(0, len(part) - 3)))
        parts.append(part)
    if len(parts) == 1 and rng.random() < 0.5:
        return parts[0]
    return pa.chunked_array(parts, kind)


@pytest.mark.parametrize("seed", range(60))
def test_chunks_read_in_place_give_the_concatenated_ids(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cols = [_column(rng) for _ in range(int(rng.integers(1, 4)))]
    got, want = exact_codes(cols), _concatenated(cols)
    assert want is not None and got is not None
    assert got[0].tolist() == want[0].tolist()
    assert got[1].tolist() == want[1].tolist()


def test_nulls_and_empty_columns() -> None:
    assert exact_codes([pa.chunked_array([["a"], ["b", None]])]) is None
    found = exact_codes([pa.chunked_array([], pa.string())])
    assert found is not None and len(found[0]) == 0 and len(found[1]) == 0
    found = exact_codes([pa.chunked_array([[], [""]], pa.string()), pa.array([""], pa.large_string())])
    assert found is not None and found[0].tolist() == [0, 0]


def test_a_collision_across_chunks_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def colliding(cols: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(sum(len(c) for c in cols), np.int64), np.zeros(1, np.int64)

    monkeypatch.setattr(lifecycles, "intern_columns", colliding)
    same = pa.array(["zz", "order-0000000017", "zz"]).slice(1, 1)  # bytes around the slice differ
    assert exact_codes([pa.chunked_array([["order-0000000017"], same]), same.cast(pa.large_string())]) is not None
    assert exact_codes([pa.chunked_array([["order-0000000017"], ["order-0000000018"]])]) is None
    assert exact_codes([pa.array(["order-0000000017"]), pa.array(["order-0000000017b"], pa.large_string())]) is None
