"""Each market detector on hand-built markets: it finds its incident (right typology, venue, accounts and
time span), raises nothing that is not an incident, and stays quiet on a clean market."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from harbour.data.schemas import ALERTS, MARKET_TYPOLOGIES
from harbour.detect.evaluate import match
from harbour.detect.framework import REGISTRY, Partition, Window

DETECTORS = ["wash_trade", "spoofing", "layering", "pump_and_dump", "marking_the_close", "insider_pre_listing",
             "front_running", "momentum_ignition", "quote_stuffing", "cross_venue"]


def test_every_market_typology_has_a_registered_detector() -> None:
    typologies = {REGISTRY.get(n).typology for n in DETECTORS}
    assert typologies == set(MARKET_TYPOLOGIES)
    for name in DETECTORS:
        d = REGISTRY.get(name)
        assert d.version and d.description
        for field_name, f in d.config_model.model_fields.items():
            assert f.description, f"{name}.{field_name} has no description"


@pytest.mark.parametrize("name", DETECTORS)
def test_quiet_on_a_clean_market(name: str, clean_alerts: dict[str, pa.Table]) -> None:
    alerts = clean_alerts[name]
    assert alerts.num_rows == 0, alerts.column("explanation").to_pylist()


@pytest.mark.parametrize("name", DETECTORS)
def test_finds_its_incident_and_nothing_else(name: str, incident_market, incident_alerts) -> None:
    alerts = incident_alerts[name]
    labels = incident_market.table("labels")
    typology = REGISTRY.get(name).typology
    mine = labels.filter(pa.compute.equal(labels["typology"], typology))
    assert alerts.schema.equals(ALERTS)
    pairs = match(alerts, labels)
    matched_incidents = set(pairs.column("incident_id").to_pylist())
    matched_alerts = set(pairs.column("alert_id").to_pylist())
    assert set(mine.column("incident_id").to_pylist()) <= matched_incidents, alerts.to_pylist()
    assert set(alerts.column("alert_id").to_pylist()) == matched_alerts, "an alert matched no incident"


@pytest.mark.parametrize("name", DETECTORS)
def test_alerts_name_the_colluders_not_the_counterparties(name: str, incident_market, incident_alerts) -> None:
    makers = set(incident_market.makers)
    for row in incident_alerts[name].to_pylist():
        assert not makers & set(row["accounts"]), row
        assert row["evidence_ids"] and row["explanation"].endswith(".")
        assert 0.0 <= row["score"] <= 1.0 and row["start"] <= row["end"]


def test_explanations_can_be_checked_against_evidence(incident_market, incident_alerts) -> None:
    trades = incident_market.table("trades").to_pylist()
    by_id = {t["trade_id"]: t for t in trades}
    for row in incident_alerts["wash_trade"].to_pylist():
        ev = [by_id[i] for i in row["evidence_ids"]]
        assert f"{len(ev)} times" in row["explanation"]
        assert all(t["buyer"] in row["accounts"] and t["seller"] in row["accounts"] for t in ev)
    qs = incident_alerts["quote_stuffing"].to_pylist()[0]
    assert f"{len(qs['evidence_ids'])} orders placed" in qs["explanation"]


@pytest.mark.parametrize("name", DETECTORS)
def test_window_start_drops_alerts_that_end_before_it(name: str, incident_market, incident_alerts) -> None:
    alerts = incident_alerts[name]
    if alerts.num_rows == 0:
        pytest.skip("no alert to drop")
    last_end = max(alerts.column("end").to_pylist())
    part = (incident_market.partition(by_symbol_only=True) if name == "cross_venue"
            else incident_market.partition(alerts.column("venue")[0].as_py()))
    late = Partition(part.key, part.tables, Window(start=last_end + dt.timedelta(seconds=1)), part.broadcast)
    d = REGISTRY.get(name)
    assert d.kernel(late, d.default_config()).num_rows == 0


@pytest.mark.parametrize("name", DETECTORS)
def test_empty_partition_gives_no_alerts(name: str) -> None:
    d = REGISTRY.get(name)
    from harbour.data.schemas import ORDERS, TRADES
    part = Partition({"venue": "HBX", "symbol": "BTC/USD", "date": dt.date(2026, 1, 5)},
                     {"trades": TRADES.empty_table(), "orders": ORDERS.empty_table()})
    assert d.kernel(part, d.default_config()).num_rows == 0


@pytest.mark.parametrize("name", DETECTORS)
def test_kernel_is_deterministic(name: str, incident_market, incident_alerts) -> None:
    d = REGISTRY.get(name)
    parts = ([incident_market.partition(by_symbol_only=True)] if name == "cross_venue"
             else [incident_market.partition(v) for v in ("HBX", "KLN")])
    again = pa.concat_tables([d.kernel(p, d.default_config()) for p in parts])
    assert again.equals(incident_alerts[name])
