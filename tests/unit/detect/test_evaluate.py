"""The evaluation matcher: DESIGN.md's rule (typology, venue, a shared account, overlapping spans) and the
per-typology precision/recall/F1, against hand-built cases and a brute-force reference."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.core.errors import Invalid
from harbour.data.schemas import ALERTS, LABELS
from harbour.detect.evaluate import evaluate, match

T0 = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)


def minutes(m: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=m)


def alerts(*rows: dict) -> pa.Table:
    full = []
    for i, r in enumerate(rows):
        full.append({"alert_id": r.get("id", f"a{i}"), "detector": "d", "detector_version": "1",
                     "typology": r.get("typology", "wash_trade"), "venue": r.get("venue", "HBX"), "symbol": None,
                     "accounts": r["accounts"], "start": minutes(r["start"]), "end": minutes(r["end"]),
                     "score": 0.9, "evidence_ids": [], "explanation": "x"})
    return pa.Table.from_pylist(full, schema=ALERTS)


def labels(*rows: dict) -> pa.Table:
    full = []
    for i, r in enumerate(rows):
        full.append({"incident_id": r.get("id", f"i{i}"), "typology": r.get("typology", "wash_trade"),
                     "venue": r.get("venue", "HBX"), "symbol": None, "accounts": r["accounts"],
                     "start": minutes(r["start"]), "end": minutes(r["end"]), "evidence_ids": []})
    return pa.Table.from_pylist(full, schema=LABELS)


def pairs(a: pa.Table, lab: pa.Table) -> set[tuple[str, str]]:
    m = match(a, lab)
    return set(zip(m.column("alert_id").to_pylist(), m.column("incident_id").to_pylist(), strict=True))


def test_a_matching_alert_needs_typology_venue_account_and_overlap() -> None:
    lab = labels({"id": "i", "accounts": ["x", "y"], "start": 10, "end": 20})
    assert pairs(alerts({"id": "ok", "accounts": ["y", "z"], "start": 15, "end": 30}), lab) == {("ok", "i")}
    assert pairs(alerts({"accounts": ["y"], "start": 15, "end": 30, "typology": "spoofing"}), lab) == set()
    assert pairs(alerts({"accounts": ["y"], "start": 15, "end": 30, "venue": "KBT"}), lab) == set()
    assert pairs(alerts({"accounts": ["z"], "start": 15, "end": 30}), lab) == set()
    assert pairs(alerts({"accounts": ["x"], "start": 21, "end": 30}), lab) == set()
    assert pairs(alerts({"accounts": ["x"], "start": 0, "end": 9.99}), lab) == set()


def test_touching_spans_overlap_and_containment_counts() -> None:
    lab = labels({"id": "i", "accounts": ["x"], "start": 10, "end": 20})
    assert pairs(alerts({"id": "end", "accounts": ["x"], "start": 20, "end": 25}), lab) == {("end", "i")}
    assert pairs(alerts({"id": "start", "accounts": ["x"], "start": 0, "end": 10}), lab) == {("start", "i")}
    assert pairs(alerts({"id": "inside", "accounts": ["x"], "start": 12, "end": 12}), lab) == {("inside", "i")}
    assert pairs(alerts({"id": "around", "accounts": ["x"], "start": 0, "end": 99}), lab) == {("around", "i")}


def test_precision_is_over_alerts_and_recall_over_incidents() -> None:
    # two alerts hit the same incident, one alert is false, one incident is missed
    a = alerts({"id": "a1", "accounts": ["x"], "start": 10, "end": 12},
               {"id": "a2", "accounts": ["x", "q"], "start": 11, "end": 13},
               {"id": "a3", "accounts": ["nobody"], "start": 10, "end": 12})
    lab = labels({"id": "i1", "accounts": ["x"], "start": 9, "end": 14},
                 {"id": "i2", "accounts": ["y"], "start": 50, "end": 60})
    s = evaluate(a, lab, trades=2_000_000)["wash_trade"]
    assert (s.alerts, s.matched_alerts, s.incidents, s.detected_incidents) == (3, 2, 2, 1)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert s.alerts_per_million_trades == pytest.approx(1.5)


def test_one_alert_spanning_two_incidents_counts_once_for_precision() -> None:
    a = alerts({"id": "a", "accounts": ["x", "y"], "start": 0, "end": 100})
    lab = labels({"id": "i1", "accounts": ["x"], "start": 1, "end": 2}, {"id": "i2", "accounts": ["y"], "start": 50,
                                                                         "end": 60})
    s = evaluate(a, lab)["wash_trade"]
    assert (s.precision, s.recall, s.alerts_per_million_trades) == (1.0, 1.0, None)


def test_undefined_ratios_are_none_and_typologies_are_the_union() -> None:
    a = alerts({"accounts": ["x"], "start": 0, "end": 1, "typology": "spoofing"})
    lab = labels({"accounts": ["x"], "start": 0, "end": 1, "typology": "layering"})
    scores = evaluate(a, lab)
    assert set(scores) == {"spoofing", "layering"}
    assert scores["spoofing"].precision == 0.0 and scores["spoofing"].recall is None and scores["spoofing"].f1 is None
    assert scores["layering"].precision is None and scores["layering"].recall == 0.0
    assert scores["layering"].as_json() == {"precision": None, "recall": 0.0, "f1": None, "alerts": 0, "incidents": 1}


def test_empty_inputs_give_no_typologies() -> None:
    assert evaluate(ALERTS.empty_table(), LABELS.empty_table()) == {}


def test_a_table_without_the_contract_columns_is_refused() -> None:
    with pytest.raises(Invalid, match="accounts"):
        match(alerts({"accounts": ["x"], "start": 0, "end": 1}).drop_columns(["accounts"]), LABELS.empty_table())


span = st.tuples(st.integers(0, 50), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1]))
row = st.fixed_dictionaries({"typology": st.sampled_from(["wash_trade", "spoofing"]),
                             "venue": st.sampled_from(["HBX", "KBT"]),
                             "accounts": st.lists(st.sampled_from("abcde"), min_size=1, max_size=3), "span": span})


@settings(max_examples=25, deadline=None)
@given(st.lists(row, max_size=12), st.lists(row, max_size=12))
def test_the_join_equals_a_brute_force_match(alert_rows: list[dict], label_rows: list[dict]) -> None:
    a = alerts(*[dict(r, start=r["span"][0], end=r["span"][1], id=f"a{i}") for i, r in enumerate(alert_rows)])
    lab = labels(*[dict(r, start=r["span"][0], end=r["span"][1], id=f"i{i}") for i, r in enumerate(label_rows)])
    expected = {
        (f"a{i}", f"i{j}") for i, x in enumerate(alert_rows) for j, y in enumerate(label_rows)
        if x["typology"] == y["typology"] and x["venue"] == y["venue"] and set(x["accounts"]) & set(y["accounts"])
        and x["span"][0] <= y["span"][1] and y["span"][0] <= x["span"][1]
    }
    assert pairs(a, lab) == expected
    for typ, s in evaluate(a, lab).items():
        n_alerts = sum(r["typology"] == typ for r in alert_rows)
        hit = {i for i, _ in expected if alert_rows[int(i[1:])]["typology"] == typ}
        assert s.alerts == n_alerts and s.matched_alerts == len(hit)
