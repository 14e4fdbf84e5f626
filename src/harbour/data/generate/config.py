"""Options of a generation run, the symbol universe and the difficulty knobs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from harbour.data.schemas import TYPOLOGIES

DEFAULT_VENUES = ("HBX", "KLN", "VCT", "TSY", "APL", "LMA", "SKW", "CWB", "SHT", "MKK")

# Daily reference ("closing") price time used by marking_the_close: 16:00 Hong Kong time = 08:00 UTC.
CLOSE_UTC = dt.time(8, 0)
# Fixed FX used for the Hong Kong dollar thresholds (HKD is pegged near 7.8 per USD).
HKD_PER_USD = 7.8
# Structuring threshold: HK$120,000 cash-like transactions, about US$15,385.
STRUCTURING_THRESHOLD_USD = round(120_000 / HKD_PER_USD, 2)
# Travel-rule threshold: VASP-to-VASP transfers of HK$8,000 or more, about US$1,025.64.
TRAVEL_RULE_THRESHOLD_USD = round(8_000 / HKD_PER_USD, 2)


DEFAULT_QUOTE_RATE = 0.25


class Difficulty(StrEnum):
    easy = "easy"
    default = "default"
    hard = "hard"


@dataclass(frozen=True)
class DifficultyKnobs:
    """How hard an incident hides in normal flow."""

    noise: float  # relative noise on quantities and on timings
    ring_min: int  # colluding accounts per ring
    ring_max: int
    dilution: float  # honest trades added by colluders around the incident, relative to its own size
    intensity: float  # size of the abusive behaviour relative to normal (1 = typical)


KNOBS: dict[Difficulty, DifficultyKnobs] = {
    Difficulty.easy: DifficultyKnobs(noise=0.05, ring_min=2, ring_max=3, dilution=0.0, intensity=1.6),
    Difficulty.default: DifficultyKnobs(noise=0.2, ring_min=2, ring_max=4, dilution=0.5, intensity=1.0),
    Difficulty.hard: DifficultyKnobs(noise=0.45, ring_min=3, ring_max=5, dilution=1.5, intensity=0.6),
}


@dataclass(frozen=True)
class SymbolSpec:
    """One instrument of the universe; the fundamental price process is shared by every venue."""

    name: str  # BASE/QUOTE
    price: float  # opening price of the first day
    daily_vol: float  # daily volatility of log returns
    popularity: float  # relative order-flow intensity
    tick: float
    lot: float
    major: bool  # listed on every venue from the start


UNIVERSE: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTC/USD", 64_250.0, 0.028, 1.0, 0.1, 0.00001, True),
    SymbolSpec("ETH/USD", 3_120.0, 0.034, 0.8, 0.01, 0.0001, True),
    SymbolSpec("SOL/USD", 148.2, 0.048, 0.5, 0.001, 0.001, True),
    SymbolSpec("XRP/USD", 0.5821, 0.045, 0.35, 0.00001, 0.1, False),
    SymbolSpec("DOGE/USD", 0.1433, 0.055, 0.3, 0.000001, 1.0, False),
    SymbolSpec("LINK/USD", 14.37, 0.052, 0.22, 0.0001, 0.01, False),
    SymbolSpec("AVAX/USD", 27.85, 0.058, 0.2, 0.001, 0.01, False),
    SymbolSpec("ARB/USD", 0.8124, 0.065, 0.15, 0.00001, 0.1, False),
    SymbolSpec("PEPE/USD", 0.00001163, 0.09, 0.12, 0.00000000001, 1000.0, False),
    SymbolSpec("TIA/USD", 5.231, 0.075, 0.1, 0.0001, 0.01, False),
    SymbolSpec("ONDO/USD", 1.087, 0.08, 0.08, 0.00001, 0.1, False),
    SymbolSpec("JUP/USD", 0.6815, 0.085, 0.08, 0.00001, 0.1, False),
)
STABLECOINS = ("USDT", "USDC")


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that determines the output; the same config gives byte-identical files."""

    out: Path
    venues: int = 3
    days: int = 2
    accounts: int = 2_000  # accounts per venue
    seed: int = 1
    difficulty: Difficulty = Difficulty.default
    start: dt.date = dt.date(2026, 1, 5)
    venue_names: tuple[str, ...] = ()
    incidents: dict[str, int] = field(default_factory=dict)  # typology -> count (default: DEFAULT_INCIDENTS)
    activity: float = 1.0  # multiplies the order flow of every book
    # Market-maker re-quotes a day, per market maker, per honest order of the book. It sets the order-to-trade
    # ratio: 0.25 gives about 8 order events per trade (fills included), 2.5 about 40 (a busy HFT venue).
    quote_rate: float = DEFAULT_QUOTE_RATE
    symbols: int = 8  # how many symbols of UNIVERSE take part
    structuring_threshold_usd: float = STRUCTURING_THRESHOLD_USD
    travel_rule_threshold_usd: float = TRAVEL_RULE_THRESHOLD_USD

    def venue_codes(self) -> tuple[str, ...]:
        if self.venue_names:
            return tuple(self.venue_names[: self.venues])
        return DEFAULT_VENUES[: self.venues]

    def incident_counts(self) -> dict[str, int]:
        everything = self.incidents.get("all", DEFAULT_INCIDENTS)  # {"all": N} sets every typology
        counts = {t: everything for t in TYPOLOGIES}
        counts.update({t: n for t, n in self.incidents.items() if t != "all"})
        return {t: counts[t] for t in TYPOLOGIES}

    def universe(self) -> tuple[SymbolSpec, ...]:
        return UNIVERSE[: self.symbols]

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]


DEFAULT_INCIDENTS = 2  # per typology, unless --incidents says otherwise


def parse_incidents(items: list[str]) -> dict[str, int]:
    """``["wash_trade=5", "spoofing=0"]`` -> ``{"wash_trade": 5, "spoofing": 0}``; ``all=N`` sets every typology."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep or not count.strip().isdigit():
            raise ValueError(f"--incidents {item!r}: expected TYPOLOGY=COUNT, e.g. wash_trade=3")
        if name == "all":
            out.update({t: int(count) for t in TYPOLOGIES})
        elif name not in TYPOLOGIES:
            raise ValueError(f"--incidents {item!r}: unknown typology {name!r}; known: {', '.join(TYPOLOGIES)}")
        else:
            out[name] = int(count)
    return out
