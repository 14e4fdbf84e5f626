"""Fan-out and rapid movement against their look-alikes (seventh quality pass, docs/detectors/aml.md): a
customer paying its own wallets on several chains and its regular contacts, a company paying two payroll
runs in a day, an account keeping most of what arrives, an account paying out more than arrived. Each
look-alike sits beside a true instance that must still be found."""

from __future__ import annotations

from typing import Any

import pytest

from harbour.detect.aml.scenarios import Scenario
from harbour.detect.builtin import load_detectors
from harbour.detect.framework import Partition, Window


def alerts_of(sc: Scenario, typology: str) -> list[dict[str, Any]]:
    transfers, accounts, _ = sc.tables()
    det = next(d for d in load_detectors().all() if d.typology == typology)
    part = Partition({}, {"transfers": transfers}, Window(), {"accounts": accounts})
    out: list[dict[str, Any]] = det.kernel(part, det.default_config()).to_pylist()
    return out


def quiet(seed: int) -> Scenario:
    sc = Scenario(seed=seed)
    sc.background(accounts=200, transfers=300)
    return sc


def tron(sc: Scenario) -> str:
    return "tron:T" + "".join(sc.rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"), 33))


def involving(alerts: list[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    return [a for a in alerts if account.split(":")[1] in a["accounts"]]


def test_a_dispersal_to_new_addresses_on_one_chain_is_a_fan_out() -> None:
    sc = quiet(51)
    payer = sc.account("HBX")
    sc.transfer(sc.address(), payer, sc.when(1.0), 30_000)
    ids = [sc.transfer(payer, sc.address(), sc.when(1.05 + 0.02 * k), 4_100 + 170 * k) for k in range(6)]
    found = involving(alerts_of(sc, "fan_out"), payer)
    assert len(found) == 1 and set(found[0]["evidence_ids"]) == set(ids)


def test_a_customer_paying_its_own_wallets_on_three_chains_and_two_contacts_is_no_fan_out() -> None:
    """Five distinct receivers in a day, but two are platform accounts and the three wallets are on three
    chains (three coins moved to where the customer keeps them): no five that can be one dispersal."""
    sc = quiet(52)
    payer = sc.account("KLN")
    receivers = [sc.account("KLN"), sc.account("KLN"), sc.address("eth"), sc.address("btc"), tron(sc)]
    for k, r in enumerate(receivers):
        sc.transfer(payer, r, sc.when(1.1 + 0.1 * k), 900 + 140 * k)
    assert involving(alerts_of(sc, "fan_out"), payer) == []


@pytest.mark.parametrize("known", ["deposited_from", "paid_before"])
def test_receivers_known_to_the_customer_are_no_crowd(known: str) -> None:
    """Six receivers on one chain; two of them are the customer's own wallets (it deposits from them,
    here on a later day) or places it already paid the day before. Four new receivers are no fan-out of
    five; the previous rule only looked at the share paid before (2 of 6 is under half)."""
    sc = quiet(53)
    payer = sc.account("HBX")
    wallets = [sc.address() for _ in range(6)]
    for k, w in enumerate(wallets):
        sc.transfer(payer, w, sc.when(2.0 + 0.05 * k), 1_300 + 80 * k)
    for w in wallets[:2]:
        if known == "deposited_from":
            sc.transfer(w, payer, sc.when(3.5), 2_000)
        else:
            sc.transfer(payer, w, sc.when(0.9), 600)
    assert involving(alerts_of(sc, "fan_out"), payer) == []


def test_two_payroll_runs_at_two_levels_are_payroll_not_a_fan_out() -> None:
    """A company pays 12 staff around $4,000 in the morning and 10 contractors around $8,000 the next
    night, within 24 hours: each run is uniform, the two together are not (CV over 0.3)."""
    sc = quiet(54)
    company = sc.account("HBX", kind="corporate")
    for k in range(12):
        sc.transfer(company, sc.account("HBX"), sc.when(1.4 + 0.002 * k), round(4_000 * (0.85 + 0.025 * k), -1))
    for k in range(10):
        sc.transfer(company, sc.account("HBX"), sc.when(2.2 + 0.002 * k), round(8_000 * (0.85 + 0.03 * k), -1))
    assert involving(alerts_of(sc, "fan_out"), company) == []


def test_a_payroll_run_does_not_hide_a_dispersal_the_same_day() -> None:
    sc = quiet(55)
    company = sc.account("HBX", kind="corporate")
    for k in range(12):
        sc.transfer(company, sc.account("HBX"), sc.when(1.4 + 0.002 * k), round(4_000 * (0.85 + 0.025 * k), -1))
    ids = [sc.transfer(company, sc.address(), sc.when(1.6 + 0.01 * k), 7_000 + 900 * k) for k in range(7)]
    found = involving(alerts_of(sc, "fan_out"), company)
    assert len(found) == 1 and set(found[0]["evidence_ids"]) == set(ids)


def test_an_account_keeping_most_of_what_arrives_is_no_rapid_movement() -> None:
    """$8,000 and $9,700 arrive, $7,600 leaves: 95% of the first arrival, but the account kept $10,100 of
    the $17,700 that had arrived by then."""
    sc = quiet(56)
    middle = sc.account("HBX")
    sc.transfer(sc.account("HBX"), middle, sc.when(1.0), 8_000)
    sc.transfer(sc.account("HBX"), middle, sc.when(1.02), 9_700)
    sc.transfer(middle, sc.account("HBX"), sc.when(1.07), 7_600)
    assert involving(alerts_of(sc, "rapid_movement"), middle) == []


def test_a_deposit_on_another_account_of_the_customer_meanwhile_does_not_hide_a_pass_through() -> None:
    """The balance is the account's: money reaching the customer's other account while the pass-through
    runs is not in it."""
    sc = quiet(57)
    mule = sc.account("KLN", customer="C-MULE")
    other = sc.account("KLN", customer="C-MULE")
    ids = [sc.transfer(sc.address(), mule, sc.when(1.0), 61_000)]
    sc.transfer(sc.address(), other, sc.when(1.008), 9_900)
    ids.append(sc.transfer(mule, sc.address(), sc.when(1.012), 59_600))
    found = involving(alerts_of(sc, "rapid_movement"), mule)
    assert len(found) == 1 and set(found[0]["evidence_ids"]) == set(ids)


@pytest.mark.parametrize(("out_share", "is_rapid"), [(0.98, True), (1.0, True), (1.05, False)])
def test_a_pass_through_sends_on_no_more_than_arrived(out_share: float, is_rapid: bool) -> None:
    """Fees stay behind; paying out 5% more than arrived is spending money the account already held."""
    sc = quiet(58)
    acct = sc.account("HBX")
    sc.transfer(sc.address(), acct, sc.when(1.0), 4_200)
    sc.transfer(acct, sc.address(), sc.when(1.1), 4_200 * out_share)
    assert bool(involving(alerts_of(sc, "rapid_movement"), acct)) is is_rapid
