"""Wash trading: trades that change no beneficial ownership.

Two shapes, one economic test (the owner's position does not change):

* **self-trades** — buyer and seller are one owner: the same account, or two accounts of one customer
  (``accounts.customer_id``);
* **pairs and rings** — 2 to ``max_ring`` owners who trade mostly with each other, back and forth or
  around a cycle, so that each member ends the day where it started while printing volume.

A group is found as a connected component of "concentrated" counterparty edges: an edge joins two owners
when their trades with each other are a large share of *both* owners' volume in the symbol-day (an
honest client trading with a big market maker is a large share of the client's volume but a sliver of
the maker's). A component is alerted when its members' net position change inside the group is small
relative to the group's volume; the group's trades include a member's trades between its own accounts (a ring
that passes a lot through two accounts of one customer is one-way between owners when others took its legs back).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit
from pydantic import BaseModel, Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    TRADE_COLUMNS,
    as_dt,
    clip01,
    dictionary_codes,
    ends_in_window,
    fmt_qty,
    fmt_span,
    frame,
    leg_owners,
    names,
    owner_map,
    part_symbol,
    part_venue,
    with_owner,
)

# an owner, as its name or as its code
K = TypeVar("K", str, int)


class WashTradeConfig(BaseModel):
    min_self_trades: int = Field(
        3, ge=1, description="trades between accounts of one owner in a symbol-day before an alert; one can be an "
        "accident of a venue without self-trade prevention, a repeat is a pattern")
    min_self_share: float = Field(
        0.5, gt=0, le=1, description="self-trades as a share of the owner's trades on its busier side that alert "
        "whatever the lift: an owner that mostly trades with itself (even when it is most of the market)")
    min_group_trades: int = Field(
        6, ge=2, description="trades inside a pair or ring in a symbol-day before it is judged; a round trip "
        "needs two, a repeated one four")
    min_edge_trades: int = Field(
        2, ge=1, description="trades between two owners before their link counts towards a group")
    min_edge_share: float = Field(
        0.1, gt=0, le=1, description="share of EACH owner's symbol-day volume that a link must carry; colluders "
        "trade mostly with each other, honest accounts spread over many counterparties")
    min_lift: float = Field(
        5.0, gt=0, description="a link's volume against what random matching of the two owners' volumes would give "
        "(2 x edge volume x total / (volume A x volume B), each owner's volume counting its buys and its sells); "
        "two market makers that each take part in most trades meet "
        "often by chance, two ordinary accounts that keep meeting do not")
    max_net_share: float = Field(
        0.8, ge=0, le=1, description="largest member's net position change inside the group, as a share of the "
        "group's volume; wash trades leave positions (nearly) unchanged")
    max_ring: int = Field(5, ge=2, description="largest group of owners judged as one ring")
    max_gap_minutes: float = Field(
        30.0, gt=0, description="a pause longer than this between the group's trades ends a session; wash trades "
        "come in runs, while honest accounts that happen to meet do so hours apart")


def _owner_trades(part: Partition, trades: pl.DataFrame, venue: str) -> pl.DataFrame:
    owners = owner_map(part, venue)
    t = with_owner(trades, owners, "buyer", "owner_b")
    return with_owner(t, owners, "seller", "owner_s")


_TS = pl.Datetime("us", "UTC")
# Share of a bound that the screens' float comparisons give away: numpy adds a partition's quantities in another
# order than Polars, so a sum may differ by some (rows x 1e-16) of itself; with this slack a screen never drops
# what the exact filters (in Polars) keep.
_SLACK = 1e-6


class _Codes(NamedTuple):
    """A partition's trades as arrays for the screens: each trade's buyer's and seller's owner as codes into one
    dictionary of ``owners`` owners, its quantity, and its time in microseconds."""

    buyer: np.ndarray
    seller: np.ndarray
    owners: int
    quantity: np.ndarray
    ts: np.ndarray


def _codes(t: pl.DataFrame) -> _Codes | None:
    """``t``'s arrays for the screens; None where they could misjudge (a null, a quantity that is not a positive
    number: ``_SLACK`` bounds the rounding of sums of positive numbers), and the kernel takes its full path."""
    if any(t[c].null_count() for c in ("owner_b", "owner_s", "ts")) or t["ts"].dtype != _TS:
        return None
    q = t["quantity"].to_numpy()  # a null is NaN here
    if not ((q > 0) & np.isfinite(q)).all():
        return None
    # one Arrow dictionary for both columns: the same owner is the same code on either side
    chunks = [c for col in ("owner_b", "owner_s") for c in pa.chunked_array(t[col].to_arrow()).chunks]
    coded = dictionary_codes(pa.chunked_array(chunks, pa.large_string()))
    index = coded.indices.to_numpy().astype(np.int64)
    return _Codes(index[:t.height], index[t.height:], len(coded.dictionary), q,
                  t["ts"].to_numpy().view(np.int64))  # to_physical() copied: 46 us against 1 us


def _arrow_codes(part: Partition, venue: str) -> _Codes | None:
    """``_codes`` read off the partition's Arrow trades, in their row order, with each leg's owner as a code
    (``frames.leg_owners``: equal codes exactly for equal owner names), before any frame is built: the screens count,
    sum and sort them without regard to the rows' order (ties in time are ordered by owner only, and the sessions read
    the times alone). Reading them off the frame (its owners' names, and ``_codes``' dictionary of them) kept the
    detector at ~0.40 CPU-s over ten days of the 10M-trade bench market, this ~0.20 (the whole suite run, reps 3,
    alternated). None where ``_codes`` gives None or the trades cannot be read so (``leg_owners``, a time not in
    microseconds of UTC)."""
    arrow = part.tables.get("trades")
    if arrow is None or arrow.num_rows == 0 or "ts" not in arrow.column_names or "quantity" not in arrow.column_names:
        return None
    ts, quantity = arrow["ts"], arrow["quantity"]
    if ts.type != pa.timestamp("us", "UTC") or ts.null_count or quantity.null_count \
            or not pa.types.is_floating(quantity.type):
        return None
    q = quantity.to_numpy().astype(np.float64, copy=False)
    if not ((q > 0) & np.isfinite(q)).all():
        return None
    owners = leg_owners(part, venue)
    if owners is None:
        return None
    buyer, seller, size = owners
    return _Codes(buyer, seller, size, q, ts.to_numpy().view(np.int64))


def _may_self_trade(c: _Codes, config: WashTradeConfig) -> bool:
    """Whether some owner traded with itself ``min_self_trades`` times. A self-trade alert needs that: it is a
    session with ``n >= min_self_trades`` of one owner's self-trades (``_self_trades``' last filter), and the
    sessions split a subset of them. Most partitions have no self-trade at all (172 of 180 over 10 days of the
    10M-trade bench market)."""
    own = c.buyer[c.buyer == c.seller]
    return own.size >= config.min_self_trades and int(np.bincount(own).max()) >= config.min_self_trades


def _may_group(c: _Codes, config: WashTradeConfig) -> bool:
    """Whether some session of a pair or ring may pass ``_groups``' filters: the same links, components and
    sessions, on owner codes, the float comparisons loosened by ``_SLACK``. Most partitions have links (market
    makers and their regular clients) but no group session that passes; finding that in Polars cost 4.7 ms a
    partition on the 10M-trade bench market, ~40 eager operations at ~100 us each."""
    comp = _link_components(c, config)
    if comp is None:
        return False
    cb, cs = comp[c.buyer], comp[c.seller]
    rows = np.flatnonzero((cb >= 0) & (cb == cs))  # the group's trades, its members' self-trades among them
    if rows.size < config.min_group_trades:
        return False
    rows = rows[np.lexsort((c.ts[rows], cb[rows]))]
    group, ts = cb[rows], c.ts[rows]
    gap = dt.timedelta(minutes=config.max_gap_minutes) // dt.timedelta(microseconds=1)
    new = np.ones(rows.size, dtype=bool)
    new[1:] = (group[1:] != group[:-1]) | (np.diff(ts) > gap)
    session = np.cumsum(new) - 1
    q = c.quantity[rows]
    n, vol = np.bincount(session), np.bincount(session, q)
    # each member's net position change in each session: bought minus sold
    keys, which = np.unique(np.concatenate([session * c.owners + c.buyer[rows], session * c.owners + c.seller[rows]]),
                            return_inverse=True)
    net = np.abs(np.bincount(which, np.concatenate([q, -q])))
    of = keys // c.owners
    members = np.bincount(of, minlength=n.size)
    max_net = np.zeros(n.size)
    np.maximum.at(max_net, of, net)
    return bool(((n >= config.min_group_trades) & (members <= config.max_ring)
                 & (max_net <= (config.max_net_share + _SLACK) * vol)).any())


def _link_components(c: _Codes, config: WashTradeConfig) -> np.ndarray | None:
    """Each owner's component (a code) of the concentrated links as ``_groups`` finds them, -1 for owners on no
    link; None when there is no link."""
    cross = c.buyer != c.seller
    b, s, q = c.buyer[cross], c.seller[cross], c.quantity[cross]
    if b.size == 0:
        return None
    k = c.owners
    owner_vol = np.bincount(b, q, k) + np.bincount(s, q, k)
    pairs, n, vol = _pair_totals(b, s, np.ascontiguousarray(q, dtype=np.float64), k)
    vol = vol * (1 + _SLACK)
    vol_lo, vol_hi = owner_vol[pairs // k], owner_vol[pairs % k]
    link = ((n >= config.min_edge_trades) & (vol >= config.min_edge_share * np.maximum(vol_lo, vol_hi))
            & (vol * 2 * float(q.sum()) >= config.min_lift * vol_lo * vol_hi))
    if not link.any():
        return None
    lo, hi = (pairs[link] // k).tolist(), (pairs[link] % k).tolist()  # any order: a root is its component's least
    comp = np.full(k, -1, dtype=np.int64)
    for owner, root in _components(zip(lo, hi, strict=True)).items():
        comp[owner] = root
    return comp


@njit(cache=True, nogil=True)
def _pair_totals(b: np.ndarray, s: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct pair of owner codes (``b``, ``s`` of each trade, fewer than ``k``), in order of first appearance:
    its key (lower code x ``k`` + higher), its trades and its quantity summed in row order, as numpy's bincount sums
    (from 0.0). One pass through a table of the pairs: numpy's unique with its inverse sorted the ~7k keys of a bench
    book-day (~0.2 ms of the screen's ~0.6)."""
    n = b.shape[0]
    bits = 4
    while (1 << bits) < 2 * n:  # at most half full
        bits += 1
    mask, shift = (1 << bits) - 1, np.uint64(64 - bits)
    size = mask + 1
    slots = np.full(size, -1, np.int64)
    keys = np.empty(n, np.int64)
    counts = np.zeros(n, np.int64)
    vols = np.zeros(n, np.float64)
    m = 0
    for i in range(n):
        key = min(b[i], s[i]) * k + max(b[i], s[i])
        h = np.intp((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> shift)  # Fibonacci hashing: the top bits
        while slots[h] >= 0 and keys[slots[h]] != key:
            h = (h + 1) & mask
        j = slots[h]
        if j < 0:
            j = m
            slots[h], keys[j] = j, key
            m += 1
        counts[j] += 1
        vols[j] += q[i]
    return keys[:m], counts[:m], vols[:m]


def _components(edges: Iterable[tuple[K, K]]) -> dict[K, K]:
    """owner → component root, by union-find over the (few) concentrated edges (pairs of owners, as names or as
    codes)."""
    parent: dict[K, K] = {}

    def find(x: K) -> K:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for lo, hi in edges:
        ra, rb = find(lo), find(hi)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def _lifted_pairs(t: pl.DataFrame, selfs: pl.DataFrame, config: WashTradeConfig) -> pl.DataFrame:
    """Pairs of one customer's accounts (``lo``, ``hi``) that met ``min_lift`` times more often than random
    matching of the two accounts' own buys and sells gives: (A's buys x B's sells + B's buys x A's sells) /
    all trades. Judged per pair as well as per owner, because a customer's other, busy account makes the
    owner meet itself often by chance and so hides two quiet accounts of it that trade only with each other."""
    nb = t.group_by("buyer").agg(nb=pl.len()).rename({"buyer": "account"})
    ns = t.group_by("seller").agg(ns=pl.len()).rename({"seller": "account"})
    sides = nb.join(ns, on="account", how="full", coalesce=True).fill_null(0)
    pairs = selfs.group_by("lo", "hi").agg(n=pl.len())
    for end in ("lo", "hi"):
        pairs = pairs.join(sides.rename({"account": end, "nb": f"nb_{end}", "ns": f"ns_{end}"}), on=end, how="left")
    chance = (pl.col("nb_lo") * pl.col("ns_hi") + pl.col("nb_hi") * pl.col("ns_lo")) / pl.when(
        pl.col("lo") == pl.col("hi")).then(2).otherwise(1)
    return pairs.filter(pl.col("n") * t.height >= config.min_lift * chance).select("lo", "hi")


class WashTradeDetector(Detector[WashTradeConfig]):
    name = "wash_trade"
    version = "1.3"
    typology = "wash_trade"
    config_model = WashTradeConfig
    description = "Self-trades and pairs/rings of owners trading with each other with little net change."

    def describe(self, config: WashTradeConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("venue", "symbol", "date"),
                        columns={"trades": TRADE_COLUMNS, "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: WashTradeConfig) -> pa.Table:
        out = AlertBuilder(self)
        # the screens read off the Arrow trades first: most book-days stop there, before any frame is built
        codes = _arrow_codes(part, str(part.key["venue"])) if "venue" in part.key else None
        screens = None if codes is None else (_may_self_trade(codes, config), _may_group(codes, config))
        if screens == (False, False):
            return out.to_table()
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height == 0:
            return out.to_table()
        venue, symbol = part_venue(part, trades), part_symbol(part, trades)
        t = _owner_trades(part, trades, venue)
        if screens is None:
            codes = _codes(t)
            screens = (codes is None or _may_self_trade(codes, config), codes is None or _may_group(codes, config))
        if screens[0]:
            self._self_trades(out, part, t, venue, symbol, config)
        if screens[1]:
            self._groups(out, part, t, venue, symbol, config)
        return out.to_table()

    def _self_trades(self, out: AlertBuilder, part: Partition, t: pl.DataFrame, venue: str, symbol: str | None,
                     config: WashTradeConfig) -> None:
        selfs = t.filter(pl.col("owner_b") == pl.col("owner_s"))
        if selfs.height == 0:
            return
        day_vol = float(t["quantity"].sum())
        # Chance: two busy accounts of one customer meet now and then through the matching engine. Random
        # matching gives (trades it bought in) x (trades it sold in) / (all trades) meetings; a pattern is a
        # multiple of that (``min_lift``), as for the links of pairs and rings — or an owner that trades mostly
        # with itself (``min_self_share``), where chance cannot be told apart because it is most of the market.
        sides = t.group_by("owner_b").agg(nb=pl.len()).rename({"owner_b": "owner"}).join(
            t.group_by("owner_s").agg(ns=pl.len()).rename({"owner_s": "owner"}), on="owner")
        lifted = selfs.group_by("owner_b").agg(n=pl.len()).rename({"owner_b": "owner"}).join(sides, on="owner") \
            .filter((pl.col("n") * t.height >= config.min_lift * pl.col("nb") * pl.col("ns"))
                    | (pl.col("n") >= config.min_self_share * pl.max_horizontal("nb", "ns"))).select("owner")
        selfs = selfs.with_columns(lo=pl.min_horizontal("buyer", "seller"), hi=pl.max_horizontal("buyer", "seller"))
        selfs = selfs.join(lifted.rename({"owner": "owner_b"}), on="owner_b", how="semi").vstack(
            selfs.join(lifted.rename({"owner": "owner_b"}), on="owner_b", how="anti")
            .join(_lifted_pairs(t, selfs, config), on=["lo", "hi"], how="semi"))
        if selfs.height == 0:
            return
        # Sessions, as for groups: two accounts of one customer that cross by accident hours apart are noise.
        gap = dt.timedelta(minutes=config.max_gap_minutes)
        selfs = selfs.sort("owner_b", "ts", "trade_id").with_columns(
            new=(pl.col("ts").diff().over("owner_b").fill_null(gap * 2) > gap).cast(pl.Int32))
        selfs = selfs.with_columns(session=pl.col("new").cum_sum().over("owner_b"))
        groups = selfs.group_by("owner_b", "session").agg(
            n=pl.len(), vol=pl.col("quantity").sum(), start=pl.col("ts").min(), end=pl.col("ts").max(),
            ids=pl.col("trade_id"), accounts=pl.col("buyer").append(pl.col("seller")).unique().sort(),
        ).filter(pl.col("n") >= config.min_self_trades).sort("owner_b", "session")
        for owner, _session, n, vol, start, end, ids, accounts in groups.iter_rows():
            start, end = as_dt(start), as_dt(end)
            if not ends_in_window(part.window, end):
                continue
            who = (f"account {accounts[0]} traded with itself" if len(accounts) == 1 else
                   f"accounts {names(accounts)}, all held by customer {owner}, traded with each other")
            out.add(venue=venue, symbol=symbol, accounts=accounts, start=start, end=end,
                    score=clip01(0.7 + 0.03 * n), evidence_ids=ids,
                    explanation=(f"{who} {n} times in {fmt_span(start, end)} on {symbol}, "
                                 f"{fmt_qty(vol)} units ({vol / day_vol:.1%} of the day's volume) with no change "
                                 f"of beneficial owner."))

    def _groups(self, out: AlertBuilder, part: Partition, t: pl.DataFrame, venue: str, symbol: str | None,
                config: WashTradeConfig) -> None:
        # A member's trades between its own accounts inside the group's session are the group's trades too (both
        # sides are the group, nothing changes hands); the links between owners are found without them.
        everything, t = t, t.filter(pl.col("owner_b") != pl.col("owner_s"))
        if t.height == 0:
            return
        t = t.with_columns(lo=pl.min_horizontal("owner_b", "owner_s"), hi=pl.max_horizontal("owner_b", "owner_s"))
        owner_vol = pl.concat([t.select(owner="owner_b", q="quantity"), t.select(owner="owner_s", q="quantity")]) \
            .group_by("owner").agg(vol=pl.col("q").sum())
        total = float(t["quantity"].sum())
        edges = t.group_by("lo", "hi").agg(n=pl.len(), vol=pl.col("quantity").sum()) \
            .filter(pl.col("n") >= config.min_edge_trades)
        edges = edges.join(owner_vol.rename({"owner": "lo", "vol": "vol_lo"}), on="lo") \
            .join(owner_vol.rename({"owner": "hi", "vol": "vol_hi"}), on="hi") \
            .filter((pl.col("vol") >= config.min_edge_share * pl.max_horizontal("vol_lo", "vol_hi"))
                    & (pl.col("vol") * 2 * total >= config.min_lift * pl.col("vol_lo") * pl.col("vol_hi")))
        if edges.height == 0:
            return
        comp = _components(edges.select("lo", "hi").iter_rows())
        cmap = pl.DataFrame({"owner": list(comp), "comp": list(comp.values())}, schema={"owner": pl.String,
                                                                                      "comp": pl.String})
        intra = everything.join(cmap.rename({"owner": "owner_b", "comp": "cb"}), on="owner_b") \
            .join(cmap.rename({"owner": "owner_s", "comp": "cs"}), on="owner_s") \
            .filter(pl.col("cb") == pl.col("cs"))
        # Sessions: the group's trades with gaps of at most max_gap_minutes; an incident is a session.
        gap = dt.timedelta(minutes=config.max_gap_minutes)
        intra = intra.sort("cb", "ts").with_columns(
            new=(pl.col("ts").diff().over("cb").fill_null(gap * 2) > gap).cast(pl.Int32))
        intra = intra.with_columns(cb=pl.col("cb") + ":" + pl.col("new").cum_sum().over("cb").cast(pl.String))
        net = pl.concat([intra.select("cb", owner="owner_b", q="quantity"),
                         intra.select("cb", owner="owner_s", q=-pl.col("quantity"))]) \
            .group_by("cb", "owner").agg(net=pl.col("q").sum(), gross=pl.col("q").abs().sum()) \
            .group_by("cb").agg(members=pl.len(), max_net=pl.col("net").abs().max())
        groups = intra.group_by("cb").agg(
            n=pl.len(), vol=pl.col("quantity").sum(), start=pl.col("ts").min(), end=pl.col("ts").max(),
            ids=pl.col("trade_id"), accounts=pl.col("buyer").append(pl.col("seller")).unique().sort(),
            vwap_lo=pl.col("price").min(), vwap_hi=pl.col("price").max(),
        ).join(net, on="cb").with_columns(net_share=pl.col("max_net") / pl.col("vol")).filter(
            (pl.col("n") >= config.min_group_trades) & (pl.col("members") <= config.max_ring)
            & (pl.col("net_share") <= config.max_net_share)).sort("cb")
        for row in groups.iter_rows(named=True):
            start, end = as_dt(row["start"]), as_dt(row["end"])
            if not ends_in_window(part.window, end):
                continue
            members, accounts = row["members"], row["accounts"]
            shape = "with each other" if members == 2 else f"around a ring of {members} owners"
            out.add(venue=venue, symbol=symbol, accounts=accounts, start=start, end=end,
                    score=clip01(0.6 + 0.3 * (1 - row["net_share"] / max(config.max_net_share, 1e-9))
                                 + 0.01 * row["n"]),
                    evidence_ids=row["ids"],
                    explanation=(f"accounts {names(accounts)} traded {row['n']} times {shape} in "
                                 f"{fmt_span(start, end)} on {symbol}, {fmt_qty(row['vol'])} units, largest net "
                                 f"position change {row['net_share']:.1%} of that volume."))


DETECTOR = register(WashTradeDetector())
