"""The price process: one fundamental path per symbol shared by every venue, plus a small per-venue basis.

Per-minute GARCH(1,1) variance (volatility clustering) with an intraday seasonality and occasional jumps
(bursts); within a minute the path moves second by second. Paths are generated day by day and carry their
state (last price, variance) to the next day, so memory does not grow with the number of days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harbour.data.generate.config import SymbolSpec
from harbour.data.generate.rand import stream

SECONDS = 86_400
MINUTES = 1_440
GARCH_ALPHA = 0.07
GARCH_BETA = 0.9


def seasonality() -> np.ndarray:
    """Relative activity per UTC minute: an Asian morning peak, a US-open peak, a quiet late night."""
    hours = np.arange(MINUTES) / 60.0
    asia = np.exp(-0.5 * ((hours - 2.5) / 2.0) ** 2)
    us = np.exp(-0.5 * ((hours - 14.5) / 2.2) ** 2)
    europe = np.exp(-0.5 * ((hours - 8.5) / 1.8) ** 2)
    curve = 0.45 + 0.55 * asia + 0.45 * europe + 0.8 * us
    return curve / curve.mean()


SEASON = seasonality()


@dataclass
class PathState:
    price: float
    variance: float  # per-minute variance of log returns


@dataclass(frozen=True)
class DayPath:
    """One symbol's fundamental for one UTC day."""

    price: np.ndarray  # per second, SECONDS values
    activity: np.ndarray  # per minute, relative order-flow intensity (seasonality x volatility), mean ~1


def next_day(spec: SymbolSpec, state: PathState, seed: int, day: int) -> DayPath:
    rng = stream(seed, "price", spec.name, day)
    base_var = (spec.daily_vol ** 2) / MINUTES
    z = rng.standard_normal(MINUTES)
    jumps = rng.random(MINUTES) < 2.0 / MINUTES  # about two bursts a day
    jump_size = rng.standard_normal(MINUTES) * np.sqrt(base_var) * 6.0
    h = state.variance
    minute_var = np.empty(MINUTES)
    minute_ret = np.empty(MINUTES)
    omega = (1.0 - GARCH_ALPHA - GARCH_BETA) * base_var
    for m in range(MINUTES):  # sequential by nature; 1,440 steps a day
        minute_var[m] = h
        r = np.sqrt(h) * np.sqrt(SEASON[m]) * z[m] + (jump_size[m] if jumps[m] else 0.0)
        minute_ret[m] = r
        h = omega + GARCH_ALPHA * r * r + GARCH_BETA * h
        h = min(h, base_var * 25.0)
    # Seconds inside a minute: a Brownian bridge that sums exactly to the minute's return.
    step = rng.standard_normal((MINUTES, 60)) * np.sqrt(minute_var * SEASON)[:, None] / np.sqrt(60.0)
    step -= step.mean(axis=1, keepdims=True)
    step += (minute_ret / 60.0)[:, None]
    log_path = np.log(state.price) + np.cumsum(step.ravel())
    price = np.exp(log_path)
    state.price = float(price[-1])
    state.variance = h
    vol_ratio = np.sqrt(minute_var / base_var)
    activity = SEASON * np.clip(vol_ratio, 0.5, 4.0) * (1.0 + 3.0 * jumps)
    return DayPath(price=price, activity=activity / activity.mean())


def venue_basis(seed: int, venue: str, symbol: str, day: int, bps: float) -> np.ndarray:
    """Per-second multiplicative basis of one venue (a mean-reverting few basis points)."""
    rng = stream(seed, "basis", venue, symbol, day)
    shocks = rng.standard_normal(MINUTES) * bps * 1e-4 * 0.3
    b = np.empty(MINUTES)
    x = rng.standard_normal() * bps * 1e-4
    for m in range(MINUTES):
        x = 0.95 * x + shocks[m]
        b[m] = x
    return np.exp(np.repeat(b, 60))
