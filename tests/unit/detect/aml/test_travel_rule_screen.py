"""travel_rule_gap's screen (``_may_miss``): a venue-day whose VASP-to-VASP transfers at or above the threshold all
have their fields stops before the data-frame steps. It may say "maybe" too often, never "no" where a field is blank:
checked against the full steps (the screen forced open) on random transfers whose fields are blank in every way
Polars' and Arrow's whitespace differ (NEL U+0085, the separators 0x1C-0x1F, no-break and ideographic spaces),
punctuation alone, or ordinary text."""

from __future__ import annotations

import numpy as np
import pytest

from harbour.detect.aml import travel_rule
from harbour.detect.aml.scenarios import Scenario
from harbour.detect.aml.travel_rule import FIELDS, TravelRuleConfig, gaps
from harbour.detect.builtin import load_detectors
from harbour.detect.framework import Partition, Window

VALUES = [None, "", " ", "\u0085", "\x1c", "\x1f", "\u00a0", "\u3000", "\t\n", " - ", "-", ".", "Chan Tai Man",
          "123", "x", " \u00a0Lee\u0085", "\u00e9", "Northbridge Exchange"]


def _transfers(seed: int, n: int) -> tuple:
    rng = np.random.default_rng(seed)
    sc = Scenario(seed=seed)
    mine, other = sc.account("HBX"), sc.account("KLN")
    wallet = "eth:0x" + "1" * 40
    # a third of the days every field filled (as on most bench venue-days), a third one field of one transfer not,
    # a third any field any value
    mode = rng.integers(3)
    odd = int(rng.integers(n))
    for k in range(n):
        fields = {f: ("Filled " + f if mode < 2 else VALUES[rng.integers(len(VALUES))]) for f in FIELDS}
        if mode == 1 and k == odd:
            fields[FIELDS[rng.integers(len(FIELDS))]] = VALUES[rng.integers(len(VALUES))]
        dst = other if rng.random() < 0.3 else wallet
        sc.transfer(mine, dst, sc.when(float(rng.random())), float(rng.choice([500.0, 1_030.0, 20_000.0])),
                    **fields)
    transfers, accounts, _ = sc.tables()
    return transfers, accounts


@pytest.mark.parametrize("seed", range(12))
def test_the_screen_never_stops_a_day_with_a_gap(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    transfers, accounts = _transfers(seed, 40)
    cfg = TravelRuleConfig()
    known = {"HBX", "KLN"}
    screened = gaps(transfers, cfg, known)
    monkeypatch.setattr(travel_rule, "_may_miss", lambda *_: True)
    full = gaps(transfers, cfg, known)
    assert full is not None
    if screened is None:
        assert full.height == 0  # stopped only where the full steps find nothing
    else:
        assert screened.equals(full)


def test_a_day_of_complete_transfers_stops_at_the_screen_and_alerts_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    det = load_detectors().get("aml_travel_rule_gap")
    stopped = 0
    for seed in range(30):
        transfers, accounts = _transfers(seed, 30)
        part = Partition({"venue": "HBX"}, {"transfers": transfers}, Window(), {"accounts": accounts})
        stopped += gaps(transfers, TravelRuleConfig(), {"HBX", "KLN"}) is None
        with monkeypatch.context() as m:
            m.setattr(travel_rule, "_may_miss", lambda *_: True)
            unscreened = det.kernel(part, det.default_config()).to_pylist()
        assert det.kernel(part, det.default_config()).to_pylist() == unscreened
    assert 0 < stopped < 30  # both kinds of day were seen


def test_only_letters_and_digits_make_a_field_certainly_filled() -> None:
    sc = Scenario(seed=5)
    me = sc.account("HBX")
    # no ASCII letter or digit: the full steps decide
    for value in ("", " ", "\t\n", "\u00a0", "\u3000", "\u0085", "\x1c", "-", "\u00e9"):
        sc.transfer(me, "eth:0x" + "2" * 40, sc.when(0.5), 20_000.0,
                    **{f: "Filled" for f in FIELDS} | {"beneficiary_name": value, "counterparty_vasp": "V"})
    transfers, _, _ = sc.tables()
    for i in range(transfers.num_rows):
        one = transfers.slice(i, 1)
        assert travel_rule._may_miss(one, np.ones(1, bool))
    filled = transfers.set_column(transfers.schema.get_field_index("beneficiary_name"), "beneficiary_name",
                                  [["Lee"] * transfers.num_rows])
    assert not travel_rule._may_miss(filled, np.ones(transfers.num_rows, bool))
