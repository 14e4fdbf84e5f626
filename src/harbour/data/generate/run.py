"""The generation service: plan the world and the incidents, then stream day by day, book by book."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harbour.data.generate.book import EVENT_NAMES, LIMIT, NEW, BookResult, run_book
from harbour.data.generate.config import GenerateConfig, SymbolSpec
from harbour.data.generate.flow import DAY_US, US, BookContext, Instructions, honest_flow
from harbour.data.generate.incidents import plan_incidents
from harbour.data.generate.incidents.base import Incident
from harbour.data.generate.labels import LabelCollector
from harbour.data.generate.prices import PathState, next_day, venue_basis
from harbour.data.generate.rand import scramble48, stream
from harbour.data.generate.transfers import write_accounts, write_announcements, write_reference, write_transfers
from harbour.data.generate.world import World, build_world
from harbour.data.generate.writer import LakeWriter, coded, day_epoch_us, repeat, ts_array

log = logging.getLogger(__name__)

DOMAIN_ORDER, DOMAIN_TRADE, DOMAIN_TRANSFER = 0, 1, 2
BASE_ORDERS_PER_DAY = 24_000.0  # honest new orders a day on the biggest venue's most popular book
Progress = Callable[[int, int, str], None]


@dataclass
class GenerateSummary:
    out: str
    venues: list[str]
    days: int
    rows: dict[str, int] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # typology -> why fewer incidents than asked

    def line(self) -> str:
        r = self.rows
        return (f"{len(self.venues)} venues x {self.days} days: {r.get('trades', 0):,} trades, "
                f"{r.get('orders', 0):,} order events, {r.get('transfers', 0):,} transfers, "
                f"{sum(self.incidents.values())} labelled incidents")


def make_id(domain: int, day: int, sub: int, seq: np.ndarray) -> pa.Array:
    """Opaque decimal ids, unique within a venue: a 48-bit bijection of (domain, day, book, sequence)."""
    if np.any(seq >= (1 << 26)) or day >= (1 << 12) or sub >= (1 << 8):
        raise ValueError("id space exhausted: more than 67M rows in one book-day or 4096 days")
    head = (np.uint64(domain) << np.uint64(46)) | (np.uint64(day) << np.uint64(34)) | (np.uint64(sub) << np.uint64(26))
    raw = np.asarray(seq, np.uint64) | head
    return pc.cast(pa.array(scramble48(raw, 0x5A17C0FFEE)), pa.string())


def generate_market(config: GenerateConfig, progress: Progress | None = None) -> GenerateSummary:
    world = build_world(config)
    incidents, skipped = plan_incidents(world)
    writer = LakeWriter(config.out)
    try:
        return _stream(config, world, incidents, skipped, writer, progress)
    finally:
        writer.close()


def _stream(config: GenerateConfig, world: World, incidents: list[Incident], skipped: dict[str, str],
            writer: LakeWriter, progress: Progress | None) -> GenerateSummary:
    labels = LabelCollector(world, incidents)
    write_accounts(world, writer)
    write_reference(world, config.out)
    states = {s.name: PathState(s.price, (s.daily_vol ** 2) / 1440) for s in world.symbols}
    by_book: dict[tuple[str, str, int], list[int]] = {}
    for tag, inc in enumerate(incidents):
        for book in inc.books():
            by_book.setdefault(book, []).append(tag)
    total = config.days * len(world.venues)
    done = 0
    for day, date in enumerate(config.dates()):
        paths = {}
        for s in world.symbols:
            path = next_day(s, states[s.name], config.seed, day)
            for li in world.jumps(s.name, day):
                _apply_jump(path.price, li.announce_us, li.jump)
                states[s.name].price = float(path.price[-1])
            paths[s.name] = path
        for venue in world.venues:
            for sym_idx, spec in enumerate(world.symbols):
                if world.trades_on(venue, spec.name, day):
                    tags = by_book.get((venue, spec.name, day), [])
                    _generate_book(world, writer, labels, incidents, tags, venue, sym_idx, spec, day, date, paths)
            write_transfers(world, writer, labels, incidents, venue, day, date, paths)
            write_announcements(world, writer, venue, day, date)
            done += 1
            if progress:
                progress(done, total, f"{venue} {date.isoformat()}")
    labels.write(writer)
    counts = labels.counts()
    for typology in {inc.typology for inc in incidents}:
        planned = sum(1 for inc in incidents if inc.typology == typology)
        if counts.get(typology, 0) < planned:  # e.g. every order of the incident fell outside the price band
            skipped[typology] = f"{planned - counts.get(typology, 0)} of {planned} planned incident(s) left no trace"
    summary = GenerateSummary(str(config.out), list(world.venues), config.days, dict(writer.rows), counts, skipped)
    log.info("generated %s", summary.line())
    return summary


def _apply_jump(price: np.ndarray, at_us: int, jump: float) -> None:
    """The listing news moves the token's price over about ten minutes, then it stays up."""
    start = at_us // US
    ramp = np.clip((np.arange(len(price) - start)) / 600.0, 0.0, 1.0)
    price[start:] *= 1.0 + jump * ramp


@dataclass(frozen=True)
class OrderStatics:
    """Per order key: side, type and account (an order's events only carry its key)."""

    side: np.ndarray
    otype: np.ndarray
    acct: np.ndarray


def _generate_book(world: World, writer: LakeWriter, labels: LabelCollector, incidents: list[Incident],
                   tags: list[int], venue: str, sym_idx: int, spec: SymbolSpec, day: int, date: dt.date,
                   paths: dict) -> None:
    """One book-day: honest flow and incidents through the matching engine, to Parquet and labels."""
    cfg = world.config
    ctx = _book_context(world, venue, spec, day, paths)
    for tag in tags:
        incidents[tag].overlay(venue, day, ctx.mid)
    ins = Instructions()
    honest_flow(ctx, stream(cfg.seed, "book", venue, spec.name, day), ins)
    for tag in tags:
        incidents[tag].inject(ctx, stream(cfg.seed, "incident", incidents[tag].incident_id, venue, spec.name, day),
                              ins, tag)
    ts, kind, key, side, otype, px, lots, acct = ins.finish()
    # the price band of the day's book (orders priced outside it are rejected, as venues do)
    base = int(math.floor(float(ctx.mid.min()) * 0.8 / spec.tick))
    n_levels = int(math.ceil(float(ctx.mid.max()) * 1.25 / spec.tick)) - base
    res = run_book(ts, kind, key, side, otype, px, lots, acct, ins.n_keys, base, n_levels, DAY_US - 1)
    new = kind == NEW
    statics = OrderStatics(np.zeros(ins.n_keys, np.int8), np.zeros(ins.n_keys, np.int8),
                           np.zeros(ins.n_keys, np.int32))
    statics.side[key[new]], statics.otype[key[new]], statics.acct[key[new]] = side[new], otype[new], acct[new]
    epoch = day_epoch_us(date)
    order_ids = make_id(DOMAIN_ORDER, day, sym_idx, np.arange(ins.n_keys, dtype=np.int64))
    trade_ids = make_id(DOMAIN_TRADE, day, sym_idx, np.arange(len(res.tr_ts), dtype=np.int64))
    orders, trades = _book_tables(world, venue, spec, res, statics, order_ids, trade_ids, epoch)
    part = spec.name.replace("/", "-").lower()
    writer.write("orders", orders, part, venue, date)
    writer.write("trades", trades, part, venue, date)
    if tags:
        labels.collect_book(ins.tag_array(), res, order_ids, trade_ids, epoch)


def _book_context(world: World, venue: str, spec: SymbolSpec, day: int, paths: dict) -> BookContext:
    cfg = world.config
    va = world.accounts[venue]
    path = paths[spec.name]
    mid = path.price * venue_basis(cfg.seed, venue, spec.name, day, 3.0 if spec.major else 8.0)
    listing = world.listing_on(venue, spec.name, day)
    traders = va.traders()
    weights = va.activity[traders]
    flow = BASE_ORDERS_PER_DAY * cfg.activity * spec.popularity * world.venue_weight[venue]
    return BookContext(
        venue=venue, symbol=spec, day=day, mid=mid, activity=path.activity, orders_per_day=flow,
        # thin books have wide spreads: the half-spread grows as the book's flow shrinks
        half_spread_bps=(2.0 if spec.major else 6.0) * (BASE_ORDERS_PER_DAY / flow) ** 0.35,
        mm_accounts=va.indices("market_maker"), trader_accounts=traders, trader_weights=weights / weights.sum(),
        open_us=listing.open_us if listing else 0, typical_usd=2_500.0 * math.sqrt(spec.popularity),
        quote_rate=cfg.quote_rate,
    )


def _book_tables(world: World, venue: str, spec: SymbolSpec, res: BookResult, statics: OrderStatics,
                 order_ids: pa.Array, trade_ids: pa.Array, epoch: int) -> tuple[pa.Table, pa.Table]:
    """The engine's arrays as the contract's orders and trades tables (strings as dictionary codes)."""
    accounts = pa.array(world.accounts[venue].account, pa.string())
    px_dec = max(0, round(-math.log10(spec.tick)))
    lot_dec = max(0, round(-math.log10(spec.lot)))
    n_ev, n_tr = len(res.ev_ts), len(res.tr_ts)
    sides = pa.array(["buy", "sell"], pa.string())
    ev_type = statics.otype[res.ev_key]
    orders = pa.table({
        "venue": repeat(venue, n_ev), "symbol": repeat(spec.name, n_ev),
        "order_id": coded(res.ev_key, order_ids),
        "account": coded(statics.acct[res.ev_key], accounts),
        "ts": ts_array(res.ev_ts + epoch),
        "event": coded(res.ev_kind, pa.array(list(EVENT_NAMES), pa.string())),
        "side": coded(statics.side[res.ev_key], sides),
        "order_type": coded(ev_type, pa.array(["limit", "market"], pa.string())),
        "price": pa.array(np.round(res.ev_px * spec.tick, px_dec), pa.float64(),
                          mask=(ev_type != LIMIT) | (res.ev_px < 0)),
        "quantity": pa.array(np.round(res.ev_lots * spec.lot, lot_dec)),
    })
    trades = pa.table({
        "venue": repeat(venue, n_tr), "symbol": repeat(spec.name, n_tr), "trade_id": trade_ids,
        "ts": ts_array(res.tr_ts + epoch), "price": pa.array(np.round(res.tr_px * spec.tick, px_dec)),
        "quantity": pa.array(np.round(res.tr_lots * spec.lot, lot_dec)),
        "buyer": coded(statics.acct[res.tr_buy], accounts), "seller": coded(statics.acct[res.tr_sell], accounts),
        "aggressor": coded(res.tr_aggr, sides),
        "buy_order_id": coded(res.tr_buy, order_ids),
        "sell_order_id": coded(res.tr_sell, order_ids),
    })
    return orders, trades
