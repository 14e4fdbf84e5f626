"""Straightforward pandas baselines of the market-abuse detectors (the bench's reference point).

One function per detector, each taking pandas DataFrames of whole tables (trades, orders, accounts,
announcements; canonical columns) and returning a DataFrame of alerts with columns
``detector, venue, symbol, accounts, start, end``. They follow the same logic and default thresholds as the
kernels in ``harbour.detect.market`` (see docs/detectors/market.md), written the way an analyst would in
pandas: ``groupby`` per venue/symbol/day, ``merge``, boolean masks; single-threaded; no explanation
sentences. They are for speed comparison, not for production.

Run ``python bench/baselines/market_pandas.py LAKE`` to time each baseline against the Polars kernel on the
same data in the same process (prints rows/s and the ratio).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ALERT_COLUMNS = ["detector", "venue", "symbol", "accounts", "start", "end"]


def _alerts(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def _owners(trades: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    m = accounts[["venue", "account", "customer_id"]].drop_duplicates(["venue", "account"])
    t = trades.merge(m.rename(columns={"account": "buyer", "customer_id": "owner_b"}), on=["venue", "buyer"],
                     how="left")
    t = t.merge(m.rename(columns={"account": "seller", "customer_id": "owner_s"}), on=["venue", "seller"],
                how="left")
    t["owner_b"] = t["owner_b"].fillna(t["buyer"])
    t["owner_s"] = t["owner_s"].fillna(t["seller"])
    t["date"] = t["ts"].dt.date
    return t


def _find(parent: dict[str, str], a: str) -> str:
    while parent.setdefault(a, a) != a:
        a = parent[a]
    return a


def wash_trade(trades: pd.DataFrame, accounts: pd.DataFrame, min_self: int = 3, min_group: int = 6,
               min_share: float = 0.1, min_lift: float = 5.0, max_net: float = 0.8) -> pd.DataFrame:
    t = _owners(trades, accounts)
    rows = []
    for (venue, symbol, _), g in t.groupby(["venue", "symbol", "date"]):
        selfs = g[g.owner_b == g.owner_s]
        for _, s in selfs.groupby("owner_b"):
            if len(s) >= min_self:
                rows.append(dict(detector="wash_trade", venue=venue, symbol=symbol,
                                 accounts=sorted(set(s.buyer) | set(s.seller)), start=s.ts.min(), end=s.ts.max()))
        x = g[g.owner_b != g.owner_s].copy()
        x["lo"] = np.minimum(x.owner_b, x.owner_s)
        x["hi"] = np.maximum(x.owner_b, x.owner_s)
        vol = pd.concat([x.groupby("owner_b").quantity.sum(), x.groupby("owner_s").quantity.sum()]) \
            .groupby(level=0).sum()
        total = x.quantity.sum()
        e = x.groupby(["lo", "hi"]).quantity.agg(["size", "sum"]).reset_index()
        e = e[e["size"] >= 2]
        e["vlo"], e["vhi"] = e.lo.map(vol), e.hi.map(vol)
        e = e[(e["sum"] >= min_share * np.maximum(e.vlo, e.vhi)) & (e["sum"] * 2 * total >= min_lift * e.vlo * e.vhi)]
        parent: dict[str, str] = {}
        for lo, hi in zip(e.lo, e.hi, strict=True):
            parent[max(_find(parent, lo), _find(parent, hi))] = min(_find(parent, lo), _find(parent, hi))
        comp = {a: _find(parent, a) for a in list(parent)}
        x = x[x.owner_b.map(comp).notna() & (x.owner_b.map(comp) == x.owner_s.map(comp))].sort_values("ts")
        x["comp"] = x.owner_b.map(comp)
        for _, c in x.groupby("comp"):
            session = (c.ts.diff() > pd.Timedelta(minutes=30)).cumsum()
            for _, s in c.groupby(session):
                net = pd.concat([s.groupby("owner_b").quantity.sum(), -s.groupby("owner_s").quantity.sum()]) \
                    .groupby(level=0).sum()
                if len(s) >= min_group and len(net) <= 5 and net.abs().max() <= max_net * s.quantity.sum():
                    rows.append(dict(detector="wash_trade", venue=venue, symbol=symbol,
                                     accounts=sorted(set(s.buyer) | set(s.seller)), start=s.ts.min(), end=s.ts.max()))
    return _alerts(rows)


def _pressure(trades: pd.DataFrame, orders: pd.DataFrame, name: str, layered: bool, size_multiple: float = 3.0,
              order_multiple: float = 8.0, max_life: float = 120.0, max_fill: float = 0.1, imbalance: float = 5.0,
              coincidence: float = 0.01, levels: int = 3) -> pd.DataFrame:
    rows = []
    o = orders.assign(date=orders.ts.dt.date)
    t = trades.assign(date=trades.ts.dt.date)
    for (venue, symbol, day), g in o.groupby(["venue", "symbol", "date"]):
        tr = t[(t.venue == venue) & (t.symbol == symbol) & (t.date == day)]
        fills = pd.concat([tr.groupby("buy_order_id").quantity.sum(), tr.groupby("sell_order_id").quantity.sum()])
        new = g[g.event == "new"]
        median = new.quantity.median()
        life = g.groupby("order_id").agg(account=("account", "first"), side=("side", "first"),
                                         otype=("order_type", "first"), size=("quantity", "max"))
        life["placed"] = new.groupby("order_id").ts.min()
        life["price"] = new.groupby("order_id").price.first()
        life["cancelled"] = g[g.event.isin(["cancel", "expire"])].groupby("order_id").ts.max()
        life["filled"] = fills.groupby(level=0).sum().reindex(life.index).fillna(0.0)
        bait = life[(life.otype == "limit") & life.cancelled.notna() & (life.filled <= max_fill * life["size"])
                    & (life["size"] >= size_multiple * median)
                    & ((life.cancelled - life.placed).dt.total_seconds() <= max_life)]
        legs = pd.concat([tr.assign(account=tr.buyer, side="buy"), tr.assign(account=tr.seller, side="sell")])
        day_s = max((tr.ts.max() - tr.ts.min()).total_seconds(), 3600.0) if len(tr) else 86400.0
        for (acct, side), b in bait.sort_values("placed").groupby(["account", "side"]):
            ep = (b.placed > b.cancelled.cummax().shift()).cumsum()
            for _, e in b.groupby(ep):
                start, end = e.placed.min(), e.cancelled.max()
                opp = legs[(legs.account == acct) & (legs.side != side) & (legs.ts >= start)
                           & (legs.ts <= end + pd.Timedelta(seconds=5))]
                n_opp = len(legs[(legs.account == acct) & (legs.side != side)])
                p = 1 - np.exp(-n_opp / day_s * (end - start).total_seconds())
                if (len(opp) and e["size"].sum() >= imbalance * opp.quantity.sum() and p <= coincidence
                        and e["size"].max() >= order_multiple * median and end > opp.ts.min()
                        and (e.price.nunique() >= levels) == layered):
                    rows.append(dict(detector=name, venue=venue, symbol=symbol, accounts=[acct], start=start, end=end))
    return _alerts(rows)


def spoofing(trades: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    return _pressure(trades, orders, "spoofing", layered=False)


def layering(trades: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    return _pressure(trades, orders, "layering", layered=True)


def quote_stuffing(orders: pd.DataFrame, min_rate: float = 20.0, min_messages: int = 100, min_share: float = 0.5,
                   min_cancel: float = 0.9, max_fill: float = 0.05) -> pd.DataFrame:
    rows = []
    o = orders.assign(date=orders.ts.dt.date, sec=orders.ts.dt.floor("s"))
    for (venue, symbol, _), g in o.groupby(["venue", "symbol", "date"]):
        msgs = g[g.event != "fill"]
        per = msgs.groupby(["account", "sec"]).size()
        hot = per[per >= min_rate].reset_index()
        all_per_sec = msgs.groupby("sec").size()
        for acct, h in hot.groupby("account"):
            spell = (h.sec.diff() > pd.Timedelta(seconds=2)).cumsum()
            for _, s in h.groupby(spell):
                s0, s1 = s.sec.min(), s.sec.max() + pd.Timedelta(seconds=1)
                mine = g[(g.account == acct) & (g.ts >= s0) & (g.ts < s1)]
                n_msgs = (mine.event != "fill").sum()
                placed = (mine.event == "new").sum()
                if (n_msgs >= min_messages and n_msgs >= min_share * all_per_sec[(all_per_sec.index >= s0)
                                                                                  & (all_per_sec.index < s1)].sum()
                        and mine.event.isin(["cancel", "expire"]).sum() >= min_cancel * placed
                        and mine[mine.event == "fill"].order_id.nunique() <= max_fill * placed):
                    rows.append(dict(detector="quote_stuffing", venue=venue, symbol=symbol, accounts=[acct],
                                     start=mine.ts.min(), end=mine.ts.max()))
    return _alerts(rows)


def _sigma_1m(prices: pd.Series) -> float:
    bars = prices.resample("1min").last().dropna()
    r = np.diff(np.log(bars.to_numpy()))
    return float(1.4826 * np.median(np.abs(r - np.median(r)))) if r.size > 2 else 1e-9


def marking_the_close(trades: pd.DataFrame, accounts: pd.DataFrame, hour: int = 8, windows=(2, 5, 15),
                      min_share: float = 0.3, min_member: float = 0.08, min_sigmas: float = 2.0,
                      concentration: float = 0.3) -> pd.DataFrame:
    rows = []
    t = _owners(trades, accounts)
    for (venue, symbol, day), g in t.groupby(["venue", "symbol", "date"]):
        g = g.sort_values("ts")
        ref = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=hour)
        sigma = _sigma_1m(g.set_index("ts").price)
        day_vol = pd.concat([g.groupby("owner_b").quantity.sum(), g.groupby("owner_s").quantity.sum()]) \
            .groupby(level=0).sum()
        best = None
        for m in windows:
            w = g[(g.ts >= ref - pd.Timedelta(minutes=m)) & (g.ts < ref)]
            before = g[g.ts < ref - pd.Timedelta(minutes=m)]
            if len(w) < 3:
                continue
            move = np.log(w.price.iloc[-1] / (before.price.iloc[-1] if len(before) else w.price.iloc[0]))
            col, side = ("owner_b", "buy") if move > 0 else ("owner_s", "sell")
            agg = w[w.aggressor == side].groupby(col).quantity.sum()
            agg = agg[(agg >= min_member * w.quantity.sum()) & (agg >= concentration * day_vol.reindex(agg.index))]
            agg = agg.sort_values(ascending=False).head(3)
            if agg.sum() >= min_share * w.quantity.sum() and abs(move) >= min_sigmas * sigma * np.sqrt(m):
                legs = w[(w.aggressor == side) & w[col].isin(agg.index)]
                acc = legs.buyer if side == "buy" else legs.seller
                best = dict(detector="marking_the_close", venue=venue, symbol=symbol, accounts=sorted(set(acc)),
                            start=legs.ts.min(), end=legs.ts.max())
        if best:
            rows.append(best)
    return _alerts(rows)


def momentum_ignition(trades: pd.DataFrame, accounts: pd.DataFrame, gap: float = 10.0, min_trades: int = 5,
                      min_share: float = 0.5, min_sigmas: float = 1.0, follow: float = 180.0, post: float = 600.0,
                      min_reverse: float = 0.5, coincidence: float = 0.1) -> pd.DataFrame:
    rows = []
    t = _owners(trades, accounts)
    t = t[t.owner_b != t.owner_s]
    for (venue, symbol, _), g in t.groupby(["venue", "symbol", "date"]):
        g = g.sort_values("ts")
        sigma = _sigma_1m(g.set_index("ts").price)
        day_s = max((g.ts.max() - g.ts.min()).total_seconds(), 3600.0)
        legs = pd.concat([g.assign(owner=g.owner_b, account=g.buyer, sign=1, aggr=g.aggressor == "buy"),
                          g.assign(owner=g.owner_s, account=g.seller, sign=-1, aggr=g.aggressor == "sell")])
        agg = legs[legs.aggr].sort_values(["owner", "ts"])
        agg["burst"] = (agg.groupby("owner").ts.diff() > pd.Timedelta(seconds=gap)).cumsum()
        for (owner, _), b in agg.groupby(["owner", "burst"]):
            q, qs = b.quantity.sum(), (b.quantity * b.sign).sum()
            if len(b) < min_trades or abs(qs) < 0.8 * q:
                continue
            d = np.sign(qs)
            start, end = b.ts.min(), b.ts.max()
            mkt = g[(g.ts >= start) & (g.ts <= end)].quantity.sum()
            before = g[g.ts < start].price
            p0 = before.iloc[-1] if len(before) else b.price.iloc[0]
            reach = g[(g.ts >= start) & (g.ts <= end + pd.Timedelta(seconds=follow))].price
            move = np.log((reach.max() if d > 0 else reach.min()) / p0)
            span = max((end - start).total_seconds() / 60, 1.0)
            back = legs[(legs.owner == owner) & (legs.sign == -d) & (legs.ts > end)
                        & (legs.ts <= end + pd.Timedelta(seconds=post))]
            rate = (len(legs[(legs.owner == owner) & (legs.sign == -d)]) - len(back)) / day_s
            if (q >= min_share * mkt and d * move >= min_sigmas * sigma * np.sqrt(span)
                    and back.quantity.sum() >= min_reverse * q and 1 - np.exp(-max(rate, 0) * post) <= coincidence):
                rows.append(dict(detector="momentum_ignition", venue=venue, symbol=symbol,
                                 accounts=sorted(set(b.account) | set(back.account)), start=start, end=back.ts.max()))
    return _alerts(rows)


def front_running(trades: pd.DataFrame, accounts: pd.DataFrame, size_multiple: float = 20.0, pre: float = 30.0,
                  post: float = 600.0, min_ratio: float = 0.05, min_share: float = 0.25, min_unwind: float = 0.5,
                  coincidence: float = 0.01) -> pd.DataFrame:
    rows = []
    t = _owners(trades, accounts)
    t = t[t.owner_b != t.owner_s]
    for (venue, symbol, _), g in t.groupby(["venue", "symbol", "date"]):
        day_s = max((g.ts.max() - g.ts.min()).total_seconds(), 3600.0)
        legs = pd.concat([g.assign(owner=g.owner_b, account=g.buyer, side="buy", aggr=g.aggressor == "buy"),
                          g.assign(owner=g.owner_s, account=g.seller, side="sell", aggr=g.aggressor == "sell")])
        takers = legs[legs.aggr].assign(order_id=lambda x: np.where(x.side == "buy", x.buy_order_id,
                                                                      x.sell_order_id))
        orders = takers.groupby("order_id").agg(qty=("quantity", "sum"), first=("ts", "min"), last=("ts", "max"),
                                                owner=("owner", "first"), side=("side", "first"))
        rates = legs[legs.aggr].groupby(["owner", "side"]).size() / day_s
        for _, o in orders[orders.qty >= size_multiple * orders.qty.median()].iterrows():
            near = legs[(legs.ts >= o["first"] - pd.Timedelta(seconds=pre))
                        & (legs.ts <= o["last"] + pd.Timedelta(seconds=post)) & (legs.owner != o.owner)]
            ahead = near[near.ts < o["first"]]
            mkt = ahead[ahead.side == "buy"].quantity.sum()
            for owner, n in near.groupby("owner"):
                a = n[(n.ts < o["first"]) & (n.side == o.side)]
                bad = n[(n.ts < o["first"]) & (n.side != o.side)].quantity.sum()
                out = n[(n.ts >= o["first"]) & (n.side != o.side)].quantity.sum()
                q = a.quantity.sum()
                p = 1 - np.exp(-rates.get((owner, o.side), 0.0) * pre)
                if (q >= min_ratio * o.qty and q - bad >= min_share * mkt and out >= min_unwind * q
                        and a[a.aggr].quantity.sum() >= 0.5 * q and p <= coincidence and q > 0):
                    rows.append(dict(detector="front_running", venue=venue, symbol=symbol,
                                     accounts=sorted(set(n.account)), start=n.ts.min(), end=max(n.ts.max(), o["last"])))
    return _alerts(rows)


def pump_and_dump(trades: pd.DataFrame, accounts: pd.DataFrame, window_min: int = 360, min_rise: float = 0.03,
                  sigmas: float = 4.0, giveback: float = 0.3, accumulation_min: int = 240,
                  min_share: float = 0.1, member: float = 0.02) -> pd.DataFrame:
    rows = []
    t = _owners(trades, accounts)
    t = t[t.owner_b != t.owner_s]
    for (venue, symbol, _), g in t.groupby(["venue", "symbol", "date"]):
        bars = g.set_index("ts").price.resample("1min").last().dropna()
        if len(bars) < 5:
            continue
        lp = np.log(bars.rolling(9, center=True, min_periods=1).median().to_numpy())
        r = np.diff(np.log(bars.to_numpy()))
        sigma = 1.4826 * np.median(np.abs(r - np.median(r))) or 1e-9
        i = 0
        while i < len(lp):
            lo = max(0, i - window_min)
            trough = lo + int(np.argmin(lp[lo:i + 1]))
            rise = lp[i] - lp[trough]
            if rise >= max(min_rise, sigmas * sigma * np.sqrt(max(i - trough, 1))) and \
                    (i + 1 >= len(lp) or lp[i] >= lp[i + 1:i + 2 + window_min // 4].max()):
                after = lp[i + 1:i + 1 + window_min]
                if after.size and (lp[i] - after.min()) / rise >= giveback:
                    j = i + 1 + int(np.argmin(after))
                    t0 = bars.index[trough] - pd.Timedelta(minutes=accumulation_min)
                    tp, te = bars.index[i] + pd.Timedelta(minutes=1), bars.index[j] + pd.Timedelta(minutes=1)
                    ph = g[(g.ts >= t0) & (g.ts < te)]
                    up = ph.ts < tp
                    bought = ph[up].groupby("owner_b").quantity.sum().sub(ph[up].groupby("owner_s").quantity.sum(),
                                                                         fill_value=0)
                    sold = ph[~up].groupby("owner_s").quantity.sum().sub(ph[~up].groupby("owner_b").quantity.sum(),
                                                                        fill_value=0)
                    vu, vd = ph[up].quantity.sum(), ph[~up].quantity.sum()
                    both = pd.DataFrame({"b": bought, "s": sold}).fillna(0)
                    both = both[(both.b >= member * vu) & (both.s >= member * vd) & (both.s >= 0.3 * both.b)]
                    both = both.sort_values("b", ascending=False).head(6)
                    if len(both) and both.b.sum() >= min_share * vu and both.s.sum() >= min_share * vd:
                        own = ph[ph.owner_b.isin(both.index) | ph.owner_s.isin(both.index)]
                        accs = set(own[own.owner_b.isin(both.index)].buyer) \
                            | set(own[own.owner_s.isin(both.index)].seller)
                        rows.append(dict(detector="pump_and_dump", venue=venue, symbol=symbol, accounts=sorted(accs),
                                         start=own.ts.min(), end=own.ts.max()))
                    i = j
            i += 1
    return _alerts(rows)


def insider_pre_listing(trades: pd.DataFrame, accounts: pd.DataFrame, announcements: pd.DataFrame,
                        pre_h: float = 24.0, post_h: float = 24.0, min_share: float = 0.01, outlier: float = 10.0,
                        directional: float = 0.7, baseline: float = 0.5, exit_share: float = 0.3) -> pd.DataFrame:
    rows = []
    t = _owners(trades, accounts)
    t = t[t.owner_b != t.owner_s]
    listings = announcements[announcements.kind == "listing"]
    for (venue, symbol), g in t.groupby(["venue", "symbol"]):
        legs = pd.concat([g.assign(owner=g.owner_b, account=g.buyer, q=g.quantity),
                          g.assign(owner=g.owner_s, account=g.seller, q=-g.quantity)])
        for at in listings[listings.symbol == symbol].ts:
            pre = pd.Timedelta(hours=pre_h)
            before = g[(g.ts >= at - pre) & (g.ts < at)]
            if before.empty:
                continue
            phase = legs[(legs.ts >= at - 2 * pre) & (legs.ts <= at + pd.Timedelta(hours=post_h))]
            w = np.where(phase.ts < at - pre, "base", np.where(phase.ts < at, "pre", "post"))
            prew = phase[w == "pre"]
            net = prew.groupby("owner").q.sum()
            gross = prew.groupby("owner").q.apply(lambda s: s.abs().sum())
            base = phase[w == "base"].groupby("owner").q.apply(lambda s: s.abs().sum()).reindex(net.index).fillna(0)
            post = phase[(w == "post") & (phase.q < 0)].groupby("owner").q.sum().abs().reindex(net.index).fillna(0)
            ok = (net >= min_share * before.quantity.sum()) & (net >= outlier * net.abs().median()) \
                & (net >= directional * gross) & (base <= baseline * gross) & (post >= exit_share * net)
            for owner in net[ok].index:
                ev = phase[(phase.owner == owner) & (phase.ts >= at - pre)]
                rows.append(dict(detector="insider_pre_listing", venue=venue, symbol=symbol,
                                 accounts=sorted(set(ev.account)), start=ev.ts.min(), end=ev.ts.max()))
    return _alerts(rows)


def cross_venue(trades: pd.DataFrame, accounts: pd.DataFrame, min_sigmas: float = 3.0, min_dev: float = 0.003,
                min_share: float = 0.3, min_trades: int = 3, benefit_min: float = 30.0,
                benefit_ratio: float = 0.25) -> pd.DataFrame:
    rows = []
    acc = accounts.assign(key=accounts.venue + ":" + accounts.account)[["key", "customer_id"]]
    t = trades.assign(date=trades.ts.dt.date, kb=trades.venue + ":" + trades.buyer,
                      ks=trades.venue + ":" + trades.seller, bar=trades.ts.dt.floor("1min"))
    t["owner_b"] = t.kb.map(acc.set_index("key").customer_id).fillna(t.kb)
    t["owner_s"] = t.ks.map(acc.set_index("key").customer_id).fillna(t.ks)
    for (symbol, _), g in t.groupby(["symbol", "date"]):
        vw = (g.price * g.quantity).groupby([g.venue, g.bar]).sum() / g.groupby(["venue", "bar"]).quantity.sum()
        wide = vw.unstack(0)
        for v in wide.columns:
            others = wide.drop(columns=v)
            if others.empty:
                continue
            dev = np.log(wide[v] / others.median(axis=1)).dropna()
            z = dev - dev.median()
            mad = 1.4826 * (dev - dev.median()).abs().median()
            hot = z[(z.abs() >= min_dev) & (z.abs() >= min_sigmas * mad)]
            for sign in (1, -1):
                h = hot[np.sign(hot) == sign]
                if h.empty:
                    continue
                spell = (pd.Series(h.index, index=h.index).diff() > pd.Timedelta(minutes=4)).cumsum()
                for _, s in h.groupby(spell):
                    s0, s1 = s.index.min(), s.index.max() + pd.Timedelta(minutes=1)
                    here = g[(g.venue == v) & (g.ts >= s0) & (g.ts < s1)]
                    side = "buy" if sign > 0 else "sell"
                    col = "owner_b" if sign > 0 else "owner_s"
                    takers = here[here.aggressor != ("sell" if sign > 0 else "buy")]
                    drv = takers.groupby(col).quantity.agg(["size", "sum"])
                    drv = drv[(drv["size"] >= min_trades) & (drv["sum"] >= min_share * here.quantity.sum())]
                    for owner, d in drv.iterrows():
                        other_col = "owner_s" if sign > 0 else "owner_b"
                        around = pd.Timedelta(minutes=benefit_min)
                        el = g[(g.venue != v) & (g[other_col] == owner) & (g.ts >= s0 - around) & (g.ts < s1 + around)]
                        if el.quantity.sum() >= benefit_ratio * d["sum"] and len(el):
                            mine = here[here[col] == owner]
                            rows.append(dict(detector="cross_venue", venue=v, symbol=symbol,
                                             accounts=sorted(set(mine.buyer if side == "buy" else mine.seller)),
                                             start=min(mine.ts.min(), el.ts.min()),
                                             end=max(mine.ts.max(), el.ts.max())))
    return _alerts(rows)


def run_all(trades: pd.DataFrame, orders: pd.DataFrame, accounts: pd.DataFrame,
            announcements: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every baseline, alerts per detector."""
    return {
        "wash_trade": wash_trade(trades, accounts), "spoofing": spoofing(trades, orders),
        "layering": layering(trades, orders), "quote_stuffing": quote_stuffing(orders),
        "marking_the_close": marking_the_close(trades, accounts),
        "momentum_ignition": momentum_ignition(trades, accounts), "front_running": front_running(trades, accounts),
        "pump_and_dump": pump_and_dump(trades, accounts),
        "insider_pre_listing": insider_pre_listing(trades, accounts, announcements),
        "cross_venue": cross_venue(trades, accounts),
    }


def _read(lake: Path, table: str) -> pd.DataFrame:
    import duckdb

    hive = table in ("trades", "orders", "announcements")
    con = duckdb.connect()
    df = con.sql(f"SELECT * {'EXCLUDE (date)' if hive else ''} FROM read_parquet('{lake}/{table}/**/*.parquet', "
                 f"hive_partitioning = {str(hive).lower()}, union_by_name = true)").df()
    con.close()
    return df


def main(lake: Path) -> None:
    """Time each pandas baseline and each Polars kernel on the same lake, in this process."""
    import polars as pl

    import harbour.detect.market  # noqa: F401
    from harbour.detect.framework import REGISTRY, Partition

    tables = {n: _read(lake, n) for n in ("trades", "orders", "accounts", "announcements")}
    n_rows = len(tables["trades"]) + len(tables["orders"])
    print(f"lake {lake}: {len(tables['trades']):,} trades, {len(tables['orders']):,} order events")
    pl_tables = {n: pl.from_pandas(df) for n, df in tables.items()}
    broadcast = {"accounts": pl_tables["accounts"].to_arrow(), "announcements": pl_tables["announcements"].to_arrow()}
    trades = pl_tables["trades"].with_columns(date=pl.col("ts").dt.date())
    orders = pl_tables["orders"].with_columns(date=pl.col("ts").dt.date())
    args = {"wash_trade": ("trades", "accounts"), "spoofing": ("trades", "orders"), "layering": ("trades", "orders"),
            "quote_stuffing": ("orders",), "insider_pre_listing": ("trades", "accounts", "announcements")}
    print(f"{'detector':20s} {'kernel s':>9s} {'pandas s':>9s} {'ratio':>7s} {'kernel rows/s':>14s}")
    total_k = total_p = 0.0
    for name in REGISTRY.names():
        d = REGISTRY.get(name)
        keys = list(d.describe(d.default_config()).partition_by)
        reads_orders = "orders" in d.describe(d.default_config()).tables
        t0 = time.perf_counter()
        by_t = trades.partition_by(keys, as_dict=True)
        by_o = orders.partition_by(keys, as_dict=True) if reads_orders else {}
        for k in sorted(by_t):
            tabs = {"trades": by_t[k].drop("date").to_arrow()}
            if k in by_o:
                tabs["orders"] = by_o[k].drop("date").to_arrow()
            d.kernel(Partition(dict(zip(keys, k, strict=True)), tabs, broadcast=broadcast), d.default_config())
        k_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fn = globals()[name]
        fn(*[tables[a] for a in args.get(name, ("trades", "accounts"))])
        p_s = time.perf_counter() - t0
        total_k, total_p = total_k + k_s, total_p + p_s
        print(f"{name:20s} {k_s:9.2f} {p_s:9.2f} {p_s / k_s:7.1f}x {n_rows / k_s:14,.0f}")
    print(f"{'suite':20s} {total_k:9.2f} {total_p:9.2f} {total_p / total_k:7.1f}x {n_rows / total_k:14,.0f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
