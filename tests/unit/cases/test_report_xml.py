"""Whatever text the analyst or the detectors put in a report, the goAML XML stays valid against the XSD."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.cases.reports import to_pdf, to_xml, validate_xml

text = st.text(max_size=300)
ident = st.text(min_size=0, max_size=40)


def payload(narrative, account, explanation, tx_id, amount, name):
    return {
        "reference": "STR-2026-00001",
        "status": "draft",
        "reporting_entity": "HARBOUR-SUPERVISION",
        "submitted_by": name,
        "approved_by": None,
        "filed_at": None,
        "generated_at": "2026-03-02T09:00:00+00:00",
        "case": {
            "reference": "CASE-2026-00001",
            "title": "t",
            "priority": 70.0,
            "opened_at": "2026-03-02T09:00:00",
            "status": "open",
        },
        "platform": {"code": "HBX", "legal_name": "HBX Limited"},
        "indicators": ["wash_trade"],
        "narrative": narrative,
        "subjects": [{"venue": "HBX", "account": account, "name": name, "customer_id": account}],
        "transactions": [
            {
                "id": tx_id,
                "venue": "HBX",
                "alert_id": "a-1",
                "from_lake": amount is not None,
                "kind": "trade",
                "description": explanation,
                "amount": amount,
                "ts": "2026-03-02T09:00:00+00:00" if amount is not None else None,
                "from": account,
                "to": name,
            }
        ],
        "alerts": [
            {
                "alert_id": "a-1",
                "detector": "d",
                "typology": "wash_trade",
                "score": 0.5,
                "start": "2026-03-02T09:00:00",
                "end": "2026-03-02T10:00:00",
                "explanation": explanation,
            }
        ],
    }


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=5000), ident, text, ident,
       st.one_of(st.none(), st.floats(0, 1e12), st.just(float("nan"))), ident)
def test_any_text_gives_schema_valid_xml(narrative, account, explanation, tx_id, amount, name):
    validate_xml(to_xml(payload(narrative, account, explanation, tx_id, amount, name)))


@settings(max_examples=10, deadline=None)
@given(text, text)
def test_pdf_accepts_any_text(narrative, explanation):
    assert to_pdf(payload(narrative, "acc<&>", explanation, "t-1", 1.0, "Ann & <Bob>")).startswith(b"%PDF-")
