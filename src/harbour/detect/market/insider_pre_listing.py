"""Insider buying ahead of a listing announcement.

The defining behaviour: shortly before a listing is announced (on this venue or another), an owner
builds a one-directional long position in the token that is large against the market's volume in that
span and unlike the owner's own earlier activity; the announcement then lifts the price, and the owner
often sells into the rise. Announcements come from the ``announcements`` table (kind ``listing``) of
every venue: a listing on venue B is news for the token's price on venue A too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    as_dt,
    clip01,
    ends_in_window,
    fmt_qty,
    fmt_span,
    frame,
    listings,
    names,
    num,
    owner_map,
    part_symbol,
    part_venue,
    poisson_tail,
    with_owner,
)
from harbour.detect.runners.plan import lake_files

# Trades in a partition from which only the listings' spans are named up front (``kernel``): naming a leg's owner
# costs ~0.1 us (0.28 CPU-s for the bench market's 3M legs), the slicing's few more Polars steps a few ms.
SLICED_FROM = 20_000

TRADE_COLUMNS = ("venue", "symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller", "buy_order_id")


class InsiderPreListingConfig(BaseModel):
    pre_hours: float = Field(24.0, gt=0, description="hours before the announcement in which buying is examined")
    post_hours: float = Field(24.0, gt=0, description="hours after it in which the price reaction and exits count")
    min_share: float = Field(
        0.005, gt=0, le=1, description="owner's net buying before the announcement as a share of all volume then "
        "(on a busy book an insider's accumulation is a small share of it: its size against the account's own "
        "orders and the other owners' net is the evidence)")
    min_outlier: float = Field(
        10.0, gt=0, description="owner's net buying against the median absolute net position of all owners who "
        "traded before the announcement; the insider's accumulation stands out from ordinary trading")
    min_directional: float = Field(
        0.7, gt=0, le=1, description="net over gross: the owner accumulated, it did not trade both ways")
    max_baseline_ratio: float = Field(
        0.5, ge=0, description="owner's volume in the equally long span before, against its pre-announcement "
        "volume; an owner who always trades this much is not acting on news")
    max_coincidence: float = Field(
        1e-3, gt=0, le=1, description="chance that the owner's buy orders before the announcement come from its own "
        "pace of buying over the rest of the data (Poisson); a regular buyer who happened to buy then is not an "
        "insider")
    min_order_size: float = Field(
        0.5, ge=0, le=1, description="in the coincidence test only orders of at least this share of the owner's "
        "median buy order before the announcement count, there and elsewhere: an insider buying more than its "
        "usual shows it in the size of its orders as much as in their number")
    min_orders: int = Field(
        3, ge=1, description="buy orders of that size before the announcement: an accumulation is a run of "
        "decisions, not one large order that happened to precede the news")
    max_order_share: float = Field(
        0.5, gt=0, le=1, description="largest share of the buying before the announcement one order may carry: a "
        "position that one large order built is one decision that happened to precede the news, whatever small "
        "orders came with it")
    min_exit: float = Field(
        0.3, ge=0, le=1, description="share of the accumulated position sold within post_hours of the announcement; "
        "taking the profit the news brought completes the pattern (0 = holding is enough)")
    max_exit: float = Field(
        3.0, gt=0, description="most the owner may sell after the announcement, against what it accumulated: an "
        "exit closes the position, while selling many times more is ordinary two-way trading")
    min_post_return: float = Field(
        0.0, description="price change from the last pre-announcement trade to the post-announcement high; the "
        "announcement must have been worth knowing")
    max_drift: float = Field(
        0.025, ge=0, le=1, description="how far below its highest position (from the start of the pre span up to its "
        "first sale after the news) the trader's position may stand when the news breaks: an insider's "
        "accumulation is complete at the announcement, while a pump ring's turn follows its own run-up, so it "
        "keeps buying after the news or has begun selling before it")
    news_grace_minutes: float = Field(
        10.0, ge=0, description="the position 'when the news breaks' is read this long after the announcement: an "
        "order sent in the minutes around the news is the tail of the accumulation, while a pump ring caught by it "
        "keeps buying for longer (1.5)")
    listed_symbols: tuple[str, ...] | None = Field(
        None, description="the symbols with a listing announcement, read from the lake's announcements before the "
        "run when not given (None when they cannot be read: every symbol); every alert is about a listing of its "
        "symbol, so the trades of the others are not read")


def _peak_position() -> pl.Expr:
    """The trader's highest position from the start of the pre span up to its first sale after the news (legs in
    time order within the group: ``phase`` is sorted), over the accounts that took part in its accumulation
    (``acc``). What it buys once it has begun taking its profit, hours later, is another matter."""
    inside = (pl.col("when") != "base") & pl.col("acc")
    first_sale = pl.col("ts").filter((pl.col("when") == "post") & (pl.col("q") < 0) & pl.col("acc")).min()
    upto = inside & ((pl.col("ts") <= first_sale) | first_sale.is_null())
    return pl.when(inside).then(pl.col("q")).otherwise(0.0).cum_sum().filter(upto).max()


def _positions(phase: pl.DataFrame, buyers: pl.Series, key: str, at: dt.datetime,
               config: InsiderPreListingConfig) -> pl.DataFrame:
    """The traders (``key``) whose buying before the news was large against the typical trader's, one-way and new,
    and that sold into the news: their sums (net, gross, base, sold_after), the path of their position over the
    accounts that took part in the accumulation (``buyers``: held, peak, settled) and whether it stood at its peak
    at the news (``at_news``), sorted by trader."""
    sums = phase.group_by(key).agg(
        net=pl.col("q").filter(pl.col("when") == "pre").sum(),
        gross=pl.col("q").filter(pl.col("when") == "pre").abs().sum(),
        base=pl.col("q").filter(pl.col("when") == "base").abs().sum(),
        sold_after=-pl.col("q").filter((pl.col("when") == "post") & (pl.col("q") < 0)).sum(),
    )
    typical = num(sums.filter(pl.col("gross") > 0)["net"].abs().median())
    per = sums.filter((pl.col("net") >= config.min_outlier * typical)
                      & (pl.col("net") >= config.min_directional * pl.col("gross"))
                      & (pl.col("base") <= config.max_baseline_ratio * pl.col("gross"))
                      & (pl.col("sold_after") >= config.min_exit * pl.col("net"))
                      & (pl.col("sold_after") <= config.max_exit * pl.col("net"))).sort(key)
    # The position's path (its peak, and where it stood at the news) only of the traders the sums above pass:
    # each trader's path reads its own legs alone, and running every trader's was most of the detector's Polars
    # work (12 against 2.5 ms a call with the sums on the bench market, where those traders hold 3 % of the legs).
    path = phase.filter(pl.col(key).is_in(per[key].implode())) \
        .with_columns(acc=pl.col("account").is_in(buyers.unique().implode())).group_by(key).agg(
            held=pl.col("q").filter((pl.col("when") == "pre") & pl.col("acc")).sum(),
            peak=_peak_position(),
            settled=pl.col("q").filter((pl.col("when") != "base") & pl.col("acc") & (
                pl.col("ts") < at + dt.timedelta(minutes=config.news_grace_minutes))).sum(),
        )
    return per.join(path, on=key, how="left", maintain_order="left") \
        .select(key, "net", "held", "gross", "base", "sold_after", "peak", "settled") \
        .with_columns(at_news=pl.max_horizontal("held", "settled") >= (1 - config.max_drift) * pl.col("peak"))


def listed_symbols(lake_root: Path) -> tuple[str, ...] | None:
    """The symbols of the lake's listing announcements (on any venue); None when the table cannot be read, so that
    every symbol is read as before."""
    files = [f.path for f in lake_files(lake_root, "announcements")]
    try:
        table = pa.concat_tables([pq.read_table(f, columns=["symbol", "kind"]) for f in files]) if files else None
    except (OSError, KeyError, pa.ArrowException):
        return None
    if table is None:
        return ()
    listing = table.filter(pc.equal(table.column("kind"), "listing"))
    return tuple(sorted(s for s in listing.column("symbol").unique().to_pylist() if s is not None))


def _owned(trades: pl.DataFrame, owners: pl.DataFrame) -> pl.DataFrame:
    """The trades with their buyer's and seller's owners (``owner_b``, ``owner_s``), less the trades between one
    owner's accounts (they change nothing), in the trades' order."""
    return with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s") \
        .filter(pl.col("owner_b") != pl.col("owner_s"))


def _legs(t: pl.DataFrame) -> pl.DataFrame:
    """Each owned trade as its buyer's leg and its seller's (all the buyers' legs first, in the trades' order)."""
    # A buy order is one decision however many fills it took (time stamps stand in without order ids).
    order = pl.coalesce(pl.col("buy_order_id"), pl.col("ts").cast(pl.Int64).cast(pl.String)) \
        if "buy_order_id" in t.columns else pl.col("ts").cast(pl.Int64).cast(pl.String)
    return pl.concat([t.select("ts", "trade_id", "price", "quantity", account="buyer", owner="owner_b",
                               q="quantity", order=order),
                      t.select("ts", "trade_id", "price", "quantity", account="seller", owner="owner_s",
                               q=-pl.col("quantity"), order=pl.lit(None, pl.String))])


def _near(trades: pl.DataFrame, owners: pl.DataFrame, ann: pl.DataFrame,
          config: InsiderPreListingConfig) -> pl.DataFrame | None:
    """The trades within some listing's span (``_one`` reads the legs from ``pre_hours`` before its pre span to
    ``post_hours`` after it), in the trades' order; None where naming a slice's owners might not give the slice of
    the whole's names (nulls, accounts or map not text: the join decides there) or the trades are not in time order
    (``_Whole.span`` reads the ends): then every trade is named, as before."""
    if (trades["buyer"].dtype != pl.String or trades["seller"].dtype != pl.String
            or owners["account"].dtype != pl.String or owners["owner"].dtype != pl.String
            or trades["buyer"].null_count() or trades["seller"].null_count() or trades["ts"].null_count()
            or not trades["ts"].is_sorted() or ann["ts"].null_count()):
        return None
    pre, post = dt.timedelta(hours=config.pre_hours), dt.timedelta(hours=config.post_hours)
    inside: pl.Expr = pl.lit(False)
    for at in (as_dt(a) for a in ann["ts"].to_list()):
        inside = inside | ((pl.col("ts") >= (at - pre) - pre) & (pl.col("ts") <= at + post))
    return trades.filter(inside)


class _Whole:
    """The partition's owned trades over the whole data, for what ``_suspects`` reads beyond the listings' spans:
    their time span, and every leg of a few traders. Either named up front (``named``) or named on demand from the
    raw trades: only the trades at the ends and those of the suspects' accounts get owner names."""

    def __init__(self, trades: pl.DataFrame, owners: pl.DataFrame) -> None:
        self.trades, self.owners = trades, owners
        self._t: pl.DataFrame | None = None
        self._legs: pl.DataFrame | None = None
        self._span: float | None = None

    @classmethod
    def named(cls, t: pl.DataFrame, legs: pl.DataFrame) -> _Whole:
        whole = cls(t, pl.DataFrame())
        whole._t, whole._legs = t, legs
        return whole

    def span(self) -> float:
        """Seconds from the first owned trade to the last (at least one)."""
        if self._span is None:
            self._span = max((as_dt(self._end(True)) - as_dt(self._end(False))).total_seconds(), 1.0)
        return self._span

    def _end(self, last: bool) -> object:
        """The first (or last) owned trade's time: the trades are in time order, so it is the first (last) of the
        owned trades among the first (last) few, read in ever longer runs until one is owned."""
        if self._t is not None:
            return self._t["ts"].max() if last else self._t["ts"].min()
        n = 256
        while True:
            run = self.trades.tail(n) if last else self.trades.head(n)
            owned = _owned(run, self.owners)
            if owned.height or n >= self.trades.height:
                return owned["ts"].max() if last else owned["ts"].min()
            n *= 8

    def of(self, key: str, traders: pl.Series) -> pl.DataFrame:
        """Every leg of ``traders`` (``key``: owner or account), in the order of ``_legs`` over all the trades."""
        if self._legs is not None:
            return self._legs.filter(pl.col(key).is_in(traders.implode()))
        # the accounts that may have legs of these traders: an owner's accounts in the map, and the owner itself
        # (an account the map does not name is its own owner); the names then decide exactly
        accounts = traders
        if key == "owner":
            accounts = pl.concat([self.owners.filter(pl.col("owner").is_in(traders.implode()))["account"],
                                  traders.cast(pl.String).alias("account")])
        among = accounts.implode()
        some = self.trades.filter(pl.col("buyer").is_in(among) | pl.col("seller").is_in(among))
        return _legs(_owned(some, self.owners)).filter(pl.col(key).is_in(traders.implode()))


class InsiderPreListingDetector(Detector[InsiderPreListingConfig]):
    name = "insider_pre_listing"
    version = "1.6"
    typology = "insider_pre_listing"
    config_model = InsiderPreListingConfig
    description = "One-directional accumulation by a new or quiet owner just before a listing announcement."

    def bind_to_lake(self, config: InsiderPreListingConfig, lake_root: Path | None) -> InsiderPreListingConfig:
        # The symbols with a listing announcement in the lake, fixed before the run: every alert is about one.
        if config.listed_symbols is not None or lake_root is None:
            return config
        return config.model_copy(update={"listed_symbols": listed_symbols(lake_root)})

    def describe(self, config: InsiderPreListingConfig) -> WorkSpec:
        only = None if config.listed_symbols is None else {"symbol": frozenset(config.listed_symbols)}
        return WorkSpec(tables=("trades",), partition_by=("venue", "symbol"),
                        lookback=dt.timedelta(hours=2 * config.pre_hours),
                        columns={"trades": TRADE_COLUMNS, "accounts": ("venue", "account", "customer_id"),
                                 "announcements": ("venue", "symbol", "ts", "kind", "headline")},
                        broadcast=("accounts", "announcements"), only=only)

    def kernel(self, part: Partition, config: InsiderPreListingConfig) -> pa.Table:
        out = AlertBuilder(self)
        # Every alert is about a listing of the partition's symbol (``_one`` runs once per listing). With the symbol
        # in the key they are looked up before the trades are converted: the conversion was two thirds of this
        # kernel's time, and most partitions have no listing (12 of 18 over 10 days of the 10M-trade bench market).
        ann = listings(part, str(part.key["symbol"])) if "symbol" in part.key else None
        if ann is not None and ann.height == 0:
            return out.to_table()
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height == 0:
            return out.to_table()
        venue, symbol = part_venue(part, trades), part_symbol(part, trades)
        if ann is None:
            ann = listings(part, symbol)
        if ann.height == 0:
            return out.to_table()
        owners = owner_map(part, venue)
        # Only the trades within the listings' spans get their owners' names up front (~1/25 of a bench partition):
        # naming every leg's owner was a third of this kernel. The rest of the data is read for the few suspects.
        # A small partition, or one whose spans hold most of its trades (a short lake), is named whole at once: the
        # few more Polars steps of the slices cost more than they save there (0.16 against 0.135 CPU-s on the
        # 3-day bench lake's partitions of 2k-11k trades); both read the same legs.
        near = _near(trades, owners, ann, config) if trades.height >= SLICED_FROM else None
        if near is not None and 2 * near.height > trades.height:
            near = None
        t = _owned(trades if near is None else near, owners)
        legs = _legs(t)
        whole = _Whole.named(t, legs) if near is None else _Whole(trades, owners)
        seen: set[tuple[str, dt.datetime]] = set()
        for ann_venue, ann_ts, headline in ann.select("venue", "ts", "headline").iter_rows():
            self._one(out, part, t, legs, whole, venue, symbol, as_dt(ann_ts), ann_venue, headline, config, seen)
        return out.to_table()

    def _one(self, out: AlertBuilder, part: Partition, t: pl.DataFrame, legs: pl.DataFrame, whole: _Whole,
             venue: str, symbol: str | None, at: dt.datetime, ann_venue: str, headline: str,
             config: InsiderPreListingConfig, seen: set[tuple[str, dt.datetime]]) -> None:
        pre = dt.timedelta(hours=config.pre_hours)
        t0, t1 = at - pre, at + dt.timedelta(hours=config.post_hours)
        pre_trades = t.filter((pl.col("ts") >= t0) & (pl.col("ts") < at))
        post_trades = t.filter((pl.col("ts") >= at) & (pl.col("ts") <= t1))
        if pre_trades.height == 0:
            return
        last_pre = float(pre_trades.sort("ts")["price"][-1])
        post_ret = (num(post_trades["price"].max()) / last_pre - 1) if post_trades.height else 0.0
        if post_ret < config.min_post_return:
            return
        phase = legs.filter((pl.col("ts") >= t0 - pre) & (pl.col("ts") <= t1)).with_columns(
            when=pl.when(pl.col("ts") < t0).then(pl.lit("base")).when(pl.col("ts") < at).then(pl.lit("pre"))
            .otherwise(pl.lit("post"))).sort("ts", "trade_id")
        # Judged per beneficial owner (accounts of one customer together) and per account: an insider trading
        # from one account of a customer whose other accounts trade both ways has its accumulation and exit
        # diluted in the owner's net, while the account's own record still shows them.
        # An owner whose combined record is an insider's in all but its turn (it kept buying after the news, or
        # had begun selling before it) turned on something else, typically its own run-up: its accounts are not
        # judged apart, or the one that happened to stop buying at the news would pass for an insider.
        per = self._suspects(phase, whole, pre_trades, at, "owner", config).with_columns(by=pl.lit("owner"))
        by_account = self._suspects(phase, whole, pre_trades, at, "account", config) \
            .filter(pl.col("at_news")).with_columns(by=pl.lit("account"))
        if by_account.height:
            owner_of = phase.select("account", "owner").unique(subset="account")
            by_account = by_account.join(owner_of, left_on="owner", right_on="account", how="left", suffix="_of") \
                .filter(~pl.col("owner_of").is_in(per["owner"].implode())).drop("owner_of")
        per = pl.concat([per.filter(pl.col("at_news")), by_account]).drop("at_news")
        for owner, net, _gross, _base, sold_after, acc_vol, by in per.iter_rows():
            if (owner, at) in seen:
                continue
            seen.add((owner, at))
            mine = pl.col(by) == owner
            buys = phase.filter(mine & (pl.col("when") == "pre") & (pl.col("q") > 0))
            sells = phase.filter(mine & (pl.col("when") == "post") & (pl.col("q") < 0))
            ev = pl.concat([buys, sells])
            start, end = as_dt(buys["ts"].min()), as_dt(ev["ts"].max())
            if not ends_in_window(part.window, end):
                continue
            accounts = sorted(ev["account"].unique().to_list())
            lead = at - as_dt(buys["ts"].min())
            exit_txt = (f", then sold {fmt_qty(sold_after)} after it" if sold_after > 0 else "")
            out.add(venue=venue, symbol=symbol, accounts=accounts, start=start, end=end,
                    score=clip01(0.5 + net / acc_vol + min(post_ret, 0.3) + (0.1 if sold_after > 0 else 0.0)),
                    evidence_ids=ev["trade_id"].to_list(),
                    explanation=(f"account {names(accounts)} bought a net {fmt_qty(net)} units of {symbol} "
                                 f"({net / acc_vol:.0%} of all volume) in the {fmt_span(at - lead, at)} before the "
                                 f"listing announcement on {ann_venue} at {at:%Y-%m-%d %H:%M} UTC, after which the "
                                 f"price rose up to {post_ret:+.1%}{exit_txt}."))

    @staticmethod
    def _suspects(phase: pl.DataFrame, whole: _Whole, pre_trades: pl.DataFrame, at: dt.datetime, key: str,
                  config: InsiderPreListingConfig) -> pl.DataFrame:
        """Traders (``key``: owner or account) whose buying before the announcement was a large, one-way, new
        accumulation that they sold into the news, in columns (owner, net, gross, base, sold_after, acc_vol,
        at_news) with the trader's id in ``owner``; ``at_news`` says whether its position stood at its peak
        (within ``max_drift``) when the news broke, or ``news_grace_minutes`` after it (an order sent around the
        news is the tail of the accumulation)."""
        pre_s = config.pre_hours * 3600.0
        span = whole.span()
        # The turn is read on the accounts that took part in the accumulation (1.6): those with an order before
        # the news of the size that counts against the trader's median one. A sibling account that sold what it
        # already held, or bought a little as usual, is no part of it, while a ring's accounts all bought alike.
        orders = phase.filter((pl.col("when") == "pre") & (pl.col("q") > 0)) \
            .group_by(*dict.fromkeys((key, "account", "order"))).agg(size=pl.col("q").sum())
        buyers = orders.filter(pl.col("size") >= config.min_order_size * pl.col("size").median().over(key))["account"]
        per = _positions(phase, buyers, key, at, config)
        mine = whole.of(key, per[key])
        per = per.join(InsiderPreListingDetector._big_orders(mine, at, key, config), on=key)
        # The accumulation is weighed against the market's volume over the span it took, from its first order of
        # the size that counts to the announcement (1.6: an ordinary small buy hours earlier is not its start), not
        # the whole pre-announcement span: a few hours' buying is not diluted by a day.
        pre_sorted = pre_trades.sort("ts")
        cum = np.concatenate([[0.0], np.cumsum(pre_sorted["quantity"].to_numpy())])
        start = per["start"].fill_null(at).to_numpy()
        acc_vol = cum[-1] - cum[np.searchsorted(pre_sorted["ts"].to_numpy(), start, side="left")]
        per = per.with_columns(acc_vol=pl.Series(np.maximum(acc_vol, 1e-12)),
                               own_s=(pl.lit(at) - pl.col("start").fill_null(at)).dt.total_seconds()) \
            .filter(pl.col("net") >= config.min_share * pl.col("acc_vol"))
        other_s = max(span - pre_s, pre_s)
        chance = InsiderPreListingDetector._coincidence
        keep = [n >= config.min_orders and top <= config.max_order_share
                and chance(int(n), int(other), other_s, pre_s, own) <= config.max_coincidence
                for n, top, other, own in zip(per["pre_buys"].to_list(), per["top"].to_list(),
                                              per["other_buys"].to_list(), per["own_s"].to_list(), strict=True)]
        return per.filter(pl.Series(keep, dtype=pl.Boolean)).rename({key: "owner"}) \
            .select("owner", "net", "gross", "base", "sold_after", "acc_vol", "at_news")

    @staticmethod
    def _coincidence(n: int, other: int, other_s: float, pre_s: float, own_s: float) -> float:
        """Chance that the trader's own pace of such orders elsewhere (``other`` in ``other_s`` seconds) gives its
        ``n`` orders before the announcement: over the whole pre span, or (1.6) the n - 1 after its first over the
        span its accumulation took. The smaller counts: three orders within an hour by a trader that sends one a
        day are no coincidence, though three in a day would not be unlikely."""
        rate = other / other_s
        return min(poisson_tail(n, rate * pre_s), poisson_tail(n - 1, rate * own_s))

    @staticmethod
    def _big_orders(legs: pl.DataFrame, at: dt.datetime, key: str, config: InsiderPreListingConfig) -> pl.DataFrame:
        """Per trader: its buy orders before the announcement (``pre_buys``) and over the rest of the data
        (``other_buys``) that are at least ``min_order_size`` of its median buy order before it, the first of those
        before it (``start``), and its largest order's share of its buying before it (``top``). An insider's few
        large orders are not explained by its many small ones elsewhere, nor an ordinary buyer's run of usual
        orders by their size."""
        t0 = at - dt.timedelta(hours=config.pre_hours)
        orders = legs.filter(pl.col("q") > 0).group_by(key, "order") \
            .agg(size=pl.col("q").sum(), ts=pl.col("ts").min()) \
            .with_columns(pre=(pl.col("ts") >= t0) & (pl.col("ts") < at))
        big = pl.col("size") >= config.min_order_size * pl.col("size").filter(pl.col("pre")).median()
        pre_size = pl.col("size").filter(pl.col("pre"))
        return orders.group_by(key).agg(pre_buys=(big & pl.col("pre")).sum(), other_buys=(big & ~pl.col("pre")).sum(),
                                        top=(pre_size.max() / pre_size.sum()).fill_null(1.0),
                                        start=pl.col("ts").filter(big & pl.col("pre")).min())


DETECTOR = register(InsiderPreListingDetector())
