"""The priority model: bounded, monotone in each factor, neutral for new detectors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harbour.cases.triage import SEVERITY, WEIGHTS, confirmation_rate, factors
from harbour.data.schemas import TYPOLOGIES

unit = st.floats(0, 1, allow_nan=False)


def test_every_typology_has_a_documented_severity():
    assert set(TYPOLOGIES) == set(SEVERITY)
    assert sum(WEIGHTS.values()) == 100


def test_new_detector_is_neutral_and_history_moves_it():
    assert confirmation_rate(0, 0) == 0.5
    assert confirmation_rate(10, 0) > 0.8 > confirmation_rate(5, 5) > confirmation_rate(0, 10)


@given(unit, st.sampled_from(sorted(SEVERITY)), unit, unit, unit)
def test_priority_is_bounded_and_monotone_in_score(score, typology, lic, rate, bump):
    f = factors(score, typology, lic, rate)
    assert 0 <= f.priority <= 100
    higher = factors(min(1.0, score + bump), typology, lic, rate)
    assert higher.priority >= f.priority - 1e-9
    assert factors(score, typology, min(1.0, lic + bump), rate).priority >= f.priority - 1e-9
    assert abs(f.priority - (f.score_pts + f.severity_pts + f.licensing_pts + f.history_pts)) < 0.011
