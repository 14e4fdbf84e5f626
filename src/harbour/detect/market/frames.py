"""Shared building blocks of the market-abuse kernels: partition tables as Polars frames, beneficial
ownership (accounts of one customer are one owner), and turning candidate rows into alerts.

Kernels stay vectorised: Polars/DuckDB do the work over whole partitions; Python only loops over the
handful of *candidate* incidents that survive the filters, to write their explanation sentences.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Iterable, Sequence
from functools import reduce
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from harbour.data.row_order import runs_in_key_order
from harbour.data.schemas import ACCOUNTS, ANNOUNCEMENTS, ORDERS, TRADES
from harbour.detect.framework import Partition, Window
from harbour.detect.market.owner_keys import account_owners, dense_codes, owner_lookup, owner_names

_EMPTY = {"trades": TRADES, "orders": ORDERS, "accounts": ACCOUNTS, "announcements": ANNOUNCEMENTS}
UTC = dt.UTC
# Order events are only ever aggregated per order or per time bucket, so their row order cannot matter and
# sorting millions of them would be wasted; trades feed "last price" logic and are sorted.
_TIEBREAK = {"trades": ("venue", "trade_id"), "announcements": ("venue", "symbol", "kind", "headline")}


# The trades projection of every venue-symbol-day kernel: one projection, so the runner hands them one table and
# ``frame`` and ``with_owner`` convert it and look its owners up once for all of them.
TRADE_COLUMNS: tuple[str, ...] = tuple(TRADES.names)
# Likewise the order events of the kernels that read them (spoofing, layering, front running, momentum ignition),
# and the columns of their placements (``placements``), converted once for all of them.
ORDER_COLUMNS: tuple[str, ...] = tuple(ORDERS.names)
PLACEMENT_COLUMNS = ("order_id", "account", "ts", "event", "side", "order_type", "price", "quantity")


def frame(part: Partition, table: str, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """A partition table (or broadcast table) as a Polars frame; an empty frame with the contract's
    columns when the runner did not supply it (a venue without order data, say).

    Kernels that run on one partition in one read and were handed the same Arrow table (the runner hands one
    object per projection) share one conversion through ``Partition.shared``: the frame depends on nothing
    else, and Polars frames are never changed in place."""
    arrow = part.tables.get(table)
    if arrow is None:
        arrow = part.broadcast.get(table)
    if arrow is None:
        arrow = _EMPTY[table].empty_table()
    key = ("frames.frame", table, id(arrow), None if columns is None else tuple(columns))
    found = part.shared.get(key)
    if found is None or found[1] is not arrow:
        whole = _whole_frame(part, arrow, table)
        picked = whole if columns is None else whole.select([c for c in columns if c in whole.columns])
        found = (picked, arrow)  # the table stays alive, so its id stays its own
        part.shared[key] = found
    df: pl.DataFrame = found[0]
    return df


def _whole_frame(part: Partition, arrow: pa.Table, table: str) -> pl.DataFrame:
    """Every column of ``arrow`` as a frame, converted once per table object: kernels asking for different
    columns of it select from the one conversion."""
    key = ("frames.frame.whole", table, id(arrow))
    found = part.shared.get(key)
    if found is None or found[1] is not arrow:
        found = (_frame(arrow, table), arrow)
        part.shared[key] = found
    df: pl.DataFrame = found[0]
    return df


def _frame(arrow: pa.Table, table: str) -> pl.DataFrame:
    df = pl.from_arrow(arrow)
    assert isinstance(df, pl.DataFrame)
    if "ts" in df.columns:
        # Cast keeps every kernel on one time unit and zone, whatever unit a source wrote; the sort gives
        # every kernel one canonical row order, so alerts never depend on how a runner or source ordered rows.
        df = df.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
        if table in _TIEBREAK:
            order = ["ts"] + [c for c in _TIEBREAK[table] if c in df.columns]
            if not _arrow_in_order(arrow, order) and not _in_order(df, order):
                df = df.sort(order, nulls_last=True, maintain_order=True)
    return df


def _arrow_in_order(arrow: pa.Table, order: list[str]) -> bool:
    """Whether the rows stand in ``order`` (time first), told on the Arrow table in compiled passes (as the runner
    checks a lake file's rows): times in microseconds ascending, and the rows that share a time in key order.
    False when unsure (another time unit, whose cast may make new ties; a null): ``_in_order`` then decides. The
    frame's check compared every row's keys with the row before through Polars, ~0.47 ms of a bench partition's
    trades; this ~0.05."""
    ts = arrow.column(order[0])
    if not pa.types.is_timestamp(ts.type) or ts.type.unit != "us" or ts.null_count:
        return False
    t = pc.cast(ts, pa.int64()).to_numpy()
    if (t[1:] < t[:-1]).any():
        return False
    ties = np.flatnonzero(t[1:] == t[:-1])
    return ties.size == 0 or len(order) == 1 or runs_in_key_order(arrow, order[1:], ties)


def _in_order(df: pl.DataFrame, order: list[str]) -> bool:
    """Whether the rows already stand in ``order`` (ascending, no nulls), as both runners hand them: then the
    stable sort would return them as they are, and checking costs less than sorting (4.8 ms against 6.8 ms over
    12 partitions of the 1M-trade bench market)."""
    if df.height < 2:
        return True
    if any(df[c].null_count() for c in order):
        return False
    # row >= the row before it, key by key (lexicographic)
    expr: pl.Expr | None = None
    for c in reversed(order):
        cur, prev = pl.col(c), pl.col(c).shift(1)
        expr = (cur >= prev) if expr is None else ((cur > prev) | ((cur == prev) & expr))
    assert expr is not None
    return bool(df.select(expr.slice(1).all()).item())


# The last owner maps built, keyed by the broadcast accounts table they came from (a reference to the table
# is kept, so its id stays its own). Every partition of a runner's task is handed the same table, and turning
# it into a frame and filtering it cost as much as some kernels' own work on a small partition.
_OWNERS: dict[tuple[int, str | None], tuple[pl.DataFrame, Any]] = {}


def owner_map(part: Partition, venue: str | None = None) -> pl.DataFrame:
    """account → owner, where owner is ``customer_id`` when the accounts table knows the account.

    Accounts of one customer are one beneficial owner: trades between them change nothing. With
    ``venue`` the map is for that venue's accounts; without it the key is ``venue:account`` so that
    one customer's accounts on several venues share an owner (cross-venue detectors). Built once per
    broadcast accounts table and venue; results are the same either way.
    """
    table = part.broadcast.get("accounts")
    if table is None or "accounts" in part.tables:
        return _owner_map(part, venue)
    key = (id(table), venue)
    found = _OWNERS.get(key)
    if found is None or found[1] is not table:
        if len(_OWNERS) > 16:
            _OWNERS.clear()
        found = (_owner_map(part, venue), table)
        _OWNERS[key] = found
    return found[0]


def _owner_map(part: Partition, venue: str | None) -> pl.DataFrame:
    acc = frame(part, "accounts", ["venue", "account", "customer_id"])
    if venue is not None:
        acc = acc.filter(pl.col("venue") == venue).select("account", owner=pl.col("customer_id"))
        return acc.unique("account", keep="first", maintain_order=True)
    return acc.select(
        account=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col("account")]), owner=pl.col("customer_id")
    ).unique("account", keep="first", maintain_order=True)


# The last listings looked up, keyed by the broadcast announcements table and symbol (a reference to the table
# is kept, so its id stays its own): every partition of a task is handed the same table, and converting and
# filtering it cost ~1.5 ms a partition.
_LISTINGS: dict[tuple[int, str | None], tuple[pl.DataFrame, Any]] = {}


def listings(part: Partition, symbol: str | None) -> pl.DataFrame:
    """The listing announcements of ``symbol`` on any venue (news for its price everywhere), in time order."""
    table = part.broadcast.get("announcements")
    if table is None or "announcements" in part.tables:
        return _listings(part, symbol)
    found = _LISTINGS.get((id(table), symbol))
    if found is None or found[1] is not table:
        if len(_LISTINGS) > 64:
            _LISTINGS.clear()
        found = (_listings(part, symbol), table)
        _LISTINGS[(id(table), symbol)] = found
    return found[0]


def _listings(part: Partition, symbol: str | None) -> pl.DataFrame:
    return frame(part, "announcements").filter((pl.col("symbol") == symbol) & (pl.col("kind") == "listing")) \
        .sort("ts", "venue")


def with_owner(df: pl.DataFrame, owners: pl.DataFrame, column: str, out: str) -> pl.DataFrame:
    """Add ``out`` = the owner of ``df[column]`` (the account itself when unknown). The last few results are
    kept: kernels that share a trades frame (``frame``) ask for the same owners of it."""
    key = (id(df), id(owners), column, out)
    found = _OWNED.get(key)
    if found is not None and found[1] is df and found[2] is owners:
        return found[0]
    owned = _looked_up(df, owners, column, out)
    if owned is None:
        joined = df.join(owners.rename({"account": column, "owner": out}), on=column, how="left")
        owned = joined.with_columns(pl.coalesce(pl.col(out), pl.col(column)).alias(out))
    if len(_OWNED) >= 16:
        del _OWNED[next(iter(_OWNED))]  # the oldest: a partition's shared trades owners are asked for first
    _OWNED[key] = (owned, df, owners)
    return owned


# The last few results of ``with_owner``, keyed by the ids of its inputs (references are kept, so the ids stay
# theirs).
_OWNED: dict[tuple[int, int, str, str], tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]] = {}


def _looked_up(df: pl.DataFrame, owners: pl.DataFrame, column: str, out: str) -> pl.DataFrame | None:
    """``with_owner``'s result by finding each account of ``df[column]`` in a compiled hash table of the map's
    accounts (``owner_keys``, built once per map) and writing its owner's name in the same pass, where a left join
    hashes the map's 20k accounts again at every call (1.2 ms for a book-day's 3.7k trades) and a Python dictionary
    of them needs every distinct account as a Python string (1.3 ms for a partition's ~10k order life stories); None
    (the join decides) when the column holds a null or is not text, or the map's columns are not text or it names an
    account twice (the join would repeat its rows)."""
    values = df[column]
    table = _owner_table(owners)
    if table is None or values.dtype != pl.String or values.null_count():
        return None
    keys, named = table
    accounts = values.to_arrow()
    if isinstance(accounts, pa.ChunkedArray):
        accounts = accounts.combine_chunks()
    # an account the map does not know (or knows without an owner) is its own owner, as the join's coalesce names it;
    # added by ``hstack``: a Polars ``with_columns`` cost ~0.4 ms of Polars' per-operation overhead on a book-day's
    # trades, the hstack ~0.07
    spread = pl.Series(out, owner_names(keys, named, accounts), dtype=pl.String)
    return df.hstack([spread]) if out not in df.columns else df.with_columns(spread)


# The last owner maps read into hash tables (``_owner_table``), keyed by the map's id (a reference to the map is kept,
# so its id stays its own): ``owner_map`` hands every partition of a task the same map.
_OWNER_TABLES: dict[int, tuple[pl.DataFrame, Any]] = {}


def _owner_table(owners: pl.DataFrame) -> tuple[tuple[np.ndarray, ...], pa.Array] | None:
    """The owner map (account -> owner) as ``owner_keys``' hash table of the accounts that have an owner, and those
    owners in the table's key order; None when an account is named twice or the map's columns are not text."""
    found = _OWNER_TABLES.get(id(owners))
    if found is not None and found[0] is owners:
        return found[1]  # type: ignore[no-any-return]
    table = None
    if owners["account"].dtype == pl.String and owners["owner"].dtype == pl.String:
        lookup = owner_lookup(owners)
        if lookup is not None:
            # owner_lookup's keys are the map's accounts with an owner, in the map's order
            named = owners.select("account", "owner").drop_nulls()["owner"].to_arrow()
            table = (lookup[0], named.combine_chunks() if isinstance(named, pa.ChunkedArray) else named)
    if len(_OWNER_TABLES) >= 8:
        _OWNER_TABLES.clear()
    _OWNER_TABLES[id(owners)] = (owners, table)
    return table


def leg_owners(part: Partition, venue: str) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Per trade of the partition's Arrow trades, in the table's row order: codes of its buyer's and its seller's owner
    under ``owner_map(part, venue)`` (``owner_keys.leg_codes``: equal codes exactly for equal ``with_owner`` names,
    one numbering for both sides), and how many codes there are. For screens that read the Arrow trades before any
    frame is built; shared, as ``frame`` is, by the kernels of one read that were handed the same table. None when the
    trades are missing, an account is missing or not text, or the map cannot be read so (the frame path decides)."""
    arrow = part.tables.get("trades")
    if arrow is None:
        return None
    key = ("frames.leg_owners", id(arrow), venue)
    found = part.shared.get(key)
    if found is None or found[1] is not arrow:
        found = (_leg_owners(arrow, part, venue), arrow)
        part.shared[key] = found
    owners: tuple[np.ndarray, np.ndarray, int] | None = found[0]
    return owners


def _leg_owners(arrow: pa.Table, part: Partition, venue: str) -> tuple[np.ndarray, np.ndarray, int] | None:
    if "buyer" not in arrow.column_names or "seller" not in arrow.column_names:
        return None
    buyer, seller = arrow["buyer"], arrow["seller"]
    if (buyer.type != seller.type or not (pa.types.is_string(buyer.type) or pa.types.is_large_string(buyer.type))
            or buyer.null_count or seller.null_count):
        return None
    raw = _raw_owner_codes(arrow, part, owner_map(part, venue), venue)
    if raw is None:
        return None
    code, size = dense_codes(np.concatenate(raw))  # as ``leg_codes`` numbers them
    return code[:arrow.num_rows], code[arrow.num_rows:], size


# The raw owner codes (``owner_keys.account_owners``: the map's owner numbers, before ``leg_codes`` numbers them
# densely) of each trades table of a partition whose legs all have an owner in the map, kept in Partition.shared
# under this key and the venue. Such codes are each account's own, wherever its row stands, so another table of the
# same rows and more (pump_and_dump's, read with ten hours of look-back, of which the others are a slice) needs only
# its other rows looked up: ten bench days' look-ups for pump_and_dump 0.07 of 0.19 CPU-s in all.
_RAW = "frames.leg_owners.raw"


def _raw_owner_codes(arrow: pa.Table, part: Partition, owners: pl.DataFrame, venue: str
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw owner codes of ``arrow``'s buyers and sellers (None where the map cannot be read so), made where it can
    be from another table of the partition's whose rows are its last rows or hold it as their last
    (``_suffix_start``), looking up only the rows that table lacks, else by one look-up of all its legs. An account
    the map lacks is coded by its place among the others looked up with it: such codes are neither kept nor
    reused."""
    kept: list[tuple[pa.Table, np.ndarray, np.ndarray]] = part.shared.setdefault((_RAW, venue), [])
    for other, b, s in kept:
        if other is arrow:
            return b, s
        start = _suffix_start(other, arrow)
        if start is not None:  # ``arrow`` is ``other``'s rows from ``start`` on
            return _keep(kept, arrow, (b[start:], s[start:]))
        start = _suffix_start(arrow, other)
        if start is not None:  # ``other`` is ``arrow``'s rows from ``start`` on: look up the rows before
            head = _raw_codes(owners, arrow.slice(0, start))
            if head is not None and _all_owned(owners, head):
                return _keep(kept, arrow, (np.concatenate([head[0], b]), np.concatenate([head[1], s])))
            break  # an account the map lacks among them: all the legs are looked up together
    raw = _raw_codes(owners, arrow)
    return _keep(kept, arrow, raw) if raw is not None and _all_owned(owners, raw) else raw


def _keep(kept: list[tuple[pa.Table, np.ndarray, np.ndarray]], arrow: pa.Table,
          raw: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``raw``, kept as ``arrow``'s for the partition's next tables (the last few)."""
    if len(kept) >= 4:
        kept.clear()
    kept.append((arrow, *raw))
    return raw


def _raw_codes(owners: pl.DataFrame, trades: pa.Table) -> tuple[np.ndarray, np.ndarray] | None:
    """``account_owners`` of the trades' buyers and sellers; None where the map cannot be read so."""
    buyer, seller = trades["buyer"], trades["seller"]
    legs = pa.chunked_array(buyer.chunks + seller.chunks, buyer.type).combine_chunks()
    code = account_owners(owners, legs)
    return None if code is None else (code[:trades.num_rows], code[trades.num_rows:])


def _all_owned(owners: pl.DataFrame, raw: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether every code of ``raw`` is one of the map's owners (``owner_lookup``'s ids, numbered first), none an
    account the map lacks."""
    lookup = owner_lookup(owners)
    known = len(lookup[2]) if lookup is not None else 0
    return all(int(c.max(initial=-1)) < known for c in raw)


def _suffix_start(longer: pa.Table, shorter: pa.Table) -> int | None:
    """The row of ``longer`` from which its buyers and sellers are ``shorter``'s very buffers (one a slice of the other,
    as the runner's look-back views are), or None: equal by identity, not by value, so the check costs nothing."""
    start = longer.num_rows - shorter.num_rows
    if start < 0:
        return None
    for name in ("buyer", "seller"):
        a, b = longer[name].slice(start), shorter[name]
        if a.num_chunks != b.num_chunks or any(not _same_slice(x, y) for x, y in zip(a.chunks, b.chunks, strict=True)):
            return None
    return start


def _same_slice(a: pa.Array, b: pa.Array) -> bool:
    """Whether two arrays are the same rows of the same buffers."""
    if a.offset != b.offset or len(a) != len(b) or a.type != b.type:
        return False
    return all((x is None and y is None) or (x is not None and y is not None and x.address == y.address)
               for x, y in zip(a.buffers(), b.buffers(), strict=True))


def placements(part: Partition, columns: Iterable[str]) -> pl.DataFrame | None:
    """The order book's placements (``new`` events) with ``columns``, for kernels that read no other order
    events; None when the partition has no order events. Filtered before leaving Arrow: placements are a
    fraction of the events, and converting the rest only to drop them was most of the cost of reading them.
    Same rows, order and types as ``frame(part, "orders", columns)`` filtered to ``new`` events. Shared, as
    ``frame`` is, by the kernels of one read that were handed the same table (front running, momentum ignition).
    """
    arrow = part.tables.get("orders")
    if arrow is None:
        arrow = part.broadcast.get("orders")
    if arrow is None or arrow.num_rows == 0:
        return None
    key = ("frames.placements", id(arrow), tuple(columns))
    found = part.shared.get(key)
    if found is None or found[1] is not arrow:
        picked = arrow.select([c for c in columns if c in arrow.column_names])
        news = pl.from_arrow(picked.filter(pc.equal(picked.column("event"), "new")))
        assert isinstance(news, pl.DataFrame)
        found = (news.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))), arrow)
        part.shared[key] = found
    placed: pl.DataFrame = found[0]
    return placed


def decision(t: pl.DataFrame, order_id: str) -> pl.Expr:
    """The trading decision a trade leg belongs to: its order, or (no order id) its time. Times are formatted
    only when some id is missing; formatting every leg's time was a tenth of a kernel."""
    if t[order_id].null_count() == 0:
        return pl.col(order_id)
    return pl.coalesce(order_id, pl.col("ts").cast(pl.String))


def part_venue(part: Partition, df: pl.DataFrame) -> str:
    if "venue" in part.key:
        return str(part.key["venue"])
    return str(df["venue"][0]) if df.height and "venue" in df.columns else ""


def part_symbol(part: Partition, df: pl.DataFrame) -> str | None:
    if "symbol" in part.key:
        return str(part.key["symbol"])
    return str(df["symbol"][0]) if df.height and "symbol" in df.columns else None


def ends_in_window(window: Window, end: dt.datetime) -> bool:
    """Alerts that end before the window are look-back context, not news (framework contract)."""
    return window.start is None or end >= _aware(window.start)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def micros(t: dt.datetime) -> int:
    """A time as microseconds since the epoch (the kernels' time unit)."""
    return (t - _EPOCH) // _MICROSECOND


def instant(t: dt.datetime) -> pl.Expr:
    """A time as a literal of the kernels' time type (``frame``), made from its microseconds: a Python datetime's
    literal costs ~0.15 ms more to convert, two thirds of a filter of a small partition."""
    return pl.lit(micros(t)).cast(pl.Datetime("us", "UTC"))


def as_dt(value: Any) -> dt.datetime:
    """A Polars scalar known to be a datetime (Polars types its scalars broadly), made tz-aware."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    return _aware(value)


def num(value: Any, default: float = 0.0) -> float:
    """A Polars numeric scalar (None for an empty column) as a float."""
    return default if value is None else float(value)


def span_seconds(ts: pl.Series, floor: float) -> float:
    """Seconds between a time column's first and last value, at least ``floor`` (a rate's denominator)."""
    if ts.len() == 0:
        return floor
    return max((as_dt(ts.max()) - as_dt(ts.min())).total_seconds(), floor)


def fmt_qty(x: float) -> str:
    """A quantity as an analyst reads it: few significant digits, no scientific notation."""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def fmt_span(start: dt.datetime, end: dt.datetime) -> str:
    secs = (end - start).total_seconds()
    if secs < 120:
        return f"{secs:.0f} seconds"
    if secs < 7200:
        return f"{secs / 60:.0f} minutes"
    return f"{secs / 3600:.1f} hours"


def fmt_time(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%H:%M:%S UTC")


def names(accounts: Iterable[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = sorted(set(accounts))
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))



# --- statistics shared by several detectors ----------------------------------------------------------


def robust_spread(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation (the standard deviation for normal data, unmoved by the very
    outliers a detector looks for); the standard deviation where most values are equal, and a tiny positive
    number where all are, so callers may divide by it. Finite float64 values take a compiled pass with the same
    arithmetic (``_median_deviation``: numpy's two medians cost ~25 us of call overhead on a partition's few hundred
    moves, ~2 us compiled; pump_and_dump, marking_the_close and cross_venue ask it of every partition)."""
    mad = _median_deviation(values) if values.dtype == np.float64 and values.ndim == 1 and values.size else np.nan
    if np.isnan(mad):  # not a finite float64 vector: numpy's reading (NaNs and all)
        mad = float(np.median(np.abs(values - np.median(values))))
    return 1.4826 * mad or float(np.std(values)) or 1e-9


@njit(cache=True, nogil=True)
def _median_deviation(values: np.ndarray) -> float:
    """The median absolute deviation from the median, as numpy computes it (the middle value, or the mean of the
    two middle values, of each); NaN when a value is not finite, which the caller leaves to numpy."""
    for v in values:
        if not np.isfinite(v):
            return np.nan
    return float(np.median(np.abs(values - np.median(values))))


def minute_sigma(trades: pl.DataFrame) -> float:
    """Robust one-minute volatility of last prices."""
    bars = trades.sort("ts").group_by_dynamic("ts", every="1m").agg(close=pl.col("price").last())
    r = np.diff(np.log(bars["close"].to_numpy()))
    if r.size < 3:
        return 1e-9
    return robust_spread(r)


def poisson_tail(n: int, lam: float) -> float:
    """P(X >= n) for X ~ Poisson(lam): the chance an owner's own pace gives n such events by coincidence."""
    if n <= 0:
        return 1.0
    if lam <= 0:
        return 0.0 if n > 0 else 1.0
    term = total = math.exp(-lam)
    for k in range(1, n):
        term *= lam / k
        total += term
    return max(0.0, 1.0 - total)


def chance_of_any(rate: pl.Expr, seconds: pl.Expr | float) -> pl.Expr:
    """Poisson chance of at least one event in ``seconds`` at ``rate`` per second (1 - e^(-rate x seconds))."""
    return 1 - (-rate * seconds).exp()


def run_starts(keys: Sequence[str]) -> pl.Expr:
    """On rows sorted by ``keys`` (each key group one run of rows): true at each run's first row, read from the
    row before instead of regrouping the rows by their keys' strings."""
    return reduce(operator.or_, [pl.col(k) != pl.col(k).shift(1) for k in keys]).fill_null(True)


def run_numbers(keys: Sequence[str], cut: pl.Expr) -> pl.Expr:
    """On rows sorted by ``keys`` (each key group one run of rows): a number that starts at 1 at each group's first
    row and goes up by one at every later row where ``cut`` holds — ``cut.cum_sum().over(keys)`` with the group's
    first row a cut (``run_starts``)."""
    first = run_starts(keys)
    total = (first | cut.fill_null(False)).cast(pl.Int32).cum_sum()
    return total - pl.when(first).then(total).forward_fill() + 1


def span_join(rows: pl.DataFrame, spans: pl.DataFrame, *, ts: str, lo: str, hi: str, key: str | None = None,
              closed: str = "both") -> pl.DataFrame:
    """Every row of ``rows`` whose ``ts`` lies in a span [``lo``, ``hi``] of ``spans`` (``closed`` as Polars'
    ``is_between`` reads it) and, with ``key``, whose ``key`` equals the span's: ``spans``' columns (without
    ``key``) beside ``rows``', span after span, each span's rows in their own order.

    The same rows as an inner join on ``key`` filtered by the span, without the join: a market maker's
    thousands of rows crossed with its hundreds of spans were most of the work of that form. Rows are sorted
    once by key and time, each span finds its run by binary search, so the work is in the rows returned."""
    if closed not in ("both", "left", "right", "none"):
        raise ValueError(f"closed must be both, left, right or none, not {closed!r}")
    for col in (lo, hi):
        if spans.schema[col] != rows.schema[ts]:
            raise TypeError(f"span column {col!r} is {spans.schema[col]}, rows' {ts!r} is {rows.schema[ts]}")
    left = spans.drop(key) if key is not None else spans
    which, picked = _span_pairs(rows, spans, ts, lo, hi, key, closed)
    # from one chunk: gathering rows across the chunks of a concatenation (legs) was six times slower
    return pl.concat([left[which], rows.rechunk()[picked]], how="horizontal")


def _span_pairs(rows: pl.DataFrame, spans: pl.DataFrame, ts: str, lo: str, hi: str, key: str | None,
                closed: str) -> tuple[np.ndarray, np.ndarray]:
    """``span_join``'s (span index, row index) pairs."""
    if key is None:
        r_code = np.zeros(rows.height, dtype=np.int64)
        s_code = np.zeros(spans.height, dtype=np.int64)
    elif rows.schema[key] == spans.schema[key] == pl.String:
        s_code, r_code = _key_codes(spans[key], rows[key])
    else:
        keys = spans[key].drop_nulls().unique(maintain_order=True)
        codes = pl.Series(np.arange(keys.len(), dtype=np.int64))
        r_code = rows[key].replace_strict(keys, codes, default=-1, return_dtype=pl.Int64).fill_null(-1).to_numpy()
        s_code = spans[key].replace_strict(keys, codes, default=-1, return_dtype=pl.Int64).fill_null(-1).to_numpy()
    t = rows[ts].to_physical().fill_null(-1).to_numpy()
    r_code = np.where(rows[ts].is_null().to_numpy(), -1, r_code)
    s_lo, s_hi = spans[lo].to_physical(), spans[hi].to_physical()
    s_code = np.where((s_lo.is_null() | s_hi.is_null()).to_numpy(), -1, s_code)
    keep = np.flatnonzero(r_code >= 0)
    live = s_code >= 0
    if keep.size == 0 or not live.any():
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lo_v, hi_v = s_lo.fill_null(0).to_numpy(), s_hi.fill_null(0).to_numpy()
    base = min(int(t[keep].min()), int(lo_v[live].min()), int(hi_v[live].min()))
    width = max(int(t[keep].max()), int(lo_v[live].max()), int(hi_v[live].max())) - base + 1
    if (int(s_code.max()) + 1) * width >= 2 ** 62:
        raise ValueError("span_join: keys x time range too wide for one sorted pass")
    # key and time in one integer, its stable argsort the lexsort by key then time; rows already in that order skip
    # it (8 of momentum ignition's 88 calls a rep on the bench market)
    comp = r_code[keep] * width + (t[keep] - base)
    resorted = not (comp[1:] >= comp[:-1]).all()
    if resorted:
        by_key = np.argsort(comp, kind="stable")
        keep, comp = keep[by_key], comp[by_key]
    order = keep
    lo_side: Literal["left", "right"] = "left" if closed in ("both", "left") else "right"
    hi_side: Literal["left", "right"] = "right" if closed in ("both", "right") else "left"
    starts = np.searchsorted(comp, s_code * width + (lo_v - base), side=lo_side)
    stops = np.searchsorted(comp, s_code * width + (hi_v - base), side=hi_side)
    stops = np.where(live, np.maximum(stops, starts), starts)
    which, pos = runs(starts, stops)
    picked = order[pos]
    if not resorted:  # rows in their own order already: each span's run of them is ascending
        return which, picked
    by_span = np.lexsort((picked, which))
    return which[by_span], picked[by_span]


def _key_codes(span_keys: pl.Series, row_keys: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each span's and each row's key as the rank of that key among the spans' distinct keys in string order, -1
    for a null or (rows) a key no span has: rows sorted by key and time then stand in code order. Arrow's
    dictionary encoding of both at once; mapping each side with ``replace_strict`` cost twice as much (with the
    skipped sort: span_join 0.29 -> 0.23 s a rep over momentum ignition's 44 calls on the bench market)."""
    parts = [span_keys.to_arrow(), row_keys.to_arrow()]
    chunks = [c for a in parts for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    coded = dictionary_codes(pa.chunked_array(chunks, pa.large_string()))
    index = coded.indices.fill_null(-1).to_numpy().astype(np.int64)
    s_index, r_index = index[:span_keys.len()], index[span_keys.len():]
    in_spans = np.flatnonzero(np.bincount(s_index[s_index >= 0], minlength=len(coded.dictionary)))
    number = np.full(len(coded.dictionary) + 1, -1, np.int64)  # the last: -1 for -1
    number[in_spans[pc.array_sort_indices(coded.dictionary.take(in_spans)).to_numpy()]] = np.arange(in_spans.size)
    return number[s_index], number[r_index]


def runs(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions starts[i]..stops[i]-1 for every i, run after run, and the i each position belongs to."""
    counts = stops - starts
    which = np.repeat(np.arange(starts.size), counts)
    return which, np.arange(which.size) - np.repeat(np.cumsum(counts) - counts - starts, counts)


def stable_sort(df: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """``df`` sorted by the columns ``by`` (ascending), ties in row order: ``df.sort(by, maintain_order=True)``.
    String keys (owners, sides: a few dozen distinct values) are ranked once through an Enum of their sorted
    values and the rows ordered by a stable lexsort on integers; comparing the strings row against row was a
    third of the steps that sort legs by owner. Any null among the keys takes Polars' sort."""
    if df.height < 2 or any(df[c].null_count() for c in by):
        return df.sort(by, maintain_order=True)
    keys = []
    for c in by:
        col = df[c]
        if col.dtype == pl.String:
            keys.append(string_ranks(col)[0])
            continue
        keys.append((col.to_physical() if col.dtype.is_temporal() else col).to_numpy())
    # one chunk first: gathering rows across the chunks of a concatenation was six times slower than both
    return df.rechunk()[np.lexsort(keys[::-1])]


def string_ranks(col: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Each value of a string column without nulls as its rank among the column's distinct values in string order
    (int64), and those values in that order: integers that sort, group and compare as the strings do. By Arrow's
    dictionary encoding and a sort of the distinct values only (0.56 ms against 0.85 ms for a cast to an Enum of
    the sorted uniques, on a bench partition's 18k trade legs)."""
    coded = dictionary_codes(col.to_arrow())
    order = pc.array_sort_indices(coded.dictionary)
    rank = np.empty(len(coded.dictionary), np.int64)
    rank[order.to_numpy()] = np.arange(rank.size)
    values = pl.Series(col.name, coded.dictionary.take(order), dtype=pl.String)
    return rank[coded.indices.to_numpy()], values


def dictionary_codes(arr: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """``arr`` (one array or chunks) dictionary-encoded by Arrow in one array: exact codes of its distinct values, in
    order of first appearance, nulls kept as nulls."""
    coded = pc.dictionary_encode(arr)
    return coded.combine_chunks() if isinstance(coded, pa.ChunkedArray) else coded
