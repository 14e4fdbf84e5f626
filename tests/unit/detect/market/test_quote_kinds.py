"""quote_stuffing reads each event's kind from the names' bytes: the same kinds as Arrow's dictionary encoding of
the names gives, on names that are nulls, empty, other events, or prefixes and extensions of the known ones, in
sliced chunks of both string types; a column of another type takes the encoding itself."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from harbour.detect.market.quote_stuffing import _KINDS, _NONE, _OTHER, _kinds

NAMES = ["new", "cancel", "fill", "expire", "amend", None, "", "ne", "newx", "cancelled", "fil", "expirE", "NEW",
         "cancel ", "néw"]


def _encoded(events: pa.ChunkedArray) -> np.ndarray:
    """The kinds through Arrow's dictionary encoding (the path the compiled pass replaced)."""
    coded = pc.dictionary_encode(events).combine_chunks()
    kinds = np.array([_KINDS.get(e, _OTHER) for e in coded.dictionary.to_pylist()] + [_NONE], np.int8)
    return kinds[coded.indices.fill_null(len(kinds) - 1).to_numpy(zero_copy_only=False)]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("seed", [1, 2])
def test_kinds_are_the_dictionary_encoding(kind: pa.DataType, seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [NAMES[i] for i in rng.integers(0, len(NAMES), 600)]
    whole = pa.array(names, kind)
    # sliced chunks (offsets into shared buffers), one of them empty
    events = pa.chunked_array([whole.slice(0, 250), whole.slice(250, 0), whole.slice(250, 350)], kind)
    got = _kinds(events)
    assert got.dtype == np.int8
    assert np.array_equal(got, _encoded(events))
    assert set(got.tolist()) == {*_KINDS.values(), _OTHER, _NONE}


def test_dictionary_names_take_the_encoding() -> None:
    events = pa.chunked_array([pa.array(["new", None, "amend", "fill"]).dictionary_encode()])
    assert _kinds(events).tolist() == [_KINDS["new"], _NONE, _OTHER, _KINDS["fill"]]
