"""The generation service: plan the world and the incidents, then stream day by day, book by book."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harbour.data.generate.book import EVENT_NAMES, LIMIT, NEW, BookResult, run_book
from harbour.data.generate.config import GenerateConfig, SymbolSpec
from harbour.data.generate.flow import DAY_US, US, BookContext, Instructions, honest_flow
from harbour.data.generate.incidents import plan_incidents
from harbour.data.generate.incidents.base import Incident
from harbour.data.generate.labels import Evidence, LabelCollector
from harbour.data.generate.prices import DayPath, PathState, next_day, venue_basis
from harbour.data.generate.rand import scramble48, stream
from harbour.data.generate.transfers import write_accounts, write_announcements, write_reference, write_transfers
from harbour.data.generate.world import World, build_world
from harbour.data.generate.writer import LakeWriter, coded, day_epoch_us, remove_generated, repeat, ts_array

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


def generate_market(config: GenerateConfig, progress: Progress | None = None, workers: int = 1) -> GenerateSummary:
    """Write the market of ``config``. ``workers`` > 1 generates venue-days in that many forked processes
    (0: one per CPU); the files are byte-identical whatever the number of workers."""
    remove_generated(config.out)  # the last generated market goes whole, not only the days written again
    world = build_world(config)
    incidents, skipped = plan_incidents(world)
    plan = _Plan(config, world, incidents, _books_of(incidents))
    workers = _worker_count(workers, config.days * len(world.venues))
    # fork before this process starts any thread (the lake writer's), so the children inherit a quiet process
    pool = _fork_pool(plan, workers) if workers > 1 else None
    writer = LakeWriter(config.out)
    try:
        return _stream(plan, skipped, writer, progress, pool, workers)
    finally:
        if pool is not None:  # waits for (and reaps) the workers: their CPU time shows in RUSAGE_CHILDREN
            pool.shutdown(cancel_futures=True)
        writer.close()


@dataclass(frozen=True)
class _Plan:
    """What every venue-day needs, fixed before the first day is generated (inherited by forked workers)."""

    config: GenerateConfig
    world: World
    incidents: list[Incident]
    by_book: dict[tuple[str, str, int], list[int]]


@dataclass
class _VenueDayResult:
    rows: dict[str, int]
    evidence: list[tuple[int, Evidence]]  # (incident tag, what this venue-day holds of it)


def _books_of(incidents: list[Incident]) -> dict[tuple[str, str, int], list[int]]:
    by_book: dict[tuple[str, str, int], list[int]] = {}
    for tag, inc in enumerate(incidents):
        for book in inc.books():
            by_book.setdefault(book, []).append(tag)
    return by_book


def _worker_count(asked: int, tasks: int) -> int:
    if asked < 0:
        raise ValueError(f"workers must be 0 (one per CPU) or more, not {asked}")
    return max(1, min(asked or (os.cpu_count() or 1), tasks))


def _stream(plan: _Plan, skipped: dict[str, str], writer: LakeWriter, progress: Progress | None,
            pool: ProcessPoolExecutor | None, workers: int) -> GenerateSummary:
    config, world, incidents = plan.config, plan.world, plan.incidents
    labels = LabelCollector(world, incidents)
    write_accounts(world, writer)
    write_reference(world, config.out)
    total = config.days * len(world.venues)
    for done, (result, what) in enumerate(_venue_days(plan, pool, workers), start=1):
        for name, n in result.rows.items():
            writer.rows[name] = writer.rows.get(name, 0) + n
        for tag, evidence in result.evidence:
            labels.evidence[tag].merge(evidence)
        if progress:
            progress(done, total, what)
    labels.write(writer)
    counts = labels.counts()
    for typology in {inc.typology for inc in incidents}:
        planned = sum(1 for inc in incidents if inc.typology == typology)
        if counts.get(typology, 0) < planned:  # e.g. every order of the incident fell outside the price band
            skipped[typology] = f"{planned - counts.get(typology, 0)} of {planned} planned incident(s) left no trace"
    summary = GenerateSummary(str(config.out), list(world.venues), config.days, dict(writer.rows), counts, skipped)
    log.info("generated %s", summary.line())
    return summary


def _venue_days(plan: _Plan, pool: ProcessPoolExecutor | None, workers: int) -> Iterator[tuple[_VenueDayResult, str]]:
    """Every venue-day's result, in (day, venue) order whoever computed it, so labels merge identically."""
    states = _initial_states(plan.world)
    if pool is None:
        for day, date in enumerate(plan.config.dates()):
            paths = _day_paths(plan.world, states, day)
            for venue in plan.world.venues:
                yield _venue_day(plan, day, date, venue, paths), f"{venue} {date.isoformat()}"
        return
    pending: deque[tuple[Future[_VenueDayResult], str]] = deque()
    for day, date in enumerate(plan.config.dates()):
        start = copy.deepcopy(states)  # the workers rebuild the day's paths from the states at its start
        _day_paths(plan.world, states, day)
        for venue in plan.world.venues:
            pending.append((pool.submit(_worker_venue_day, day, date, venue, start),
                            f"{venue} {date.isoformat()}"))
            while len(pending) > 2 * workers:  # bounded: at most a few venue-days queued or in flight
                job, what = pending.popleft()
                yield job.result(), what
    while pending:
        job, what = pending.popleft()
        yield job.result(), what


def _initial_states(world: World) -> dict[str, PathState]:
    return {s.name: PathState(s.price, (s.daily_vol ** 2) / 1440) for s in world.symbols}


def _day_paths(world: World, states: dict[str, PathState], day: int) -> dict[str, DayPath]:
    """Every symbol's fundamental path for ``day``; advances ``states`` to the end of the day."""
    paths = {}
    for s in world.symbols:
        path = next_day(s, states[s.name], world.config.seed, day)
        for li in world.jumps(s.name, day):
            _apply_jump(path.price, li.announce_us, li.jump)
            states[s.name].price = float(path.price[-1])
        paths[s.name] = path
    return paths


def _venue_day(plan: _Plan, day: int, date: dt.date, venue: str, paths: dict[str, DayPath]) -> _VenueDayResult:
    """One venue-day: every book, the transfers and the announcements, written by its own lake writer."""
    world = plan.world
    writer = LakeWriter(plan.config.out)
    labels = LabelCollector(world, plan.incidents)
    try:
        for sym_idx, spec in enumerate(world.symbols):
            if world.trades_on(venue, spec.name, day):
                tags = plan.by_book.get((venue, spec.name, day), [])
                _generate_book(world, writer, labels, plan.incidents, tags, venue, sym_idx, spec, day, date, paths)
        write_transfers(world, writer, labels, plan.incidents, venue, day, date, paths)
        write_announcements(world, writer, venue, day, date)
    finally:
        writer.close()
    return _VenueDayResult(dict(writer.rows), [(tag, ev) for tag, ev in enumerate(labels.evidence) if ev.ids])


# --- worker processes ------------------------------------------------------------------------------------------
_WORKER_PLAN: _Plan | None = None
_WORKER_PATHS: tuple[int, dict[str, DayPath]] | None = None


def _fork_pool(plan: _Plan, workers: int) -> ProcessPoolExecutor:
    """Forked processes that inherit ``plan`` (the world and incidents are never pickled). The matching engine
    is loaded first, so the children inherit it too. A worker that dies (killed, out of memory) fails the run
    with BrokenProcessPool rather than hanging it."""
    global _WORKER_PLAN
    _warm_engine()
    _WORKER_PLAN = plan
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        for job in [pool.submit(os.getpid) for _ in range(workers)]:  # forks every worker now
            job.result()
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise
    finally:
        _WORKER_PLAN = None
    return pool


def _warm_engine() -> None:
    one = np.zeros(1, np.int64)
    run_book(one, np.zeros(1, np.int8), one, np.zeros(1, np.int8), np.zeros(1, np.int8), one + 1, one + 1,
             np.zeros(1, np.int32), 1, 0, 4, 1)


def _worker_venue_day(day: int, date: dt.date, venue: str, start: dict[str, PathState]) -> _VenueDayResult:
    global _WORKER_PATHS
    assert _WORKER_PLAN is not None, "generator worker started without a plan"
    if _WORKER_PATHS is None or _WORKER_PATHS[0] != day:  # a worker takes the day's venues in turn
        _WORKER_PATHS = (day, _day_paths(_WORKER_PLAN.world, start, day))
    return _venue_day(_WORKER_PLAN, day, date, venue, _WORKER_PATHS[1])


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
    replenish = ins.replenish(ctx, stream(cfg.seed, "replenish", venue, spec.name, day))
    res = run_book(ts, kind, key, side, otype, px, lots, acct, ins.n_keys, base, n_levels, DAY_US - 1, replenish)
    new = kind == NEW
    side_of, type_of, acct_of = (np.zeros(ins.n_keys, np.int8), np.zeros(ins.n_keys, np.int8),
                                 np.zeros(ins.n_keys, np.int32))
    side_of[key[new]], type_of[key[new]], acct_of[key[new]] = side[new], otype[new], acct[new]
    # market makers' replacement quotes (keys after the instructions') are orders of the maker they replenish
    statics = OrderStatics(res.per_key(side_of), res.per_key(type_of), res.per_key(acct_of))
    epoch = day_epoch_us(date)
    order_ids = make_id(DOMAIN_ORDER, day, sym_idx, np.arange(len(statics.side), dtype=np.int64))
    trade_ids = make_id(DOMAIN_TRADE, day, sym_idx, np.arange(len(res.tr_ts), dtype=np.int64))
    orders, trades = _book_tables(world, venue, spec, res, statics, order_ids, trade_ids, epoch)
    part = spec.name.replace("/", "-").lower()
    writer.write("orders", orders, part, venue, date)
    writer.write("trades", trades, part, venue, date)
    if tags:
        labels.collect_book(res.per_key(ins.tag_array()), res, order_ids, trade_ids, epoch)


def book_flow(world: World, venue: str, spec: SymbolSpec) -> tuple[float, float]:
    """A book's order flow per day and its half-spread in basis points: thin books have wide spreads, the
    half-spread grows as the book's flow shrinks. (Incident planners that size a move in this book's spreads
    read it here too.)"""
    flow = BASE_ORDERS_PER_DAY * world.config.activity * spec.popularity * world.venue_weight[venue]
    return flow, (2.0 if spec.major else 6.0) * (BASE_ORDERS_PER_DAY / flow) ** 0.35


def _book_context(world: World, venue: str, spec: SymbolSpec, day: int, paths: dict) -> BookContext:
    cfg = world.config
    va = world.accounts[venue]
    path = paths[spec.name]
    mid = path.price * venue_basis(cfg.seed, venue, spec.name, day, 3.0 if spec.major else 8.0)
    listing = world.listing_on(venue, spec.name, day)
    traders = va.traders()
    weights = va.activity[traders]
    flow, half_spread_bps = book_flow(world, venue, spec)
    return BookContext(
        venue=venue, symbol=spec, day=day, mid=mid, activity=path.activity, orders_per_day=flow,
        half_spread_bps=half_spread_bps,
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
