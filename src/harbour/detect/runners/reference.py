"""Small reference detectors that exercise every runner feature: one partitioned table, two cogrouped
tables with a look-back, partitioning by account, and a whole-window partition with a broadcast table; and one
partitioned by symbol and day across venues (``RefSymbolDay``, not in ``REFERENCE_DETECTORS``), which a read by
venue, symbol and day serves.

They are *not* registered (real runs never include them); tests and the runner documentation use them to
check that both runners cut, feed and collect partitions identically. Written for clarity, not speed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec


class SelfTradeConfig(BaseModel):
    min_trades: int = Field(2, description="self-trades by one account in one partition before an alert")


class RefSelfTrade(Detector[SelfTradeConfig]):
    """Accounts trading with themselves (buyer == seller), per venue, symbol and day."""

    name = "ref_self_trade"
    version = "1.0"
    typology = "wash_trade"
    config_model = SelfTradeConfig

    def describe(self, config: SelfTradeConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("venue", "symbol", "date"),
                        columns={"trades": ("trade_id", "ts", "buyer", "seller", "quantity")})

    def kernel(self, part: Partition, config: SelfTradeConfig) -> pa.Table:
        t = part.tables["trades"].to_pydict()
        hits: dict[str, list[int]] = defaultdict(list)
        for i, (b, s) in enumerate(zip(t["buyer"], t["seller"], strict=True)):
            if b == s:
                hits[b].append(i)
        out = AlertBuilder(self)
        for account, idx in sorted(hits.items()):
            if len(idx) >= config.min_trades:
                out.add(venue=part.key["venue"], symbol=part.key["symbol"], accounts=[account],
                        start=t["ts"][idx[0]], end=t["ts"][idx[-1]], score=min(1.0, len(idx) / 10),
                        evidence_ids=[t["trade_id"][i] for i in idx],
                        explanation=f"account {account} traded with itself {len(idx)} times on {part.key['symbol']}")
        return out.to_table()


class CancelBurstConfig(BaseModel):
    min_cancels: int = Field(3, description="cancels within the look-back before an alert")
    lookback_minutes: int = Field(90, description="how far back cancels are counted")


class RefCancelBurst(Detector[CancelBurstConfig]):
    """An account cancelling many orders within the look-back before one of its own trades."""

    name = "ref_cancel_burst"
    version = "1.0"
    typology = "spoofing"
    config_model = CancelBurstConfig

    def describe(self, config: CancelBurstConfig) -> WorkSpec:
        return WorkSpec(tables=("orders", "trades"), partition_by=("venue", "symbol", "date"),
                        lookback=dt.timedelta(minutes=config.lookback_minutes))

    def kernel(self, part: Partition, config: CancelBurstConfig) -> pa.Table:
        orders = part.tables["orders"].to_pydict()
        trades = part.tables["trades"].to_pydict()
        reach = dt.timedelta(minutes=config.lookback_minutes)
        cancels: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
        for ts, acct, ev, oid in zip(orders["ts"], orders["account"], orders["event"], orders["order_id"],
                                     strict=True):
            if ev == "cancel":
                cancels[acct].append((ts, oid))
        out = AlertBuilder(self)
        for ts, tid, buyer, seller in zip(trades["ts"], trades["trade_id"], trades["buyer"], trades["seller"],
                                          strict=True):
            for acct in sorted({buyer, seller}):
                recent = [(t, o) for t, o in cancels.get(acct, []) if ts - reach <= t <= ts]
                if len(recent) >= config.min_cancels:
                    out.add(venue=part.key["venue"], symbol=part.key["symbol"], accounts=[acct], start=recent[0][0],
                            end=ts, score=0.8, evidence_ids=[tid] + [o for _, o in recent],
                            explanation=f"account {acct} cancelled {len(recent)} orders in the "
                                        f"{config.lookback_minutes} minutes before trade {tid}")
        return out.to_table()


class ActivityConfig(BaseModel):
    min_orders: int = Field(5, description="new orders by one account in the window before an alert")


class RefAccountActivity(Detector[ActivityConfig]):
    """Accounts placing many new orders in the window (partitioned by venue and account)."""

    name = "ref_account_activity"
    version = "1.0"
    typology = "quote_stuffing"
    config_model = ActivityConfig

    def describe(self, config: ActivityConfig) -> WorkSpec:
        return WorkSpec(tables=("orders",), partition_by=("venue", "account"),
                        columns={"orders": ("order_id", "account", "ts", "event")})

    def kernel(self, part: Partition, config: ActivityConfig) -> pa.Table:
        o = part.tables["orders"].to_pydict()
        idx = [i for i, ev in enumerate(o["event"]) if ev == "new"]
        out = AlertBuilder(self)
        if len(idx) >= config.min_orders:
            out.add(venue=part.key["venue"], symbol=None, accounts=[part.key["account"]], start=o["ts"][idx[0]],
                    end=o["ts"][idx[-1]], score=0.5, evidence_ids=[o["order_id"][i] for i in idx],
                    explanation=f"account {part.key['account']} placed {len(idx)} new orders")
        return out.to_table()


class BigTransferConfig(BaseModel):
    min_usd: float = Field(10_000.0, description="withdrawals at or above this USD value are flagged")


class RefBigWithdrawal(Detector[BigTransferConfig]):
    """Large withdrawals by individual accounts (whole window; accounts broadcast to name the customer)."""

    name = "ref_big_withdrawal"
    version = "1.0"
    typology = "rapid_movement"
    config_model = BigTransferConfig

    def describe(self, config: BigTransferConfig) -> WorkSpec:
        return WorkSpec(tables=("transfers",), partition_by=(), broadcast=("accounts",))

    def kernel(self, part: Partition, config: BigTransferConfig) -> pa.Table:
        acc = part.broadcast["accounts"].to_pydict()
        kind = {(v, a): k for v, a, k in zip(acc["venue"], acc["account"], acc["account_type"], strict=True)}
        t = part.tables["transfers"].to_pydict()
        out = AlertBuilder(self)
        for i in range(len(t["transfer_id"])):
            venue, party = t["venue"][i], t["from_party"][i]
            account = party.split(":", 1)[1] if party.startswith(venue + ":") else party
            if t["kind"][i] == "withdrawal" and t["usd_value"][i] >= config.min_usd \
                    and kind.get((venue, account)) == "individual":
                out.add(venue=venue, symbol=None, accounts=[account], start=t["ts"][i], end=t["ts"][i], score=0.6,
                        evidence_ids=[t["transfer_id"][i]],
                        explanation=f"individual account {account} withdrew ${t['usd_value'][i]:,.0f}")
        return out.to_table()


class SymbolDayConfig(BaseModel):
    lookback_minutes: int = Field(30, description="how far before its day a partition reaches")


class RefSymbolDay(Detector[SymbolDayConfig]):
    """Every venue's trades of one symbol and day, with a look-back, in one partition (a coarser partitioning than
    the others'): one alert a partition naming every trade in the order the runner handed them, and a checksum
    of all their columns, so any difference in the rows, their order or their values shows."""

    name = "ref_symbol_day"
    version = "1.0"
    typology = "cross_venue"
    config_model = SymbolDayConfig

    def describe(self, config: SymbolDayConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("symbol", "date"),
                        lookback=dt.timedelta(minutes=config.lookback_minutes))

    def kernel(self, part: Partition, config: SymbolDayConfig) -> pa.Table:
        trades = part.tables["trades"]
        out = AlertBuilder(self)
        if trades.num_rows == 0:
            return out.to_table()
        rows = trades.to_pylist()
        checksum = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
        venues = sorted({r["venue"] for r in rows})
        out.add(venue=",".join(venues), symbol=part.key["symbol"], accounts=[], start=rows[0]["ts"],
                end=part.window.start if part.window.start else rows[-1]["ts"], score=0.5,
                evidence_ids=[f"{r['venue']}:{r['trade_id']}" for r in rows],
                explanation=f"{len(rows)} trades of {part.key['symbol']} on {len(venues)} venues, columns {checksum}")
        return out.to_table()


REFERENCE_DETECTORS: tuple[Detector[Any], ...] = (
    RefSelfTrade(), RefCancelBurst(), RefAccountActivity(), RefBigWithdrawal(),
)
