"""A tiny lake (accounts and transfers) for the screening and real-time tests; their conftests re-export it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harbour.data.layout import partition_dir
from harbour.data.schemas import ACCOUNTS, TRANSFERS

EVM = "0x7F367cC41522cE07553e823bf3be79A889DEbe1B"
T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


def write_lake(root: Path, accounts: list[dict], transfers: list[dict]) -> None:
    by_venue: dict[str, list[dict]] = {}
    for row in accounts:
        by_venue.setdefault(row["venue"], []).append(row)
    for venue, rows in by_venue.items():
        folder = partition_dir(root, "accounts", venue=venue)
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=ACCOUNTS), folder / "part-0.parquet")
    by_day: dict[tuple[str, dt.date], list[dict]] = {}
    for row in transfers:
        by_day.setdefault((row["venue"], row["ts"].date()), []).append(row)
    for (venue, day), rows in by_day.items():
        folder = partition_dir(root, "transfers", venue=venue, date=day)
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=TRANSFERS), folder / "part-0.parquet")


def account(venue: str, acc: str, name: str) -> dict:
    return {"venue": venue, "account": acc, "customer_id": f"c-{acc}", "name": name, "country": "HK",
            "account_type": "individual", "opened_at": T0 - dt.timedelta(days=30)}


def transfer(venue: str, tid: str, src: str, dst: str, usd: float, kind: str = "deposit", minutes: int = 0,
             **extra: object) -> dict:
    row = {"venue": venue, "transfer_id": tid, "ts": T0 + dt.timedelta(minutes=minutes), "asset": "USDT",
           "amount": usd, "usd_value": usd, "kind": kind, "from_party": src, "to_party": dst, "tx_hash": None,
           "originator_name": None, "originator_account": None, "beneficiary_name": None,
           "beneficiary_account": None, "counterparty_vasp": None}
    row.update(extra)
    return row


@pytest.fixture
def small_lake(settings) -> Path:
    write_lake(
        settings.lake_root,
        [account("HBX", "a1", "Ivan Petrov"), account("HBX", "a2", "Jane Doe"),
         account("HBX", "a3", "Mohamed Al-Rashid"), account("KLN", "k1", "Ivan Petrov")],
        [transfer("HBX", "t1", f"eth:{EVM}", "HBX:a2", 5000.0, originator_name="Dr. Golden Phoenix Trading Ltd"),
         transfer("HBX", "t2", "HBX:a1", "tron:TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE", 900.0, kind="withdrawal")],
    )
    return settings.lake_root
