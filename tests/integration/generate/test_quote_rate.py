"""The quote_rate knob sets the order-to-trade ratio: more market-maker re-quotes per honest order give
more order events per trade, at about the same number of trades."""

from __future__ import annotations

from pathlib import Path

import pytest

from harbour.data.generate import GenerateConfig, generate_market


def _counts(out: Path, quote_rate: float, seed: int) -> tuple[int, int]:
    config = GenerateConfig(out=out, venues=1, days=1, accounts=100, seed=seed, activity=0.2, symbols=3,
                            incidents={"all": 0}, quote_rate=quote_rate)
    rows = generate_market(config).rows
    return rows["orders"], rows["trades"]


@pytest.mark.parametrize("seed", [3, 21])
def test_quote_rate_raises_order_events_per_trade(tmp_path: Path, seed: int) -> None:
    counts = {q: _counts(tmp_path / f"q{q}", q, seed) for q in (0.1, 0.25, 1.0)}
    ratio = {q: orders / trades for q, (orders, trades) in counts.items()}
    assert ratio[0.1] < ratio[0.25] < ratio[1.0], ratio
    assert ratio[1.0] > 2 * ratio[0.1], ratio  # the knob moves the ratio a lot, not by noise
    trades = [t for _, t in counts.values()]
    assert max(trades) < 1.3 * min(trades), counts  # re-quotes add order events, hardly any trades
