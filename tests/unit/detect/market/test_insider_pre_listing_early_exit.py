"""The insider kernel looks for listings of the partition's symbol before it converts the trades: a partition without
one returns no alert and leaves its trades unconverted; one with a listing goes on as before (with the symbol in
the key or only in the trades)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market.scenarios import ScenarioMarket

from .insider_scenarios import VENUE, _buy, _market, _sell

DETECTOR = REGISTRY.get("insider_pre_listing")
MIN = dt.timedelta(minutes=1)


def _converted_trades(part: Partition) -> bool:
    return any(isinstance(key, tuple) and "trades" in key for key in part.shared)


def test_a_partition_without_a_listing_leaves_its_trades_unconverted() -> None:
    part = ScenarioMarket(seed=13, venues=(VENUE,), trades_per_day=3000).build().partition(VENUE)
    assert DETECTOR.kernel(part, DETECTOR.default_config()).num_rows == 0
    assert not _converted_trades(part)


def test_a_listing_is_judged_with_or_without_the_symbol_in_the_key() -> None:
    m, announce = _market()
    _buy(m, "IN1", announce - 56 * MIN, 4, 10.0, every_min=12)
    _sell(m, "IN1", announce + 20 * MIN, 6, 6.0)
    config = DETECTOR.default_config().model_copy(update={"pre_hours": 6.0, "min_share": 0.05})
    part = m.build().partition(VENUE)
    keyed = DETECTOR.kernel(part, config)
    assert keyed["accounts"].to_pylist() == [["IN1"]]
    assert _converted_trades(part)
    unkeyed = replace(part, key={"venue": VENUE}, shared={})
    assert DETECTOR.kernel(unkeyed, config).equals(keyed)
