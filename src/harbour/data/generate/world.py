"""The static part of a market, planned before any day is generated: venues, customers, accounts, which
symbols each venue lists (and when a venue lists a new one, with its announcement)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harbour.data.generate.accounts import Customer, VenueAccounts, make_customers, make_venue_accounts
from harbour.data.generate.config import GenerateConfig, SymbolSpec
from harbour.data.generate.rand import stream

US = 1_000_000


@dataclass(frozen=True)
class Listing:
    """``symbol`` is announced on ``venue`` at ``announce_us`` (µs from that day's midnight, UTC) on ``day``;
    trading starts at ``open_us``. The token already trades on other venues, and the news lifts its price."""

    venue: str
    symbol: str
    day: int
    announce_us: int
    open_us: int
    jump: float  # relative move of the fundamental price after the announcement


@dataclass
class World:
    config: GenerateConfig
    venues: tuple[str, ...]
    symbols: tuple[SymbolSpec, ...]
    customers: list[Customer]
    accounts: dict[str, VenueAccounts]
    listed: dict[tuple[str, str], int]  # (venue, symbol) -> first day listed (at the open of the day)
    listings: list[Listing] = field(default_factory=list)
    venue_weight: dict[str, float] = field(default_factory=dict)

    def listing_on(self, venue: str, symbol: str, day: int) -> Listing | None:
        for li in self.listings:
            if li.venue == venue and li.symbol == symbol and li.day == day:
                return li
        return None

    def trades_on(self, venue: str, symbol: str, day: int) -> bool:
        first = self.listed.get((venue, symbol))
        return first is not None and first <= day

    def venues_trading(self, symbol: str, day: int) -> list[str]:
        return [v for v in self.venues if self.trades_on(v, symbol, day)]

    def venues_open_all_day(self, symbol: str, day: int) -> list[str]:
        """Venues trading the symbol from the day's open: not those whose own listing opens the book later that
        day (an order placed there before the opening could never trade)."""
        return [v for v in self.venues_trading(symbol, day) if self.listing_on(v, symbol, day) is None]

    def jumps(self, symbol: str, day: int) -> list[Listing]:
        return [li for li in self.listings if li.symbol == symbol and li.day == day]


def build_world(config: GenerateConfig) -> World:
    venues = config.venue_codes()
    symbols = config.universe()
    n_customers = max(10, int(config.accounts * 1.1))
    customers = make_customers(config.seed, n_customers)
    accounts = {v: make_venue_accounts(config.seed, v, i, config.accounts, customers, config.start)
                for i, v in enumerate(venues)}
    rng = stream(config.seed, "world")
    listed: dict[tuple[str, str], int] = {}
    listings: list[Listing] = []
    for s in symbols:
        if s.major or len(venues) == 1:
            for v in venues:
                listed[(v, s.name)] = 0
            continue
        # a minor token trades on a random half of the venues from the start ...
        home = [v for v in venues if rng.random() < 0.5] or [venues[int(rng.integers(len(venues)))]]
        for v in home:
            listed[(v, s.name)] = 0
        # ... and may be listed by another venue during the period, after an announcement
        others = [v for v in venues if v not in home]
        if others and rng.random() < 0.6:
            v = others[int(rng.integers(len(others)))]
            day = int(rng.integers(config.days))
            announce = int((rng.uniform(1.0, 20.0)) * 3600 * US)
            open_us = announce + int(rng.uniform(0.5, 3.0) * 3600 * US)
            if open_us < 23 * 3600 * US:
                listings.append(Listing(v, s.name, day, announce, open_us, float(rng.uniform(0.06, 0.3))))
                listed[(v, s.name)] = day
    weights = {v: float(0.72 ** i) for i, v in enumerate(venues)}
    return World(config, venues, symbols, customers, accounts, listed, listings, weights)


def extra_listing(world: World, rng: np.random.Generator, symbol: str, venue: str, day: int) -> Listing:
    """Plan one more listing (used by insider_pre_listing when the random plan has none to use)."""
    announce = int(rng.uniform(4.0, 18.0) * 3600 * US)
    listing = Listing(venue, symbol, day, announce, announce + int(rng.uniform(0.5, 3.0) * 3600 * US),
                      float(rng.uniform(0.08, 0.3)))
    world.listings.append(listing)
    world.listed[(venue, symbol)] = day
    return listing
