"""Pump and dump: owners accumulate, the price is driven up far beyond its normal range, and the same
owners sell into the rise before it collapses.

The defining behaviour has two halves that must both be present:

* **the price path** — a rise over at most ``pump_minutes`` that is abnormal for the symbol-day
  (at least ``min_rise`` and ``rise_sigmas`` times the day's typical move over that span), followed within
  ``dump_minutes`` by a fall giving back at least ``min_giveback`` of the rise (of a peak whose dump window
  runs past the partition's last bar, the share of it the partition sees, ``late_giveback``);
* **the actors** — owners (accounts of one customer counted together) who were net buyers before the
  peak and net sellers after it, each side a material share (``min_share``) of the market's buying over
  the span the group bought in, and of its selling over the span the group sold in (first turn to last
  sale). Innocent momentum traders buy late and sell late; market makers do the opposite.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from pydantic import BaseModel, Field

from harbour.data.arrow_strings import compare_strings, string_buffers
from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    TRADE_COLUMNS,
    as_dt,
    clip01,
    dictionary_codes,
    ends_in_window,
    fmt_qty,
    fmt_time,
    frame,
    instant,
    leg_owners,
    listings,
    micros,
    names,
    owner_map,
    part_symbol,
    part_venue,
    poisson_tail,
    robust_spread,
    with_owner,
)


class PumpAndDumpConfig(BaseModel):
    bar_seconds: int = Field(60, ge=1, description="bar length for the price path")
    smooth_bars: int = Field(9, ge=1, description="bars in the rolling median that smooths the price path")
    pump_minutes: float = Field(360.0, gt=0, description="longest run-up from trough to peak")
    dump_minutes: float = Field(360.0, gt=0, description="how long after the peak the give-back may take")
    min_rise: float = Field(0.05, gt=0, description="smallest trough-to-peak rise (log return) worth a look")
    rise_sigmas: float = Field(
        2.0, gt=0, description="rise against the day's robust bar volatility scaled to the run-up length (the "
        "estimate includes the pump's own moves, so it errs high); "
        "keeps volatile days from alerting on ordinary swings")
    sigma_minutes: float = Field(
        30.0, gt=0, description="horizon of the price moves that measure the day's volatility (longer than the "
        "bid-ask bounce, shorter than a pump)")
    plateau: float = Field(
        0.95, gt=0, le=1, description="share of the rise at which the top plateau starts; buying before it is the "
        "build-up, selling from it on is the distribution")
    min_giveback: float = Field(0.3, ge=0, le=1, description="share of the rise lost after the peak")
    late_giveback: float = Field(
        0.5, ge=0, le=1, description="a peak whose dump window runs past the partition's last bar (a pump distributed "
        "late in the day) must give back min_giveback times the share of dump_minutes left after its top, and at "
        "least this share of min_giveback: the partition sees only the start of its fall (1.5)")
    accumulation_minutes: float = Field(
        240.0, gt=0, description="how long before the trough accumulation may start")
    min_share: float = Field(
        0.1, gt=0, le=1, description="the actors' combined net buying before the peak, as a share of the market's "
        "buying over the span they bought in, and their net selling after it, as a share of the market's buying "
        "over the span they sold in (first turn to last sale)")
    min_member_share: float = Field(
        0.01, gt=0, le=1, description="smallest net buying (before) and net selling (after) share for an owner to "
        "count among the actors")
    max_group: int = Field(6, ge=1, description="most owners alerted together as one pump")
    min_accounts: int = Field(
        2, ge=1, description="fewest accounts among the actors: a pump is a coordinated campaign, several accounts "
        "accumulating together and unloading into the rise; one account that bought a quiet run-up and sold the "
        "top is ordinary position taking however large its share")
    min_directional: float = Field(
        0.7, ge=0, le=1, description="an actor's net buying up to its turn, and net selling after it, as a share "
        "of its gross trading in that leg: pumpers trade one way at a time")
    min_resold: float = Field(
        0.2, ge=0, le=1, description="share of its accumulation an actor sells after the peak (into a thinning book "
        "a dump rarely unloads everything)")
    min_member_orders: int = Field(
        3, ge=1, description="separate buy orders an actor placed while accumulating: a pump is a campaign of "
        "decisions, not one large order that happened to precede a swing")
    max_coincidence: float = Field(
        1e-3, gt=0, le=1, description="chance that the actor's buy orders while accumulating come from its own pace "
        "of buying outside the event (Poisson); an active trader who happened to buy during a swing is not a pumper")


class _Bars(NamedTuple):
    """Bars on a regular clock: each bar's start in microseconds since the epoch, and its close (the price's type; a
    Polars series where the frame's bars may hold a null). Arrays, not a frame: a frame of the bars and reading its
    columns back cost ~0.15 ms a book-day, a tenth of the detector on the bench market's small book-days."""

    us: np.ndarray
    close: np.ndarray | pl.Series

    def at(self, i: int) -> dt.datetime:
        """Bar ``i``'s start as Polars hands a UTC time (its zone a ``ZoneInfo``)."""
        return _POLARS_EPOCH + dt.timedelta(microseconds=int(self.us[i]))


_POLARS_EPOCH = dt.datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


def _bars(t: pl.DataFrame, seconds: int) -> _Bars:
    """Bars on a regular clock (a bar without trades carries the last price on), so that a number of bars is
    a span of time on thin books as on busy ones."""
    ts, price = t["ts"], t["price"]
    if t.height and not ts.null_count() and not price.null_count():
        us = ts.dt.epoch("us").to_numpy()
        if bool((us[1:] >= us[:-1]).all()):  # as ``frame`` hands them
            return _sorted_bars(us, price.to_numpy(), seconds)
    bars = t.sort("ts").group_by_dynamic("ts", every=f"{seconds}s").agg(close=pl.col("price").last())
    if bars.height:
        bars = bars.upsample("ts", every=f"{seconds}s").with_columns(pl.col("close").forward_fill())
    return _Bars(bars["ts"].dt.epoch("us").to_numpy(), bars["close"])


def _sorted_bars(us: np.ndarray, price: np.ndarray, seconds: int) -> _Bars:
    """``_bars`` of trades in time order without nulls, compiled (``_bar_closes``): each bar's close is the price of its
    last trade (the bars of Polars' dynamic grouping start on whole multiples of the bar since the epoch), and a bar
    without trades takes the close before it (a NaN price is a close, as for Polars' forward fill). Polars' sort,
    dynamic grouping, upsampling and fill took 0.13 CPU-s a rep over ten days of the 10M-trade bench market (~0.7 ms a
    book-day, a tenth of the detector); numpy's six passes and temporaries over the trades 0.017, one compiled pass
    0.012 (tests compare the bars with Polars' and numpy's on time ties, NaN prices and gaps)."""
    step = seconds * 1_000_000
    first_bar, rows = _bar_closes(np.ascontiguousarray(us, dtype=np.int64), step)
    return _Bars((first_bar + np.arange(rows.size)) * step, price[rows])


@njit(cache=True, nogil=True)
def _bar_closes(us: np.ndarray, step: int) -> tuple[int, np.ndarray]:
    """The first bar (``us // step``, floored) of trades in time order, and from it the row of each bar's close: its
    last trade, or of a bar without trades the close's before it (rows, not prices: the prices keep their type)."""
    first_bar = us[0] // step
    rows = np.full(us[-1] // step - first_bar + 1, -1, np.int64)
    for i in range(us.shape[0]):
        rows[us[i] // step - first_bar] = i  # the bar's later trades overwrite it: its last trade stays
    for b in range(1, rows.size):
        if rows[b] < 0:
            rows[b] = rows[b - 1]
    return first_bar, rows


def _arrow_bars(trades: pa.Table | None, seconds: int) -> _Bars | None:
    """``_bars`` of the partition's Arrow trades when they stand in the frame's order already (``frames.frame`` sorts
    by time, venue and trade id, and leaves rows in that order as they are), so each bar's close is the same trade's
    price; None (bars of the frame) when they do not, a time, venue, trade id or price is missing, or the times are
    not in microseconds. Converting a book-day to a frame cost ~3 ms, and four book-days in ten have no event."""
    if trades is None or trades.num_rows == 0 or "price" not in trades.column_names:
        return None
    price = trades["price"]
    order = _row_order(trades)
    if order is None or order[1] == _OUT_OF_ORDER or not pa.types.is_floating(price.type) or price.null_count:
        return None
    return _sorted_bars(order[0], price.to_numpy(), seconds)


# How the trades' rows stand (``_row_order``): out of the frame's order; in it (time, venue, trade id); in it, of one
# venue, and no two rows with the same time and trade id (what the owner screen's legs need).
_OUT_OF_ORDER, _IN_ORDER, _ONE_VENUE_STRICT = 0, 1, 2

# The last table's ``_row_order`` (a reference to the table is kept, so its id stays its own): the bars and the
# screen's legs both ask it of one table, and the pass over its strings is the dearer half of each.
_ORDER: dict[int, tuple[pa.Table, tuple[np.ndarray, int] | None]] = {}


def _row_order(trades: pa.Table) -> tuple[np.ndarray, int] | None:
    """The trades' times in microseconds and how their rows stand (``_OUT_OF_ORDER``, ``_IN_ORDER`` or
    ``_ONE_VENUE_STRICT``); None when a time, venue or trade id is missing or the times are not in microseconds."""
    found = _ORDER.get(id(trades))
    if found is not None and found[0] is trades:
        return found[1]
    order = None
    if all(c in trades.column_names for c in ("ts", "venue", "trade_id")):
        ts = trades["ts"]
        if (pa.types.is_timestamp(ts.type) and ts.type.unit == "us"
                and not any(trades[c].null_count for c in ("ts", "venue", "trade_id"))):
            us = ts.cast(pa.int64()).to_numpy()
            buffers = [string_buffers(trades[c].combine_chunks())[:2] for c in ("venue", "trade_id")]
            order = (us, _order_code(us, *buffers[0], *buffers[1]))
    _ORDER.clear()
    _ORDER[id(trades)] = (trades, order)
    return order


@njit(cache=True, nogil=True)
def _order_code(us: np.ndarray, venue_offsets: np.ndarray, venue_bytes: np.ndarray, trade_offsets: np.ndarray,
                trade_bytes: np.ndarray) -> int:
    """``_row_order``'s code, in one pass: rows in order of time, then venue, then trade id (strings compared byte by
    byte, as Polars sorts them), and whether of one venue with no tie in time and trade id."""
    strict = True
    for i in range(1, us.shape[0]):
        if us[i] < us[i - 1]:
            return _OUT_OF_ORDER
        by_venue = compare_strings(venue_offsets, venue_bytes, i - 1, i)
        if us[i] == us[i - 1]:
            by_trade = compare_strings(trade_offsets, trade_bytes, i - 1, i)
            if by_venue > 0 or (by_venue == 0 and by_trade > 0):
                return _OUT_OF_ORDER
            strict = strict and by_venue == 0 and by_trade < 0
        strict = strict and by_venue == 0
    return _ONE_VENUE_STRICT if strict else _IN_ORDER


# A price event as ``_actors`` reads it: accumulation start, peak, end, rise and give-back.
_Event = tuple[dt.datetime, dt.datetime, dt.datetime, float, float]


def _events(part: Partition, bars: _Bars, config: PumpAndDumpConfig) -> list[_Event]:
    """The price events of the bars (``_pumps``) as the spans ``_actors`` reads: accumulation start, peak, end."""
    bar = dt.timedelta(seconds=config.bar_seconds)
    events = [(bars.at(trough) - dt.timedelta(minutes=config.accumulation_minutes), bars.at(peak) + bar,
               bars.at(low) + bar, rise, giveback) for trough, peak, low, rise, giveback in _pumps(bars, config)]
    # An alert ends at its last leg, a trade of the phase (before the event's end): the events that ended before
    # the window give look-back alerts only (``_actors``'s last test), and are not read. Events in the look-back
    # hours of the day before were three in ten of the readings on the 10M-trade bench market.
    return [e for e in events if ends_in_window(part.window, e[2])]


def _bar_sigma(logp: np.ndarray, horizon: int) -> float:
    """Robust volatility per bar, measured on moves over ``horizon`` bars and scaled back by its square root.

    Bar-to-bar moves of a smoothed path are mostly zero (so their MAD is useless) and their spread is bid-ask
    bounce rather than the drift a pump is measured against; moves over a longer horizon are the diffusion."""
    h = max(1, min(horizon, len(logp) // 8))
    moves = logp[h::h] - logp[:-h:h] if len(logp) > h else np.diff(logp)
    if moves.size < 3:
        return 1e-9
    return robust_spread(moves) / math.sqrt(h)


def _pumps(bars: _Bars, config: PumpAndDumpConfig) -> list[tuple[int, int, int, float, float]]:
    """(trough, peak, end) bar indices with rise and give-back, peaks at least a run-up apart."""
    # A rolling median of bar prices: one stray print must not make (or hide) a peak.
    logp = np.log(_smoothed(bars.close, config.smooth_bars))
    n = len(logp)
    if n < 5:
        return []
    sigma = _bar_sigma(logp, max(1, int(config.sigma_minutes * 60 / config.bar_seconds)))
    w = max(1, int(config.pump_minutes * 60 / config.bar_seconds))
    d = max(1, int(config.dump_minutes * 60 / config.bar_seconds))
    logp = np.ascontiguousarray(logp, dtype=np.float64)
    at, by = _scan(logp, sigma, w, d, float(config.min_rise), float(config.rise_sigmas), float(config.plateau),
                   float(config.min_giveback))
    found = [(int(a[0]), int(a[1]), int(a[2]), float(b[0]), float(b[1])) for a, b in zip(at, by, strict=True)]
    return found + _cut_short(logp, sigma, w, d, found, config)


def _smoothed(close: np.ndarray | pl.Series, window: int) -> np.ndarray:
    """The bars' closes through Polars' centred rolling median of ``window`` bars (``min_samples`` 1: fewer at the
    ends), compiled (``_rolling_median``) for an odd window over finite float64 closes: Polars' took 0.10 CPU-s a
    rep over ten days of the 10M-trade bench market (~0.55 ms a book-day, its lazy query's fixed cost), a sixth of
    the detector, this 0.03 (tests compare the two bit for bit). Other closes take Polars' reading."""
    if isinstance(close, pl.Series):
        series, values, float64 = close, close.to_numpy(), close.dtype == pl.Float64
    else:
        series, values, float64 = None, close, close.dtype == np.float64
    if window % 2 and float64 and np.isfinite(values).all():  # a null is NaN in ``values``: Polars' reading
        return _rolling_median(np.ascontiguousarray(values), window // 2)
    series = pl.Series(values) if series is None else series
    return series.rolling_median(window_size=window, min_samples=1, center=True).to_numpy()


@njit(cache=True, nogil=True)
def _rolling_median(x: np.ndarray, half: int) -> np.ndarray:
    """The median of each value's ``half`` neighbours either side and itself (fewer at the ends), of finite values: of
    an even count the lower middle plus half the gap to the upper (Polars' linear interpolation, not their mean,
    which rounds otherwise).

    The window is kept sorted as it slides (the value that leaves taken out, the one that comes in put in after its
    equals): the order a stable sort of each window from scratch gives, so the same values in the same places, to the
    bit. Sorting each window anew took 0.018 CPU-s a rep over ten days of the 10M-trade bench market, sliding it
    0.009; a bar whose incoming close is the leaving one's (flat stretches of a thin book's bars) moves nothing."""
    n = x.shape[0]
    out = np.empty(n)
    window = np.empty(2 * half + 1)
    m = 0
    for k in range(min(n, half + 1)):  # the first value's window
        m = _put_in(window, m, x[k])
    for i in range(n):
        if i:
            leaving, coming = i - 1 - half, i + half
            if leaving >= 0 and coming < n and x[leaving] == x[coming] and x[coming] != 0.0:
                pass  # the same value out and in: equal nonzero floats are the same bits
            else:
                if leaving >= 0:
                    m = _take_out(window, m, x[leaving])
                if coming < n:
                    m = _put_in(window, m, x[coming])
        a, b = window[(m - 1) // 2], window[m // 2]
        out[i] = a if m % 2 else a + (b - a) * 0.5
    return out


@njit(cache=True, nogil=True)
def _put_in(window: np.ndarray, m: int, v: float) -> int:
    """Put ``v`` into the sorted ``window[:m]`` after its equals (as an insertion sort does); the new count."""
    j = m
    while j > 0 and window[j - 1] > v:
        window[j] = window[j - 1]
        j -= 1
    window[j] = v
    return m + 1


@njit(cache=True, nogil=True)
def _take_out(window: np.ndarray, m: int, v: float) -> int:
    """Take the first value equal to ``v`` (of its equals, the one that came in first) out of the sorted
    ``window[:m]``; the new count."""
    j = 0
    while window[j] != v:
        j += 1
    for k in range(j, m - 1):
        window[k] = window[k + 1]
    return m - 1


def _cut_short(logp: np.ndarray, sigma: float, w: int, d: int, found: list[tuple[int, int, int, float, float]],
               config: PumpAndDumpConfig) -> list[tuple[int, int, int, float, float]]:
    """Peaks whose dump window runs past the partition's last bar, judged on the part of the fall the partition
    can see (1.5): a pump distributed late in the day gives back only part of its rise before the day ends, and the
    next day's partition, which sees the rest, leaves the alert to this one (it ends before its window). The
    give-back asked for scales with the share of ``dump_minutes`` left after the top, at least half of
    ``min_giveback``. Events of the full scan keep their place; these fill in only after the last of them."""
    floor = config.min_giveback * config.late_giveback
    if floor >= config.min_giveback:
        return []
    at, by = _scan(logp, sigma, w, d, float(config.min_rise), float(config.rise_sigmas), float(config.plateau),
                   float(floor))
    after = max((e[2] for e in found), default=-1)
    n = logp.size
    extra = []
    for a, b in zip(at, by, strict=True):
        top, giveback = int(a[1]), float(b[1])
        seen = n - 1 - top
        if seen >= d or int(a[0]) <= after:
            continue
        if giveback >= config.min_giveback * max(seen / d, config.late_giveback):
            extra.append((int(a[0]), top, int(a[2]), float(b[0]), giveback))
    return extra


@njit(cache=True, nogil=True)
def _scan(logp: np.ndarray, sigma: float, w: int, d: int, min_rise: float, rise_sigmas: float, plateau: float,
          min_giveback: float) -> tuple[np.ndarray, np.ndarray]:
    """The scan over bars behind ``_pumps``: rows of (trough, top, end) and of (rise, give-back).

    Each bar i is a candidate peak. The run-up may start at any earlier bar: the lowest price of the span can
    lie hours before a steep rise, and judging the rise over all those hours would dilute it. Of the starts
    from which the rise is abnormal for its length, the trough is the last where the price still stood near
    its low (within the plateau share of the largest such rise, as the top is found below). A peak must stand
    above the next quarter run-up of bars, and the fall after it (up to its low before the price climbs again
    by half the rise: a new run-up is another event) must give back ``min_giveback`` of the rise.
    Compiled: a Python loop of small numpy calls over every bar of every book-day was a pump's whole cost.
    The arithmetic is the plain formulation's, operation for operation (tests compare the two)."""
    n = logp.size
    at = np.empty((n, 3), dtype=np.int64)
    by = np.empty((n, 2), dtype=np.float64)
    found = 0
    scale = rise_sigmas * sigma
    # The rise a start ``lag`` bars back must reach, once per lag (the same arithmetic as per start and bar).
    need = np.empty(w + 1, dtype=np.float64)
    for lag in range(w + 1):
        need[lag] = _maximum(min_rise, scale * np.sqrt(float(max(lag, 1))))
    # The lowest price of the run-up's span, kept as bars come in (a queue of rising lows, NaN left out): a bar
    # less than ``min_rise`` above it has no start that rises enough (every need is at least ``min_rise``, or NaN,
    # which no rise meets), so its loops over the span's hundreds of starts are skipped — they were nine tenths
    # of the scan, and the scan a fifth of the detector.
    lows = np.empty(n, dtype=np.int64)
    head = tail = 0
    queued = -1
    i = last_end = 0
    while i < n:
        lo = max(0, i - w, last_end)  # a new run-up starts after the previous collapse, not inside it
        while queued < i:
            queued += 1
            if not np.isnan(logp[queued]):
                while tail > head and logp[lows[tail - 1]] >= logp[queued]:
                    tail -= 1
                lows[tail] = queued
                tail += 1
        while tail > head and lows[head] < lo:
            head += 1
        if tail == head or not logp[i] - logp[lows[head]] >= min_rise or not _is_peak(logp, i, w // 4 + 1, d):
            i += 1
            continue
        best = -np.inf
        any_ok = False
        for k in range(lo, i + 1):
            r = logp[i] - logp[k]
            if r >= need[i - k]:
                any_ok = True
                best = max(best, r)
        if not any_ok:
            i += 1
            continue
        trough = lo
        for k in range(i, lo - 1, -1):  # the last start that passes (``lo`` when none does)
            r = logp[i] - logp[k]
            if r >= need[i - k] and r >= plateau * best:
                trough = k
                break
        rise = logp[i] - logp[trough]
        stop_at = min(n, i + 1 + d)
        j = _collapse_end(logp, i + 1, stop_at, rise)
        giveback = (logp[i] - logp[j]) / rise
        if giveback >= min_giveback:
            # Distribution happens on the top plateau: the phases split where the price first got within
            # reach of the peak, not at the last bar of the plateau.
            top = trough
            for k in range(trough, i + 1):
                if logp[k] >= logp[trough] + plateau * rise:
                    top = k
                    break
            at[found, 0], at[found, 1], at[found, 2] = trough, top, j
            by[found, 0], by[found, 1] = rise, giveback
            found += 1
            i = last_end = j
        i += 1
    return at[:found], by[:found]


@njit(cache=True, nogil=True)
def _is_peak(logp: np.ndarray, i: int, ahead: int, d: int) -> bool:
    """Whether bar ``i`` stands at or above each of the next ``ahead`` bars and has a bar after it within ``d`` to
    fall to: ``_scan``'s peak test, read before the run-up's loops over the span's starts, whose outcome it does not
    need. On a rise most bars are topped by the next one, so those loops (a few hundred starts twice) now run for a
    handful of peaks instead of every bar a rise above ``min_rise``: the book-days' two scans (``_pumps``,
    ``_cut_short``) took 0.038 CPU-s a rep over ten days of the 10M-trade bench market, 0.013 so."""
    n = logp.shape[0]
    if not i + 1 < min(n, i + 1 + d):
        return False
    for k in range(i + 1, min(n, i + 1 + ahead)):  # noqa: SIM110 - a loop, not all() over a generator, in nopython mode
        if not logp[i] >= logp[k]:
            return False
    return True


@njit(cache=True, nogil=True)
def _collapse_end(logp: np.ndarray, a: int, b: int, rise: float) -> int:
    """Index in ``logp[a:b]`` (as an index of ``logp``) where the fall after a peak ends: its low before the
    price climbs again by half the rise."""
    low = logp[a]
    stop = b
    for k in range(a, b):
        low = _minimum(low, logp[k])
        if logp[k] - low >= 0.5 * rise:
            stop = k
            break
    stop = max(stop, a + 1)
    j = a
    for k in range(a, stop):
        if np.isnan(logp[j]):
            break
        if np.isnan(logp[k]) or logp[k] < logp[j]:
            j = k
    return j


# numpy's maximum and minimum: NaN wins (Python's max and min would drop it), as in the plain formulation.
@njit(cache=True, nogil=True)
def _maximum(a: float, b: float) -> float:
    return a if np.isnan(a) or a >= b else b


@njit(cache=True, nogil=True)
def _minimum(a: float, b: float) -> float:
    return a if np.isnan(a) or a <= b else b


# The last listings read, keyed by the broadcast announcements table they came from and the symbol (a reference
# to the table is kept, so its id stays its own). Every partition of a runner's task is handed the same table, and
# converting it again for each pump reading cost ~1.5 ms, a tenth of a reading on the 10M-trade bench market.
def _listing_times(part: Partition, symbol: str | None) -> np.ndarray:
    """Times of the symbol's listing announcements on any venue, ascending."""
    return listings(part, symbol)["ts"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")


def _off_news(part: Partition, symbol: str | None, per: pl.DataFrame) -> pl.DataFrame:
    """Drop the owners whose turn straddles a listing announcement of the symbol: it stopped buying before the news
    and began selling after it. Its position turned on the news, as an insider's does, not on a run-up of its own
    making (a pump ring sells from the top of its own build-up, news or none)."""
    listed = _listing_times(part, symbol)
    if listed.size == 0 or per.height == 0:
        return per
    turn = per["turn"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    sale = per["sale"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
    # the first announcement after the turn, and whether it came before the first sale
    nxt = np.searchsorted(listed, turn, side="right")
    news = np.where(nxt < listed.size, listed[np.minimum(nxt, listed.size - 1)], np.datetime64("NaT"))
    off = ~np.isnat(sale) & ~np.isnat(news) & (news <= sale)
    return per.filter(pl.Series(~off, dtype=pl.Boolean))


def _sellers(phase: pl.DataFrame, least: float) -> pl.Series | None:
    """The owners that sold at least ``least`` over the phase (less a rounding slack far below a unit): what an
    owner sold off from its high is at most all it sold there, so no other owner can pass the share test of
    ``_actors``, and the other owners' positions need not be run (running every owner's position was a fifth of
    the detector; a pump's phase has a few hundred owners and one or two such sellers). None (read them all)
    when a quantity is not finite."""
    gross = float(phase["q"].abs().sum())
    if not math.isfinite(gross):
        return None
    # bounds the rounding of the positions' running sums and of this sum (a relative 1e-16 per addition)
    slack = 1e-8 * gross
    return phase.filter(pl.col("q") < 0).group_by("owner").agg(sold=-pl.col("q").sum()) \
        .filter(pl.col("sold") >= least - slack)["owner"]


def _positions(mine: pl.DataFrame, least: float, config: PumpAndDumpConfig) -> pl.DataFrame:
    """Each owner of ``mine`` (every leg of the phase of the owners it holds) with its turn: its net position's high
    over the event (``bought``, at ``turn``) and what it sold off from that high, with the legs of its accumulation
    (its buys up to its turn: the ``first`` one's time and their distinct orders, ``buys``) and its first ``sale``
    after the turn; the owners that pass the actor tests that need nothing else (an owner with too few buy orders
    fails ``_campaigns`` as it would after ``_off_news``, which only drops owners), by what they bought."""
    turn = pl.col("ts").get(pl.col("pos").arg_max())
    legs = (pl.col("q") > 0) & (pl.col("ts") <= turn)
    # The accumulation's legs and the first sale are read in the one pass over the owners' positions: joining the
    # phase to the turns and grouping it again for each was eight Polars steps, ~0.5 ms a reading (~130 readings in
    # ten days of the 10M-trade bench market), and the test of the orders here leaves a third of them no actors.
    return mine.sort("ts", "trade_id").with_columns(pos=pl.col("q").cum_sum().over("owner")) \
        .group_by("owner").agg(
            bought=pl.col("pos").max(), turn=turn,
            low=pl.col("pos").slice(pl.col("pos").arg_max()).min(),
            gross_in=pl.col("q").abs().slice(0, pl.col("pos").arg_max() + 1).sum(),
            gross_out=pl.col("q").abs().slice(pl.col("pos").arg_max() + 1).sum(),
            first=pl.col("ts").filter(legs).min(), buys=pl.col("order").filter(legs).n_unique(),
            sale=pl.col("ts").filter((pl.col("q") < 0) & (pl.col("ts") > turn)).min(),
        ).with_columns(sold=pl.col("bought") - pl.col("low")) \
        .filter((pl.col("sold") >= least)
                & (pl.col("sold") >= config.min_resold * pl.col("bought"))
                # one-way: it accumulated and then unloaded; a busy two-way trader's position drifts
                & (pl.col("bought") >= config.min_directional * pl.col("gross_in"))
                & (pl.col("sold") >= config.min_directional * pl.col("gross_out"))
                & (pl.col("buys") >= config.min_member_orders)) \
        .sort(["bought", "owner"], descending=[True, False])


class _Legs(NamedTuple):
    """A book-day's trades as ``_may_alert`` reads them: in the frame's row order, without the trades between two
    accounts of one owner (as the kernel's ``flows``); per trade its time (microseconds), quantity, the codes of its
    buyer's and seller's owners (``n_owners`` codes) and its row in the table; the columns that name its buy order (its
    order id, then its trade id: the first that is there), and the data's span in seconds (``total_s``, as
    ``_campaigns`` reads it)."""

    us: np.ndarray
    q: np.ndarray
    buyer: np.ndarray
    seller: np.ndarray
    rows: np.ndarray
    order_ids: tuple[pa.ChunkedArray, ...]
    total_s: float
    n_owners: int


def _screened(part: Partition, trades: pa.Table, events: list[_Event], config: PumpAndDumpConfig) -> list[_Event]:
    """The events that may give an alert (``_may_alert``); all of them when the screen cannot read the trades."""
    legs = _arrow_legs(part, trades)
    return events if legs is None else [e for e in events if _may_alert(legs, e, config)]


def _arrow_legs(part: Partition, trades: pa.Table) -> _Legs | None:
    """The partition's Arrow trades as ``_may_alert`` reads them; None (every event takes the full path) when a column
    is missing, of another type or holds a null, a quantity is not finite and positive (the legs' sides are then read
    off the sign of ``q``), the rows are not of one venue in strict order of time and trade id (each owner's legs then
    stand in the order ``_positions`` sorts them in), or the owner map cannot be read (``owner_keys``)."""
    text = ("venue", "trade_id", "buyer", "seller", *[c for c in ("buy_order_id",) if c in trades.column_names])
    if any(c not in trades.column_names for c in (*text, "ts", "quantity")):
        return None
    ts, qty = trades["ts"], trades["quantity"]
    if (any(trades[c].type != pa.string() for c in text) or qty.type != pa.float64()
            or not pa.types.is_timestamp(ts.type) or ts.type.unit != "us"
            or any(trades[c].null_count for c in (*text[:4], "ts", "quantity"))):
        return None
    q, order = qty.to_numpy(), _row_order(trades)
    if order is None or order[1] != _ONE_VENUE_STRICT or not (np.isfinite(q).all() and (q > 0).all()):
        return None
    us = order[0]
    venue = str(part.key["venue"]) if "venue" in part.key else str(trades["venue"][0].as_py())
    # each leg's owner, numbered densely (the map's owners are ~20k, a book-day's a few thousand, and arrays per owner
    # are made per event); shared with the other screens of the book-day (``leg_owners``)
    owners = leg_owners(part, venue) if part.tables.get("trades") is trades else None
    if owners is None:
        return None
    buyer, seller, n_owners = owners
    rows = np.flatnonzero(buyer != seller)
    total_s = max((int(us[rows[-1]]) - int(us[rows[0]])) / 1e6, 1.0) if rows.size else 1.0
    return _Legs(us[rows], q[rows], buyer[rows], seller[rows], rows,
                 tuple(trades[c] for c in text[4:] + text[1:2]), total_s, n_owners)


def _may_alert(legs: _Legs, event: _Event, config: PumpAndDumpConfig) -> bool:
    """Whether some owner may pass ``_actors``' tests of each owner on the event's phase (``_campaign_owners``), and
    some group of them its tests of the group's buying and selling (``_group_may_pass``).

    The group's tests are asked first of the owners that pass the tests that need no order ids (``_sharers``): they
    hold the owners that pass them all, and a group test that no group of more owners passes no group of fewer
    passes (``_group_may_pass``). Coding the buy orders was a third of this screen; of the 95 events over ten days of
    the 10M-trade bench market that came to it, this leaves 12 to code. With ``_accumulations`` the screen took
    0.050 CPU-s a rep there before, 0.029 now."""
    found = _sharers(legs, event, config)
    if found is None or not _group_may_pass(legs, found.campaign, config):
        return False
    paced = _paced_owners(legs, found, config)
    return paced is not None and _group_may_pass(legs, paced, config)


class _Campaign(NamedTuple):
    """What ``_campaign`` read of an event's phase (the legs' rows ``lo`` to ``hi``): the codes of the ``owners`` that
    may pass ``_actors``' tests of each owner and, per owner code, its high (``bought``), what it sold off from it
    (``sold``), its turn's time (microseconds) and the market's buying from its first buy to its turn (``market``);
    the phase's cumulative buying (``cum``, from 0) and the hair its sums are loosened by."""

    owners: np.ndarray
    bought: np.ndarray
    sold: np.ndarray
    turn_us: np.ndarray
    market: np.ndarray
    lo: int
    hi: int
    cum: np.ndarray
    hair: float


def _campaign_owners(legs: _Legs, event: _Event, config: PumpAndDumpConfig) -> np.ndarray:
    """The codes of the owners that may pass ``_actors``' tests of each owner (``_campaign``)."""
    found = _campaign(legs, event, config)
    return np.zeros(0, np.int64) if found is None else found.owners


def _campaign(legs: _Legs, event: _Event, config: PumpAndDumpConfig) -> _Campaign | None:
    """The codes of the owners that may pass ``_actors``' tests of each owner — ``_positions``' turn and one-way tests
    and ``_campaigns``' orders, share and pace — on the event's phase, read on codes in the trades' row order: one is
    a necessary condition for an alert. Of the 134 events over ten days of the 10M-trade bench market, 114 have no
    such owner, and they cost ~10 ms each in Polars. The positions are the same running sums (so the same turns, buy
    orders and paces); the sums that Polars adds in another order (volumes, gross trading, the market's buying) are
    loosened by a hair of the phase's volume, far above their rounding."""
    found = _sharers(legs, event, config)
    return None if found is None else _paced_owners(legs, found, config)


class _Sharers(NamedTuple):
    """What ``_sharers`` read: the ``campaign`` of the owners that pass the tests that need no order ids, and per owner
    code the time of its first buy in its accumulation (``first_at``)."""

    campaign: _Campaign
    first_at: np.ndarray


def _sharers(legs: _Legs, event: _Event, config: PumpAndDumpConfig) -> _Sharers | None:
    """``_campaign``'s owners before its test of their orders: those that pass the turn and one-way tests, have enough
    buy legs in their accumulation (each leg is at most one more order) and a large enough share of the market's
    buying from their first buy to their turn; None without one."""
    start, peak, end = (micros(t) for t in event[:3])
    lo, mid, hi = np.searchsorted(legs.us, [start, peak, end])
    if not lo < mid < hi:
        return None  # no buying before the peak, or none after it (every quantity is positive)
    phase = slice(lo, hi)
    us, q = legs.us[phase], legs.q[phase]
    hair = 1e-8 * float(q.sum())
    high, turn, sold = _one_way_owners(q, legs.buyer[phase], legs.seller[phase], legs.n_owners, int(mid - lo), hair,
                                       config)
    if turn.max(initial=-1) < 0:
        return None
    # each passing owner's buy legs in its accumulation (up to its turn's time, ties with the turn in): how many, and
    # the first one's time
    turn_us = np.where(turn >= 0, us[np.maximum(turn, 0)], np.iinfo(np.int64).min)
    legs_in, first_at = _accumulations(us, legs.buyer[phase], turn_us)
    # its share of the market's buying from its first buy to its turn (``_campaigns``)
    cum = np.concatenate([[0.0], np.cumsum(q)])
    market = cum[np.searchsorted(us, turn_us, side="right")] - cum[np.searchsorted(us, first_at)]
    # Its buy legs bound its distinct buy orders: the owners with too few legs or too small a share are dropped
    # before the orders are coded (that coding was ~0.15 ms an event, and these tests leave few owners to code).
    ok = ((turn >= 0) & (legs_in >= config.min_member_orders)
          & (high + hair >= config.min_member_share * (market - hair)))
    if not ok.any():
        return None
    return _Sharers(_Campaign(np.flatnonzero(ok), high, sold, turn_us, market, int(lo), int(hi), cum, hair), first_at)


@njit(cache=True, nogil=True)
def _accumulations(us: np.ndarray, buyer: np.ndarray, turn_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per owner code, its buy legs among the phase's trades (times ``us``, bought by ``buyer``) up to its turn's time
    (``turn_us``; the least integer for an owner without a turn, which has none), and the first one's time (0
    without one). One pass over the phase's legs: numpy's reading of each owner's legs made a dozen temporaries of
    the data's ~10k legs an event."""
    count = np.zeros(turn_us.size, np.int64)
    first_at = np.zeros(turn_us.size, np.int64)
    for r in range(us.shape[0]):
        o = buyer[r]
        if us[r] <= turn_us[o]:
            if count[o] == 0:
                first_at[o] = us[r]
            count[o] += 1
    return count, first_at


def _paced_owners(legs: _Legs, found: _Sharers, config: PumpAndDumpConfig) -> _Campaign | None:
    """``_campaign``'s owners: of ``found``'s, those with enough distinct buy orders in their accumulation, placed at a
    pace their buying elsewhere does not explain (``_paced``); None without one."""
    campaign, first_at = found
    n_owners, owners, turn_us = campaign.bought.size, campaign.owners, campaign.turn_us
    # their buy legs over the data, and which are of their accumulation (as ``_accumulations`` counts them)
    mine = np.flatnonzero(np.isin(legs.buyer, owners))
    owner = legs.buyer[mine]
    early = (mine >= campaign.lo) & (mine < campaign.hi) & (legs.us[mine] <= turn_us[owner])
    order = _order_codes(legs, mine)
    all_buys = _distinct_per_owner(owner, order, n_owners)
    buys = _distinct_per_owner(owner[early], order[early], n_owners)
    owners = owners[buys[owners] >= config.min_member_orders]
    paced = [_paced(int(buys[o]), (int(turn_us[o]) - int(first_at[o])) // 1_000_000, int(all_buys[o] - buys[o]),
                    legs.total_s, config) for o in owners]
    owners = owners[np.array(paced, np.bool_)] if owners.size else owners
    return campaign._replace(owners=owners) if owners.size else None


def _group_may_pass(legs: _Legs, found: _Campaign, config: PumpAndDumpConfig) -> bool:
    """Whether some group of the ``found`` owners may pass ``_actors``' tests of the group: its buying ``min_share`` of
    the market's over the span it bought in (its first buy to its last turn), and its selling of the market's buying
    over the span it sold in (its first turn to its last sale after a turn). Of the 20 events over ten days of the
    10M-trade bench market whose owners pass ``_campaign``, all 20 fail these tests, at ~10 ms each in Polars:
    stopping them here took the detector from 0.73 to 0.52 CPU-s.

    Bounds, for any group: its span holds each member's own span, so the market's buying over it is at least the
    largest of the members' own (from its first buy to its turn, ``market``; from its turn to its last sale after it,
    nothing without one), and the group (``_actors``' ``per``, owners among ``found``'s) bought or sold at most what
    the owners whose own span's buying is no larger than that did together. So some prefix of the owners, in order of
    their own span's buying, must pass each test (the two are read apart: looser still)."""
    owners, hair = found.owners, found.hair
    if not _prefix_may_pass(np.maximum(found.bought[owners], 0.0), found.market[owners], hair, config.min_share):
        return False  # the buying test, before the sales are read for the selling test (fails 37 of 95 here)
    us = legs.us[found.lo:found.hi]
    turn_us = found.turn_us[owners]
    # each owner's last sale in the phase, and the market's buying after its turn up to it (ties with the turn out)
    seller = legs.seller[found.lo:found.hi]
    rows = np.flatnonzero(np.isin(seller, owners))
    last = np.full(found.bought.size, -1, np.int64)
    np.maximum.at(last, seller[rows], rows)
    sale = np.where(last[owners] >= 0, us[np.maximum(last[owners], 0)], np.iinfo(np.int64).min)
    after = found.cum[np.searchsorted(us, sale, side="right")] - found.cum[np.searchsorted(us, turn_us, side="right")]
    selling = np.where(sale > turn_us, after, 0.0)
    return _prefix_may_pass(np.maximum(found.sold[owners], 0.0), selling, hair, config.min_share)


def _prefix_may_pass(mine: np.ndarray, market: np.ndarray, hair: float, min_share: float) -> bool:
    """Whether the owners' quantities (``mine``, none negative), summed in order of their ``market`` bound, reach
    ``min_share`` of the bound at some owner (loosened by ``hair``)."""
    by = np.argsort(market, kind="stable")
    return bool((np.cumsum(mine[by]) + hair >= min_share * (market[by] - hair)).any())


def _one_way_owners(q: np.ndarray, buyer: np.ndarray, seller: np.ndarray, n_owners: int, peak: int, hair: float,
                    config: PumpAndDumpConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per owner code, its high over the phase's trades (``q``; the first ``peak`` before the price's peak), the row
    of its turn, -1 for an owner that fails ``_positions``' tests of what it sold and of trading one way (loosened by
    ``hair``), and what it sold off from its high."""
    high, turn, low, gross_in, gross = _turns(q, buyer, seller, n_owners)
    high = np.where(turn >= 0, high, 0.0)  # an owner without legs here has no high (and no inf to multiply)
    sold = high - low
    least = config.min_member_share * float(q[peak:].sum()) - hair
    ok = ((sold + hair >= least) & (sold + hair >= config.min_resold * high)
          & (high + hair >= config.min_directional * gross_in)
          & (sold + hair >= config.min_directional * (gross - gross_in)))
    return high, np.where(ok, turn, -1), sold


def _order_codes(legs: _Legs, at: np.ndarray) -> np.ndarray:
    """The buy orders of the legs ``at`` as exact codes: each leg's order id, or its trade id without one (as the
    kernel's ``flows``). Read for the few owners left, not every leg (the data's ~10k ids took ~0.7 ms to code)."""
    rows = pa.array(legs.rows[at])
    ids = [c.take(rows) for c in legs.order_ids]
    coded = dictionary_codes(pc.coalesce(*ids) if len(ids) > 1 else ids[0])
    return coded.indices.to_numpy().astype(np.int64)


def _distinct_per_owner(owner: np.ndarray, order: np.ndarray, n_owners: int) -> np.ndarray:
    """Per owner code, the distinct order codes among its legs."""
    pairs = np.unique(owner * (int(order.max(initial=0)) + 1) + order)
    return np.bincount(pairs // (int(order.max(initial=0)) + 1), minlength=n_owners)


def _paced(buys: int, seconds: int, elsewhere: int, total_s: float, config: PumpAndDumpConfig) -> bool:
    """``_campaigns``' pace test of an owner's ``buys`` orders in the whole ``seconds`` from its first buy to its turn,
    with ``elsewhere`` buy orders over the rest of the data's ``total_s``: the same arithmetic, and a hair of slack
    on the chance."""
    leg_s = float(max(seconds, 1))
    pace = elsewhere * leg_s / max(total_s - leg_s, leg_s)
    return poisson_tail(buys, pace) <= config.max_coincidence * (1 + 1e-9) + 1e-15


@njit(cache=True, nogil=True)
def _turns(q: np.ndarray, buyer: np.ndarray, seller: np.ndarray, n_owners: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each owner's net position over the trades ``q`` (bought by ``buyer``'s owner, sold by ``seller``'s, in order),
    as ``_positions`` runs it: Polars' cum_sum is a plain running sum, so the same sums. Per owner its high, the row
    where it first stood there (its turn; -1 without legs), its low from then on, and its gross trading up to and
    including that row and in all."""
    pos = np.zeros(n_owners)
    high = np.full(n_owners, -np.inf)
    low = np.zeros(n_owners)
    turn = np.full(n_owners, -1, np.int64)
    gross_in = np.zeros(n_owners)
    gross = np.zeros(n_owners)
    for i in range(q.shape[0]):
        for side in range(2):
            o = buyer[i] if side == 0 else seller[i]
            pos[o] += q[i] if side == 0 else -q[i]
            gross[o] += q[i]
            if pos[o] > high[o]:
                high[o], turn[o], low[o], gross_in[o] = pos[o], i, pos[o], gross[o]
            elif pos[o] < low[o]:
                low[o] = pos[o]
    return high, turn, low, gross_in, gross


def _distinct(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One alert per campaign: a price event of one book-day whose actors are all among a stronger event's and
    whose span overlaps it is the same accumulation and distribution read twice (a dent at the top splits one
    rise into two peaks). A reading that brings actors of its own is another campaign (a second ring may
    start while the first is still selling) and is kept."""
    kept: list[dict[str, Any]] = []
    for alert in sorted(alerts, key=lambda a: -float(a["score"])):
        if not any(set(alert["accounts"]) <= set(k["accounts"]) and alert["start"] <= k["end"]
                   and k["start"] <= alert["end"] for k in kept):
            kept.append(alert)
    return sorted(kept, key=lambda a: a["start"])


class PumpAndDumpDetector(Detector[PumpAndDumpConfig]):
    name = "pump_and_dump"
    version = "1.5"
    typology = "pump_and_dump"
    config_model = PumpAndDumpConfig
    description = "Abnormal run-up and collapse with owners who bought before the peak and sold after it."

    def describe(self, config: PumpAndDumpConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("venue", "symbol", "date"),
                        lookback=dt.timedelta(minutes=config.accumulation_minutes + config.pump_minutes),
                        columns={"trades": TRADE_COLUMNS, "accounts": ("venue", "account", "customer_id"),
                                 "announcements": ("venue", "symbol", "ts", "kind")},
                        broadcast=("accounts", "announcements"))

    def kernel(self, part: Partition, config: PumpAndDumpConfig) -> pa.Table:
        out = AlertBuilder(self)
        arrow = part.tables.get("trades")
        if arrow is not None and arrow.num_rows < 10:
            return out.to_table()
        bars = _arrow_bars(arrow, config.bar_seconds)
        events = None if bars is None else _events(part, bars, config)
        if events and arrow is not None:
            events = _screened(part, arrow, events, config)
        if events == []:
            return out.to_table()  # before the frame: four book-days in ten have no event, and most others none
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height < 10:
            return out.to_table()
        venue, symbol = part_venue(part, trades), part_symbol(part, trades)
        if events is None:
            events = _events(part, _bars(trades, config.bar_seconds), config)
        if not events:
            return out.to_table()
        owners = owner_map(part, venue)
        t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s") \
            .filter(pl.col("owner_b") != pl.col("owner_s"))
        # One order is one decision however many fills it took (trade ids stand in without order ids).
        buy_order, sell_order = (pl.coalesce(pl.col(c), pl.col("trade_id")) if c in t.columns else pl.col("trade_id")
                                 for c in ("buy_order_id", "sell_order_id"))
        flows = pl.concat([t.select("ts", "trade_id", "price", "quantity", account="buyer", owner="owner_b",
                                    q="quantity", order=buy_order),
                           t.select("ts", "trade_id", "price", "quantity", account="seller", owner="owner_s",
                                    q=-pl.col("quantity"), order=sell_order)])
        found: list[dict[str, Any]] = []
        for t_start, t_peak, t_end, rise, giveback in events:
            alert = self._actors(part, flows, venue, symbol, (t_start, t_peak, t_end), rise, giveback, config)
            if alert is not None:
                found.append(alert)
        for alert in _distinct(found):
            out.add(**alert)
        return out.to_table()

    def _actors(self, part: Partition, flows: pl.DataFrame, venue: str, symbol: str | None,
                span: tuple[dt.datetime, dt.datetime, dt.datetime], rise: float, giveback: float,
                config: PumpAndDumpConfig) -> dict[str, Any] | None:
        t_start, t_peak, t_end = span
        # Times are literals made from their microseconds (``instant``).
        phase = flows.filter((pl.col("ts") >= instant(t_start)) & (pl.col("ts") < instant(t_end))).with_columns(
            up=pl.col("ts") < instant(t_peak))
        vol = phase.filter(pl.col("q") > 0).group_by("up").agg(v=pl.col("quantity").sum())
        up, v = vol["up"].to_numpy(), vol["v"].to_numpy()  # a row a side: its sum is its value
        vol_up, vol_down = float(v[up].sum()), float(v[~up].sum())
        if vol_up <= 0 or vol_down <= 0:
            return None
        # Each owner's own turn: its net position's high over the event (what it accumulated) and what it
        # sold off from that high. Reading the turn from the owner, not from the price peak, keeps the
        # pumpers' own selling (which dents the price at the top) from splitting their phases wrongly.
        # Market makers sell into a pump and buy back after it, so their position has no such hump.
        sellers = _sellers(phase, config.min_member_share * vol_down)
        if sellers is not None and sellers.len() == 0:
            return None  # no owner passes the first test below: no actors
        mine = phase if sellers is None else phase.filter(pl.col("owner").is_in(sellers.implode()))
        per = _positions(mine, config.min_member_share * vol_down, config)
        if per.height == 0:
            return None  # no actors (both readings below only drop owners)
        per = self._campaigns(flows, phase, _off_news(part, symbol, per), config)
        if per.height == 0:
            return None
        # The group's buying is weighed against the market's over the span it bought in (its first buy to its
        # last turn), not the whole look-back: hours of ordinary trading before the pump do not dilute it.
        vol_up = float(phase.filter((pl.col("q") > 0) & pl.col("ts").is_between(
            instant(as_dt(per["first"].min())), instant(as_dt(per["turn"].max()))))["quantity"].sum())
        ev = phase.join(per.select("owner", "turn"), on="owner")
        ev = ev.filter(((pl.col("ts") <= pl.col("turn")) & (pl.col("q") > 0))
                       | ((pl.col("ts") > pl.col("turn")) & (pl.col("q") < 0)))
        # Likewise its selling against the market's over the span it sold in (its first turn to its last sale):
        # the price's slide may go on for hours after the group has unloaded, and those hours' volume is not
        # the buying the group sold into.
        sells = ev.filter(pl.col("q") < 0)
        if sells.height:
            vol_down = float(phase.filter((pl.col("q") > 0) & pl.col("ts").is_between(
                instant(as_dt(per["turn"].min())), instant(as_dt(sells["ts"].max())), closed="right"))
                ["quantity"].sum())
        if float(per["bought"].sum()) < config.min_share * vol_up \
                or float(per["sold"].sum()) < config.min_share * vol_down:
            return None
        accounts = sorted(ev["account"].unique().to_list())
        if len(accounts) < config.min_accounts:
            return None
        start, end = as_dt(ev["ts"].min()), as_dt(ev["ts"].max())
        if not ends_in_window(part.window, end):
            return None
        bought, sold = float(per["bought"].sum()), float(per["sold"].sum())
        return dict(venue=venue, symbol=symbol, accounts=accounts, start=start, end=end,
             score=clip01(0.5 + 0.25 * giveback + 2 * rise),
             evidence_ids=ev["trade_id"].to_list(),
             explanation=(f"{symbol} rose {math.expm1(rise):.1%} to a peak at {fmt_time(as_dt(t_peak))} and gave "
                          f"back {giveback:.0%} of it; account(s) {names(accounts)} bought {fmt_qty(bought)} "
                          f"units ({bought / vol_up:.0%} of buying) before the peak and sold {fmt_qty(sold)} "
                          f"({sold / vol_down:.0%} of selling) after it."))

    @staticmethod
    def _campaigns(flows: pl.DataFrame, phase: pl.DataFrame, per: pl.DataFrame,
                   config: PumpAndDumpConfig) -> pl.DataFrame:
        """Keep the owners whose accumulation was a campaign: a material share of the market's buying from its
        own first buy to its turn, in several orders, at a pace its buying outside the event does not explain.
        ``per`` holds owners with enough buy orders, and the ``first`` one's time and their count (``buys``)
        (``_positions``)."""
        # The market's buying from each owner's first buy to its turn, read first: the owners whose share of it is
        # too small need not have their orders over the whole data counted (on the 10M-trade bench market half the
        # owners left here fail it, and a third of the readings end here).
        buys = phase.filter(pl.col("q") > 0).sort("ts")
        cum = np.concatenate([[0.0], np.cumsum(buys["quantity"].to_numpy())])
        ts = buys["ts"].to_numpy()
        market = np.maximum(cum[np.searchsorted(ts, per["turn"].to_numpy(), side="right")]
                            - cum[np.searchsorted(ts, per["first"].to_numpy(), side="left")], 1e-12)
        share = [float(b) >= config.min_member_share * float(m) for b, m in zip(per["bought"], market, strict=True)]
        per = per.filter(pl.Series(share, dtype=pl.Boolean))
        if per.height == 0:
            return per
        # Its own pace of buy orders over the rest of the data (the partition and its look-back).
        all_buys = flows.filter(pl.col("q") > 0).join(per.select("owner"), on="owner") \
            .group_by("owner").agg(all_buys=pl.col("order").n_unique())
        total_s = max((as_dt(flows["ts"].max()) - as_dt(flows["ts"].min())).total_seconds(), 1.0)
        per = per.join(all_buys, on="owner").sort(["bought", "owner"], descending=[True, False]) \
            .with_columns(leg_s=((pl.col("turn") - pl.col("first")).dt.total_seconds()).clip(lower_bound=1.0))
        per = per.with_columns(pace=(pl.col("all_buys") - pl.col("buys")) * pl.col("leg_s")
                               / (total_s - pl.col("leg_s")).clip(lower_bound=pl.col("leg_s")))
        keep = [poisson_tail(int(n), float(lam)) <= config.max_coincidence
                for n, lam in zip(per["buys"], per["pace"], strict=True)]
        return per.filter(pl.Series(keep, dtype=pl.Boolean)).head(config.max_group)


DETECTOR = register(PumpAndDumpDetector())
