"""Options parsing and the id bijection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbour.data.generate.config import STRUCTURING_THRESHOLD_USD, TRAVEL_RULE_THRESHOLD_USD, parse_incidents
from harbour.data.generate.rand import scramble48, stream
from harbour.data.schemas import TYPOLOGIES


def test_parse_incidents() -> None:
    assert parse_incidents(["wash_trade=5", "spoofing=0"]) == {"wash_trade": 5, "spoofing": 0}
    everything = parse_incidents(["all=2", "fan_in=7"])
    assert set(everything) == set(TYPOLOGIES) and everything["fan_in"] == 7 and everything["cycle"] == 2
    with pytest.raises(ValueError, match="unknown typology 'washing'"):
        parse_incidents(["washing=1"])
    with pytest.raises(ValueError, match="expected TYPOLOGY=COUNT"):
        parse_incidents(["wash_trade"])
    with pytest.raises(ValueError, match="expected TYPOLOGY=COUNT"):
        parse_incidents(["wash_trade=-1"])


def test_thresholds_follow_the_hkd_figures() -> None:
    assert round(STRUCTURING_THRESHOLD_USD * 7.8) == 120_000
    assert round(TRAVEL_RULE_THRESHOLD_USD * 7.8) == 8_000


@given(st.lists(st.integers(0, (1 << 48) - 1), min_size=1, max_size=200, unique=True), st.integers(0, 1 << 40))
def test_scramble_is_a_bijection_on_48_bits(values: list[int], salt: int) -> None:
    out = scramble48(np.array(values, np.uint64), salt)
    assert len(set(out.tolist())) == len(values)
    assert int(out.max()) < (1 << 48)


def test_streams_are_reproducible_and_independent() -> None:
    a = stream(1, "book", "HBX", "BTC/USD", 0).random(5)
    assert np.array_equal(a, stream(1, "book", "HBX", "BTC/USD", 0).random(5))
    assert not np.array_equal(a, stream(1, "book", "HBX", "BTC/USD", 1).random(5))
    assert not np.array_equal(a, stream(2, "book", "HBX", "BTC/USD", 0).random(5))


def test_incident_counts_accept_all() -> None:
    from pathlib import Path

    from harbour.data.generate.config import DEFAULT_INCIDENTS, GenerateConfig

    assert set(GenerateConfig(out=Path("x")).incident_counts().values()) == {DEFAULT_INCIDENTS}
    counts = GenerateConfig(out=Path("x"), incidents={"all": 1, "cycle": 0}).incident_counts()
    assert counts["cycle"] == 0 and counts["wash_trade"] == 1 and list(counts) == list(TYPOLOGIES)
