"""The venue authenticity screens: each statistic separates data built to pass from data built to fail,
and the real Tardis BTCUSDT sample gets a report."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.detect.market.authenticity import (
    BENFORD,
    benford_test,
    first_digits,
    round_size_test,
    tail_fit,
    venue_report,
)

REAL = Path(__file__).resolve().parents[4] / ".." / "shared" / "data" / "real" / \
    "tardis_binance_futures_btcusdt_trades.csv"


def test_log_uniform_sizes_follow_benford_and_uniform_ones_do_not() -> None:
    rng = np.random.default_rng(1)
    good = benford_test(10 ** rng.uniform(-3, 4, 20_000))
    bad = benford_test(rng.uniform(1, 2, 20_000))  # every size starts with 1
    assert good is not None and bad is not None
    assert good.conforms and good.p_value > 0.001 and good.mad < 0.006
    assert not bad.conforms and bad.p_value < 1e-12 and bad.observed[0] == 1.0
    assert np.allclose(sum(good.observed), 1) and np.allclose(good.expected, BENFORD, atol=1e-5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1e-9, 1e12, allow_nan=False), min_size=1, max_size=50))
def test_first_digit_is_always_one_to_nine(values: list[float]) -> None:
    d = first_digits(np.array(values))
    assert d.size == len(values)
    assert ((d >= 1) & (d <= 9)).all()
    for v, digit in zip(values, d, strict=True):
        text = format(Decimal(repr(v)), "f").replace(".", "").lstrip("0")
        mant = v / 10 ** np.floor(np.log10(v))
        if abs(mant - round(mant)) > 1e-6:  # away from a digit boundary the decimal text decides
            assert text[0] == str(digit), (v, digit)


def test_round_sizes_are_detected_as_clustering() -> None:
    rng = np.random.default_rng(2)
    smooth = 10 ** rng.uniform(-1, 2, 20_000)
    human = np.where(rng.random(20_000) < 0.3, np.round(smooth, 0).clip(1), smooth)
    human = np.where(rng.random(20_000) < 0.2, rng.choice([0.1, 0.5, 1, 2, 5, 10, 50], 20_000), human)
    r_smooth, r_human = round_size_test(smooth), round_size_test(human)
    assert r_smooth is not None and r_human is not None
    assert not r_smooth.clustered and abs(r_smooth.round_share - 0.2) < 0.03
    assert r_human.clustered and r_human.ratio > 1.5 and r_human.z > 10


@pytest.mark.parametrize("alpha", [1.3, 1.8, 2.6])
def test_tail_exponent_of_a_pareto_sample_is_recovered(alpha: float) -> None:
    rng = np.random.default_rng(3)
    body = rng.lognormal(0, 0.5, 5_000)
    tail = (rng.pareto(alpha, 5_000) + 1) * 3.0
    fit = tail_fit(np.concatenate([body, tail]))
    assert fit is not None
    assert abs(fit.alpha - alpha) < 0.2 and fit.xmin >= 2.0
    assert fit.in_pareto_levy == (1 < fit.alpha < 2)
    assert len(fit.points) > 10


def test_too_few_trades_give_no_figures() -> None:
    assert benford_test(np.arange(1, 10)) is None
    assert tail_fit(np.arange(1, 50)) is None


def test_report_flags_a_fabricated_venue_and_not_a_genuine_one() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    draws = (rng.pareto(1.5, n) + 1) * 0.05
    one_digit = np.round(draws / 10 ** np.floor(np.log10(draws))) * 10 ** np.floor(np.log10(draws))
    genuine_q = np.where(rng.random(n) < 0.3, one_digit, draws)  # people round some sizes
    bot_q = rng.uniform(0.2, 0.9, n)  # sizes drawn from a narrow uniform: no round sizes, no tail
    df = pl.DataFrame({"venue": ["REAL"] * n + ["BOTS"] * n, "price": [100.0] * (2 * n),
                       "quantity": np.concatenate([genuine_q, bot_q])})
    reports = {r.venue: r for r in venue_report(df)}
    assert reports["BOTS"].flags and len(reports["BOTS"].flags) >= 2
    assert reports["REAL"].rounding is not None and reports["REAL"].rounding.clustered
    assert reports["REAL"].tail is not None and reports["REAL"].tail.in_pareto_levy


def test_report_names_the_missing_column() -> None:
    with pytest.raises(ValueError, match="quantity"):
        venue_report(pl.DataFrame({"venue": ["A"], "price": [1.0]}))


@pytest.mark.skipif(not REAL.exists(), reason="real sample not present")
def test_real_tardis_sample_is_reported() -> None:
    df = pl.read_csv(REAL).select(venue=pl.lit("BINANCE-FUTURES"), price="price", quantity="amount")
    (r,) = venue_report(df)
    assert r.trades == df.height > 9_000
    assert r.benford is not None and r.rounding is not None and r.tail is not None
    assert r.rounding.clustered  # people trade round sizes on a real venue
    assert 1.0 < r.tail.alpha < 4.0


@pytest.mark.parametrize(("x", "expected"), [(0.0, 1.0), (2.7326, 0.95), (15.5073, 0.05), (20.0902, 0.01)])
def test_chi_square_tail_matches_tables(x: float, expected: float) -> None:
    from harbour.detect.market.authenticity import chi2_sf_even

    assert abs(chi2_sf_even(x, 8) - expected) < 5e-4  # 8 degrees of freedom, textbook critical values
