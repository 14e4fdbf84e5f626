"""A small, seeded Parquet lake in the layout of :mod:`harbour.data.layout`, with a few planted patterns
(self-trades, cancel bursts before trades, busy accounts, large withdrawals). Runner tests, the runner docs
and a quick ``harbour surveil`` try-out use it; real markets come from ``harbour generate`` or ingestion.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harbour.data.layout import partition_dir
from harbour.data.schemas import ACCOUNTS, ANNOUNCEMENTS, ORDERS, TRADES, TRANSFERS

START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
SYMBOLS = ("BTC/USD", "ETH/USD")


def _write(root: Path, table: str, schema: pa.Schema, rows: dict[str, list], venue: str,
           day: dt.date | None) -> None:
    data = pa.Table.from_pydict(rows, schema=schema)
    folder = partition_dir(root, table, venue, day)
    folder.mkdir(parents=True, exist_ok=True)
    if day is not None:  # the layout keeps partition columns inside the files too
        data = data.append_column("date", pa.array([day] * data.num_rows, pa.date32()))
    pq.write_table(data, folder / "part-0.parquet")


def write_sample_lake(root: Path, *, seed: int = 7, days: int = 3, trades_per_day: int = 300,
                      venues: tuple[str, ...] = ("HBX", "KBT"), accounts_per_venue: int = 40) -> dict[str, int]:
    """Write the lake under ``root``; return row counts per table."""
    rng = np.random.default_rng(seed)
    counts = {"trades": 0, "orders": 0, "transfers": 0, "accounts": 0}
    for venue in venues:
        accts = [f"{venue[:1].lower()}{i:04d}" for i in range(accounts_per_venue)]
        kinds = ["individual"] * (accounts_per_venue - 4) + ["corporate", "house", "market_maker", "market_maker"]
        _write(root, "accounts", ACCOUNTS, {
            "venue": [venue] * len(accts), "account": accts, "customer_id": [f"c{i // 2}" for i in range(len(accts))],
            "name": [f"Customer {a}" for a in accts], "country": ["HK"] * len(accts), "account_type": kinds,
            "opened_at": [START - dt.timedelta(days=400)] * len(accts)}, venue, None)
        counts["accounts"] += len(accts)
        for d in range(days):
            day = (START + dt.timedelta(days=d)).date()
            base = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            trades = _trades(rng, venue, day, base, accts, trades_per_day)
            orders = _orders(rng, venue, day, base, accts, trades)
            _write(root, "trades", TRADES, trades, venue, day)
            _write(root, "orders", ORDERS, orders, venue, day)
            transfers = _transfers(rng, venue, day, base, accts)
            _write(root, "transfers", TRANSFERS, transfers, venue, day)
            _write(root, "announcements", ANNOUNCEMENTS, {
                "venue": [venue], "symbol": ["SOL/USD"], "ts": [base + dt.timedelta(hours=12)],
                "kind": ["listing" if d == days - 1 else "other"], "headline": [f"{venue} notice {day}"]}, venue, day)
            counts["trades"] += len(trades["trade_id"])
            counts["orders"] += len(orders["order_id"])
            counts["transfers"] += len(transfers["transfer_id"])
    return counts


def _trades(rng: np.random.Generator, venue: str, day: dt.date, base: dt.datetime, accts: list[str],
            n: int) -> dict[str, list]:
    secs = np.sort(rng.uniform(0, 86_399, n))
    buyers = rng.integers(0, len(accts), n)
    sellers = (buyers + rng.integers(1, len(accts), n)) % len(accts)
    # planted self-trades: one account, a handful of times a day, spread across midnight-sensitive hours
    planted = rng.choice(n, size=min(n, 6), replace=False)
    sellers[planted] = buyers[planted[0]]
    buyers[planted] = buyers[planted[0]]
    sym = rng.integers(0, len(SYMBOLS), n)
    sym[planted] = 0
    return {
        "venue": [venue] * n, "symbol": [SYMBOLS[i] for i in sym],
        "trade_id": [f"{venue}-T{day:%m%d}-{i:05d}" for i in range(n)],
        "ts": [base + dt.timedelta(seconds=float(s)) for s in secs],
        "price": [float(p) for p in np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.001, n))), 4)],
        "quantity": [float(q) for q in np.round(rng.lognormal(0, 1, n), 6) + 0.001],
        "buyer": [accts[i] for i in buyers], "seller": [accts[i] for i in sellers],
        "aggressor": [("buy", "sell")[i] for i in rng.integers(0, 2, n)],
        "buy_order_id": [f"{venue}-O{day:%m%d}-b{i:05d}" for i in range(n)],
        "sell_order_id": [f"{venue}-O{day:%m%d}-s{i:05d}" for i in range(n)],
    }


def _orders(rng: np.random.Generator, venue: str, day: dt.date, base: dt.datetime, accts: list[str],
            trades: dict[str, list]) -> dict[str, list]:
    rows: dict[str, list] = {k: [] for k in ORDERS.names}

    def add(oid: str, acct: str, ts: dt.datetime, event: str, side: str, price: float, qty: float, sym: str) -> None:
        for k, v in zip(ORDERS.names, (venue, sym, oid, acct, ts, event, side, "limit", price, qty), strict=True):
            rows[k].append(v)

    for i, tid in enumerate(trades["trade_id"]):
        ts, sym, price, qty = trades["ts"][i], trades["symbol"][i], trades["price"][i], trades["quantity"][i]
        add(trades["buy_order_id"][i], trades["buyer"][i], ts - dt.timedelta(seconds=2), "new", "buy", price, qty, sym)
        add(trades["buy_order_id"][i], trades["buyer"][i], ts, "fill", "buy", price, 0.0, sym)
        add(trades["sell_order_id"][i], trades["seller"][i], ts - dt.timedelta(seconds=1), "new", "sell", price, qty,
            sym)
        add(trades["sell_order_id"][i], trades["seller"][i], ts, "fill", "sell", price, 0.0, sym)
        # planted cancel bursts (some just after midnight, so look-back crosses days) before a few trades
        if rng.random() < 0.02:
            for j in range(4):
                t0 = ts - dt.timedelta(minutes=float(rng.uniform(1, 80)))
                oid = f"{tid}-c{j}"
                add(oid, trades["buyer"][i], t0, "new", "buy", price * 0.99, qty, sym)
                add(oid, trades["buyer"][i], t0 + dt.timedelta(seconds=20), "cancel", "buy", price * 0.99, 0.0, sym)
    # the layout puts an event in the partition of its own date: drop events that fall before the day
    keep = [k for k, t in enumerate(rows["ts"]) if t.date() == day]
    return {k: [v[i] for i in keep] for k, v in rows.items()}


def _transfers(rng: np.random.Generator, venue: str, day: dt.date, base: dt.datetime,
               accts: list[str]) -> dict[str, list]:
    n = 20
    secs = np.sort(rng.uniform(0, 86_399, n))
    usd = np.round(rng.lognormal(7, 1.5, n), 2)
    kinds = [("deposit", "withdrawal")[i] for i in rng.integers(0, 2, n)]
    who = [accts[i] for i in rng.integers(0, len(accts), n)]
    return {
        "venue": [venue] * n, "transfer_id": [f"{venue}-X{day:%m%d}-{i:03d}" for i in range(n)],
        "ts": [base + dt.timedelta(seconds=float(s)) for s in secs], "asset": ["USDT"] * n,
        "amount": [float(u) for u in usd], "usd_value": [float(u) for u in usd], "kind": kinds,
        "from_party": [f"{venue}:{a}" if k == "withdrawal" else f"eth:0x{i:040x}" for i, (a, k) in
                       enumerate(zip(who, kinds, strict=True))],
        "to_party": [f"eth:0x{i:040x}" if k == "withdrawal" else f"{venue}:{a}" for i, (a, k) in
                     enumerate(zip(who, kinds, strict=True))],
        "tx_hash": [None] * n, "originator_name": [None] * n, "originator_account": [None] * n,
        "beneficiary_name": [None] * n, "beneficiary_account": [None] * n, "counterparty_vasp": [None] * n,
    }
