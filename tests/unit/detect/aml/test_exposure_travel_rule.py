"""sanctions_exposure (lists, address normal forms, direct and N-hop paths) and travel_rule_gap."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from harbour.core.errors import Invalid
from harbour.detect.aml.exposure import AddressList, ExposureConfig, normalise_address, read_list
from harbour.detect.aml.scenarios import Scenario
from harbour.detect.aml.travel_rule import TravelRuleConfig
from harbour.detect.builtin import load_detectors
from harbour.detect.framework import Partition, Window

SANCTIONED = "eth:0xAbCdEf0123456789abcdef0123456789ABCDEF01"


def exposure(transfers: pa.Table, accounts: pa.Table, cfg: ExposureConfig) -> list[dict]:
    det = load_detectors().get("aml_sanctions_exposure")
    return det.kernel(Partition({}, {"transfers": transfers}, Window(), {"accounts": accounts}), cfg).to_pylist()


@pytest.fixture
def sanctions_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sanctioned_addresses.csv"
    # listed in checksum case without the chain prefix; transfers write it lower-case
    path.write_text("address,chain,entity\n0xABCDEF0123456789ABCDEF0123456789abcdef01,ETH,Garnet Mixer\n"
                    "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE,tron,Ember Exchange\n", encoding="utf-8")
    return path


def test_address_normal_forms() -> None:
    assert normalise_address("ETH", "0xABCdef") == "eth:0xabcdef"
    assert normalise_address("btc", "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ") == \
        "btc:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    assert normalise_address("tron", "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE") == "tron:TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE"


def test_direct_and_two_hop_exposure_with_path(sanctions_csv: Path) -> None:
    sc = Scenario(seed=3)
    sc.background(accounts=400, transfers=600)
    direct, indirect = sc.account("HBX"), sc.account("KLN")
    wallet = sc.address("eth")  # an outside wallet between the listed address and the customer
    t1 = sc.transfer(SANCTIONED.lower(), direct, sc.when(1.0), 12_000)
    t2 = sc.transfer(SANCTIONED.lower(), wallet, sc.when(1.1), 9_000)
    t3 = sc.transfer(wallet, indirect, sc.when(1.3), 8_800)
    transfers, accounts, _ = sc.tables()
    cfg = ExposureConfig(lists=[AddressList(path=str(sanctions_csv))], max_hops=2)
    alerts = {a["accounts"][0]: a for a in exposure(transfers, accounts, cfg)}
    acct = {x: x.split(":")[1] for x in (direct, indirect)}
    assert set(alerts) == set(acct.values())
    assert alerts[acct[direct]]["evidence_ids"] == [t1] and alerts[acct[direct]]["venue"] == "HBX"
    assert set(alerts[acct[indirect]]["evidence_ids"]) == {t2, t3}
    assert "Garnet Mixer" in alerts[acct[indirect]]["explanation"]
    assert f"{SANCTIONED.lower()} -> {wallet} -> {indirect}" in alerts[acct[indirect]]["explanation"]
    # direct only: the second-hop account is no longer exposed
    only_direct = exposure(transfers, accounts, cfg.model_copy(update={"max_hops": 1}))
    assert {a["accounts"][0] for a in only_direct} == {acct[direct]}


def test_exposure_stops_at_a_platform_account_unless_asked(sanctions_csv: Path) -> None:
    """A custodial account pools its customers' funds: its own exposure is alerted, the customers it pays
    later are not (unless ``through_accounts``)."""
    sc = Scenario(seed=5)
    sc.background(accounts=400, transfers=600)
    middle, paid = sc.account("HBX"), sc.account("KLN")
    t1 = sc.transfer(SANCTIONED.lower(), middle, sc.when(1.0), 9_000)
    t2 = sc.transfer(middle, paid, sc.when(1.2), 8_800)
    transfers, accounts, _ = sc.tables()
    cfg = ExposureConfig(lists=[AddressList(path=str(sanctions_csv))], max_hops=2)
    assert [a["accounts"] for a in exposure(transfers, accounts, cfg)] == [[middle.split(":")[1]]]
    through = exposure(transfers, accounts, cfg.model_copy(update={"through_accounts": True}))
    by_account = {a["accounts"][0]: a for a in through}
    assert set(by_account) == {middle.split(":")[1], paid.split(":")[1]}
    assert set(by_account[paid.split(":")[1]]["evidence_ids"]) == {t1, t2}


def test_clean_flow_has_no_exposure(sanctions_csv: Path) -> None:
    sc = Scenario(seed=4)
    sc.background(accounts=400, transfers=800)
    transfers, accounts, _ = sc.tables()
    assert exposure(transfers, accounts, ExposureConfig(lists=[AddressList(path=str(sanctions_csv))])) == []


def test_bad_list_file_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "list.csv"
    bad.write_text("name,country\nX,HK\n", encoding="utf-8")
    with pytest.raises(Invalid, match="no address column"):
        read_list(bad)
    bad.write_text("address\n0xabc\n", encoding="utf-8")
    with pytest.raises(Invalid, match="row 2"):
        read_list(bad)
    with pytest.raises(Invalid, match="cannot be read"):
        read_list(tmp_path / "missing.csv")


def travel_alerts(rows: list[dict], cfg: TravelRuleConfig | None = None) -> list[dict]:
    sc = Scenario(seed=1)
    sc.account("HBX")
    sc.account("KLN")
    for r in rows:
        sc.transfer(r.pop("src"), r.pop("dst"), sc.when(1.0), r.pop("usd"), **r)
    transfers, accounts, _ = sc.tables()
    det = load_detectors().get("aml_travel_rule_gap")
    part = Partition({"venue": "HBX"}, {"transfers": transfers}, Window(), {"accounts": accounts})
    return det.kernel(part, cfg or det.default_config()).to_pylist()


FULL = {"originator_name": "Chan Tai Man", "originator_account": "123", "beneficiary_name": "Lee Ka Yan",
        "beneficiary_account": "9", "counterparty_vasp": "Northbridge Exchange"}


def test_travel_rule_gap_needs_vasp_threshold_and_missing_fields() -> None:
    me = "HBX:55500011"
    out = "eth:0x" + "1" * 40
    # HK$8,000 is about US$1,025.64 at 7.8: one just above with a missing beneficiary name alerts
    gap = travel_alerts([{"src": me, "dst": out, "usd": 1_030.0, **FULL, "beneficiary_name": " "}])
    assert len(gap) == 1 and gap[0]["accounts"] == ["55500011"] and "beneficiary_name" in gap[0]["explanation"]
    assert travel_alerts([{"src": me, "dst": out, "usd": 1_020.0, **FULL, "beneficiary_name": None}]) == []
    assert travel_alerts([{"src": me, "dst": out, "usd": 50_000.0, **FULL}]) == []
    # to an unhosted wallet (no VASP on the other side) the rule does not apply
    unhosted = {**FULL, "counterparty_vasp": None, "originator_name": None}
    assert travel_alerts([{"src": me, "dst": out, "usd": 50_000.0, **unhosted}]) == []
    # to another platform's account, a blank counterparty_vasp is itself the gap
    to_kln = travel_alerts([{"src": me, "dst": "KLN:777", "usd": 5_000.0, **FULL, "counterparty_vasp": None,
                             "kind": "withdrawal"}])
    assert len(to_kln) == 1 and "counterparty_vasp" in to_kln[0]["explanation"]
    # the FX rate is a config value
    assert len(travel_alerts([{"src": me, "dst": out, "usd": 1_020.0, **FULL, "originator_account": None}],
                             TravelRuleConfig(hkd_per_usd=7.85))) == 1
