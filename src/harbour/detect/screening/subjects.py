"""Who gets screened: customers (the lake's accounts), counterparties named in transfers' travel-rule
fields, and the chain addresses that transfers touch. Read with DuckDB from the Parquet lake."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harbour.data.lake import Lake
from harbour.detect.screening.addresses import KNOWN_CHAINS

MAX_COUNTERPARTIES = 200_000


@dataclass(frozen=True)
class Subject:
    kind: str  # customer, counterparty or address
    key: str  # venue:account, venue:counterparty:name, or venue:chain:address
    name: str
    venue: str
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def lake_subjects(lake_root: Path) -> list[Subject]:
    """Every customer account, counterparty name and chain address in the lake at ``lake_root``."""
    root = Path(lake_root)
    if not root.exists():
        return []
    with Lake(root) as lake:
        return _customers(lake) + _counterparties(lake) + _addresses(lake)


def _customers(lake: Lake) -> list[Subject]:
    rel = lake.table("accounts", columns=["venue", "account", "customer_id", "name", "country"]).relation
    return [
        Subject("customer", f"{venue}:{account}", name, venue, {"customer_id": customer, "country": country})
        for venue, account, customer, name, country in rel.fetchall()
        if name
    ]


def _counterparties(lake: Lake) -> list[Subject]:
    # The other side of a transfer: the originator of a deposit, the beneficiary of a withdrawal.
    query = f"""
        SELECT DISTINCT venue, name FROM (
            SELECT venue, originator_name AS name FROM ({lake.table('transfers').query}) WHERE kind = 'deposit'
            UNION ALL
            SELECT venue, beneficiary_name AS name FROM ({lake.table('transfers').query}) WHERE kind = 'withdrawal'
        ) WHERE name IS NOT NULL AND name <> '' LIMIT {MAX_COUNTERPARTIES}
    """
    rows = lake.connection.sql(query).fetchall()
    return [Subject("counterparty", f"{venue}:counterparty:{name}", name, venue) for venue, name in rows]


def _addresses(lake: Lake) -> list[Subject]:
    query = f"""
        SELECT DISTINCT venue, party FROM (
            SELECT venue, from_party AS party FROM ({lake.table('transfers').query})
            UNION ALL
            SELECT venue, to_party AS party FROM ({lake.table('transfers').query})
        ) WHERE party LIKE '%:%'
    """
    out = []
    for venue, party in lake.connection.sql(query).fetchall():
        prefix = party.split(":", 1)[0].lower()
        if prefix in KNOWN_CHAINS or prefix in ("tron", "ethereum", "bitcoin"):
            out.append(Subject("address", f"{venue}:{party}", party, venue))
    return out
