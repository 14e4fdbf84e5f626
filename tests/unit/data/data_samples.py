"""Small canonical files for ingestion and lake tests, written as a person would write them
(shared by tests/unit/data and tests/integration/data; conftest puts this folder on sys.path)."""

from __future__ import annotations

import csv
from pathlib import Path

VENUE = "HBX"
ACCOUNT_HEADER = ["venue", "account", "customer_id", "name", "country", "account_type", "opened_at"]
TRADE_HEADER = ["venue", "symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller", "aggressor",
                "buy_order_id", "sell_order_id"]


def account_row(account: str, venue: str = VENUE) -> list[str]:
    return [venue, account, f"C-{account}", f"Customer {account}", "HK", "individual", "2024-03-01T09:00:00Z"]


def trade_row(i: int, day: str = "2026-01-05", venue: str = VENUE) -> list[str]:
    return [venue, "BTC/USD", f"T{i}", f"{day}T10:{i % 60:02d}:00Z", f"{100 + i}.5", "1.25", "A1", "A2", "buy",
            f"B{i}", f"S{i}"]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def snapshot(root: Path) -> dict[str, int]:
    """Every file under the lake (except the lock) with its size: equal snapshots = unchanged store."""
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".writer.lock"}
