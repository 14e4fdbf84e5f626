"""Front running: the runner is weighed against the market's trading from its own entry, and it closes its trade.

- A runner that bought two seconds before a large buy order is the main taker of those seconds, even when
  others traded more twenty seconds earlier in the ``pre_seconds`` span.
- Trading back a small part of the position ahead (minutes later, as an ordinary trader does) is not an unwind:
  a runner rides the order's impact and closes most of its position.
"""

from __future__ import annotations

from harbour.detect.market.scenarios import ScenarioMarket

from .front_scenarios import VENUE, S, run_ahead
from .front_scenarios import runners as _runners


def _market(busy_before: bool, unwind: float) -> ScenarioMarket:
    m = ScenarioMarket(seed=12, venues=(VENUE,), trades_per_day=3000)
    at = m.at(11)
    if busy_before:  # others bought three times the runner's position 20-25 seconds before the order
        for i in range(3):
            m.trade(VENUE, at - S * (25 - 2 * i), m.size * 10, m.traders[i], m.makers[i % len(m.makers)], "buy")
    run_ahead(m, "RUN1", at, unwind)
    return m.build()


def test_a_runner_is_weighed_against_the_market_since_its_entry() -> None:
    assert "RUN1" in _runners(_market(busy_before=True, unwind=1.0))


def test_trading_back_a_small_part_is_not_an_unwind() -> None:
    assert "RUN1" in _runners(_market(busy_before=False, unwind=1.0))
    # run_ahead sells into the large order through an exit placed after the entry: since 1.5 such an unwind into
    # the order needs only into_min_unwind (0.25) of the position, so "a small part" is a fifth of it here
    assert "RUN1" not in _runners(_market(busy_before=False, unwind=0.2))
