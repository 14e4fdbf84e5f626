"""Venue-level authenticity screens for wash trading, after Cong, Li, Tang and Yang, "Crypto Wash Trading"
(Management Science, 2023).

Three statistical regularities of genuine trading that fabricated volume tends to break:

* **First significant digit (Benford's law).** Sizes of genuine trades spread over orders of magnitude and
  their first digits follow P(d) = log10(1 + 1/d). Reported: chi-square against Benford (8 degrees of
  freedom, p-value), the Kolmogorov–Smirnov-type distance between the cumulative distributions, and
  Nigrini's mean absolute deviation (MAD).
* **Clustering at round sizes.** People trade 1, 5, 10, 100 units far more often than 0.9 or 1.1; bots
  that fabricate volume often draw sizes from a smooth distribution. Sizes are binned at two significant
  digits (1.0, 1.1, …, 9.9 × 10^k); each round bin (1.0, 2.0, …, 9.0) is compared with its four
  neighbours (±0.1, ±0.2). Under no clustering a trade in such a five-bin group falls in the round bin
  one time in five; a one-sided z-test gives the evidence of clustering.
* **Power-law tail.** Genuine trade sizes have a Pareto tail P(X > x) ~ x^-α with α typically in the
  Pareto–Lévy range 1 < α < 2. The exponent is the continuous maximum-likelihood (Hill) estimate above an
  xmin chosen, as in Clauset, Shalizi and Newman (2009), to minimise the Kolmogorov–Smirnov distance
  between the fitted and the empirical tail.

These are screens, not proofs: a venue failing them deserves a closer look. ``venue_report`` runs all
three per venue over trade sizes (quantity for the digit and round tests, which are scale-free; USD
notional, price × quantity, for the tail, so symbols of different price levels can be pooled).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

BENFORD = np.log10(1 + 1 / np.arange(1, 10))


def chi2_sf_even(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution for an even number of degrees of freedom (closed form:
    e^(-x/2) * sum_{i<df/2} (x/2)^i / i!), enough for the 8 of the first-digit test without SciPy."""
    if df % 2:
        raise ValueError("closed form needs even degrees of freedom")
    half = x / 2
    term, total = 1.0, 1.0
    for i in range(1, df // 2):
        term *= half / i
        total += term
    return float(min(1.0, math.exp(-half) * total))


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))
MIN_TRADES = 50  # below this a venue's figures are too noisy to report as a test


@dataclass
class BenfordResult:
    n: int
    observed: list[float]  # share of trades per first digit 1..9
    expected: list[float]
    chi2: float
    p_value: float
    ks: float
    mad: float
    conforms: bool  # Nigrini's MAD bands: below 0.015 is acceptable conformity for first digits


@dataclass
class RoundResult:
    n_groups: int  # trades inside round-plus-neighbour bins
    round_share: float  # share of those at the round bin
    expected_share: float
    ratio: float  # round_share / expected_share
    z: float
    p_value: float
    clustered: bool
    profile: list[tuple[float, float]] = field(default_factory=list)  # (two-digit mantissa, share of trades)


@dataclass
class TailResult:
    n_tail: int
    xmin: float
    alpha: float
    alpha_se: float
    ks: float
    in_pareto_levy: bool  # 1 < alpha < 2
    points: list[tuple[float, float]] = field(default_factory=list)  # (log10 x, log10 P(X >= x)) of the tail


@dataclass
class VenueAuthenticity:
    venue: str
    trades: int
    benford: BenfordResult | None
    rounding: RoundResult | None
    tail: TailResult | None
    flags: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def first_digits(values: np.ndarray) -> np.ndarray:
    """First significant digit (1..9) of each positive, finite value."""
    v = values[np.isfinite(values) & (values > 0)]
    mant = v / 10.0 ** np.floor(np.log10(v))
    # Floating error can leave 9.999… for 10 or 0.999… below 1; clip back into [1, 9].
    return np.clip(np.floor(mant + 1e-9), 1, 9).astype(np.int64)


def benford_test(values: np.ndarray) -> BenfordResult | None:
    digits = first_digits(np.asarray(values, dtype=float))
    n = int(digits.size)
    if n < MIN_TRADES:
        return None
    counts = np.bincount(digits, minlength=10)[1:10].astype(float)
    observed = counts / n
    expected = BENFORD * n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    p = chi2_sf_even(chi2, 8)
    ks = float(np.abs(np.cumsum(observed) - np.cumsum(BENFORD)).max())
    mad = float(np.abs(observed - BENFORD).mean())
    return BenfordResult(n, observed.round(5).tolist(), BENFORD.round(5).tolist(), round(chi2, 3), p,
                         round(ks, 5), round(mad, 5), mad < 0.015)


def _two_digit_bins(values: np.ndarray) -> np.ndarray:
    v = values[np.isfinite(values) & (values > 0)]
    mant = v / 10.0 ** np.floor(np.log10(v))
    b = np.rint(mant * 10).astype(np.int64)  # 10..100
    return np.where(b >= 100, 10, b)  # 9.96 rounds to 10.0 = the next decade's 1.0


def round_size_test(values: np.ndarray) -> RoundResult | None:
    bins = _two_digit_bins(np.asarray(values, dtype=float))
    if bins.size < MIN_TRADES:
        return None
    counts = np.bincount(bins, minlength=101)[:101].astype(float)
    # Wrap neighbours across decades: below 1.0 is 9.9 and 9.8 of the decade under it.
    ring = np.concatenate([counts[10:100]])  # index 0 ↔ 1.0 … 89 ↔ 9.9
    at_round, near = 0.0, 0.0
    for r in range(0, 90, 10):  # 1.0, 2.0, …, 9.0
        at_round += ring[r]
        near += sum(ring[(r + k) % 90] for k in (-2, -1, 1, 2))
    total = at_round + near
    if total < 20:
        return None
    p0 = 1 / 5
    share = at_round / total
    z = (share - p0) / math.sqrt(p0 * (1 - p0) / total)
    p = normal_sf(z)
    profile = [(round(1 + i / 10, 1), float(ring[i] / bins.size)) for i in range(90)]
    return RoundResult(int(total), round(share, 5), p0, round(share / p0, 3), round(z, 3), p, p < 0.01, profile)


def tail_fit(values: np.ndarray, candidates: int = 60, min_tail: int = 50) -> TailResult | None:
    """Pareto exponent of the upper tail (continuous MLE) with xmin chosen by least KS distance."""
    x = np.sort(np.asarray(values, dtype=float)[np.isfinite(values) & (np.asarray(values) > 0)])
    n = x.size
    if n < 2 * min_tail:
        return None
    qs = np.unique(np.quantile(x, np.linspace(0.5, 1 - min_tail / n, candidates)))
    best: tuple[float, float, float, int] | None = None
    for xmin in qs:
        # Strictly above xmin: round sizes make atoms, and an atom sitting at xmin would drag alpha down.
        tail = x[x > xmin]
        k = tail.size
        if k < min_tail:
            continue
        logs = np.log(tail / xmin)
        s = logs.sum()
        if s <= 0:
            continue
        alpha = k / s
        emp = np.arange(k) / k  # empirical CDF of the sorted tail
        fit = 1 - (tail / xmin) ** -alpha
        ks = float(np.abs(emp - fit).max())
        if best is None or ks < best[2]:
            best = (float(xmin), float(alpha), ks, k)
    if best is None:
        return None
    xmin, alpha, ks, k = best
    tail = x[x > xmin]
    surv = 1 - np.arange(k) / k
    idx = np.unique(np.linspace(0, k - 1, min(k, 80)).astype(int))
    points = [(float(np.log10(tail[i])), float(np.log10(surv[i] * k / n))) for i in idx]
    return TailResult(k, round(xmin, 8), round(alpha, 4), round(alpha / math.sqrt(k), 4), round(ks, 5),
                      1 < alpha < 2, points)


def _flags(b: BenfordResult | None, r: RoundResult | None, t: TailResult | None) -> list[str]:
    flags = []
    if b is not None and not b.conforms:
        flags.append(f"first digits depart from Benford's law (MAD {b.mad:.3f}, chi-square p={b.p_value:.2g})")
    if r is not None and not r.clustered:
        flags.append(f"no clustering at round trade sizes (round share {r.round_share:.0%} vs "
                     f"{r.expected_share:.0%} expected without it)")
    if t is not None and not t.in_pareto_levy:
        flags.append(f"trade-size tail exponent {t.alpha:.2f} outside the Pareto–Lévy range (1, 2)")
    return flags


def venue_report(trades: pa.Table | pl.DataFrame, venues: list[str] | None = None) -> list[VenueAuthenticity]:
    """The three screens per venue. ``trades`` needs venue, price and quantity columns."""
    df = trades if isinstance(trades, pl.DataFrame) else pl.from_arrow(trades)
    assert isinstance(df, pl.DataFrame)
    missing = {"venue", "price", "quantity"} - set(df.columns)
    if missing:
        raise ValueError(f"trades lack column(s) {sorted(missing)} needed by the authenticity screens")
    df = df.select("venue", "price", "quantity")
    if venues is not None:
        df = df.filter(pl.col("venue").is_in(venues))
    out = []
    for (venue,), part in sorted(df.partition_by("venue", as_dict=True).items()):
        q = part["quantity"].to_numpy()
        notional = (part["price"] * part["quantity"]).to_numpy()
        b, r, t = benford_test(q), round_size_test(q), tail_fit(notional)
        out.append(VenueAuthenticity(str(venue), part.height, b, r, t, _flags(b, r, t)))
    return out
