"""The canonical tables of DESIGN.md as Arrow schemas: the contract between ingestion, the generator,
the detectors and anyone who brings data. Tables may carry more columns than these.

Example::

    from harbour.data.schemas import TABLES, TRADES
    TRADES.field("price").type  # float64
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
F64 = pa.float64()
STR_LIST = pa.list_(pa.string())


def _f(name: str, type_: pa.DataType, nullable: bool = False, doc: str = "") -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc} if doc else None)


TRADES = pa.schema([
    _f("venue", STR, doc="platform code (equals the platform's code in the register)"),
    _f("symbol", STR, doc="instrument, BASE/QUOTE, e.g. BTC/USD"),
    _f("trade_id", STR, doc="unique within the venue"),
    _f("ts", TS, doc="execution time, UTC, microseconds"),
    _f("price", F64, doc="> 0, in the quote currency"),
    _f("quantity", F64, doc="> 0, in the base currency"),
    _f("buyer", STR, doc="buyer's account id within the venue"),
    _f("seller", STR, doc="seller's account id within the venue"),
    _f("aggressor", STR, nullable=True, doc="buy or sell: the side that took liquidity"),
    _f("buy_order_id", STR, nullable=True, doc="the buy order filled"),
    _f("sell_order_id", STR, nullable=True, doc="the sell order filled"),
])

ORDERS = pa.schema([
    _f("venue", STR),
    _f("symbol", STR),
    _f("order_id", STR, doc="unique within the venue; one order has many events"),
    _f("account", STR),
    _f("ts", TS),
    _f("event", STR, doc="new, amend, cancel, fill or expire"),
    _f("side", STR, doc="buy or sell"),
    _f("order_type", STR, doc="limit or market"),
    _f("price", F64, nullable=True, doc="limit price; null for market orders"),
    _f("quantity", F64, doc="open quantity after the event"),
])

TRANSFERS = pa.schema([
    _f("venue", STR),
    _f("transfer_id", STR, doc="unique within the venue"),
    _f("ts", TS),
    _f("asset", STR, doc="e.g. BTC, USDT"),
    _f("amount", F64, doc="> 0, in the asset"),
    _f("usd_value", F64, doc=">= 0, value in USD at the time"),
    _f("kind", STR, doc="deposit, withdrawal, internal or onchain"),
    _f("from_party", STR, doc="venue:account or chain:address"),
    _f("to_party", STR, doc="venue:account or chain:address"),
    _f("tx_hash", STR, nullable=True),
    _f("originator_name", STR, nullable=True, doc="travel rule (IVMS101 originator name)"),
    _f("originator_account", STR, nullable=True),
    _f("beneficiary_name", STR, nullable=True),
    _f("beneficiary_account", STR, nullable=True),
    _f("counterparty_vasp", STR, nullable=True, doc="the other VASP in a VASP-to-VASP transfer"),
])

ACCOUNTS = pa.schema([
    _f("venue", STR),
    _f("account", STR, doc="unique within the venue"),
    _f("customer_id", STR, doc="the person or company; one customer may hold accounts on several venues"),
    _f("name", STR),
    _f("country", STR, doc="ISO 3166-1 alpha-2"),
    _f("account_type", STR, doc="individual, corporate, house or market_maker"),
    _f("opened_at", TS),
])

ANNOUNCEMENTS = pa.schema([
    _f("venue", STR),
    _f("symbol", STR),
    _f("ts", TS),
    _f("kind", STR, doc="listing, delisting or other"),
    _f("headline", STR),
])

LABELS = pa.schema([
    _f("incident_id", STR),
    _f("typology", STR),
    _f("venue", STR),
    _f("symbol", STR, nullable=True),
    _f("accounts", STR_LIST),
    _f("start", TS),
    _f("end", TS),
    _f("evidence_ids", STR_LIST, doc="trade, order or transfer ids"),
])

ALERTS = pa.schema([
    _f("alert_id", STR),
    _f("detector", STR),
    _f("detector_version", STR),
    _f("typology", STR),
    _f("venue", STR),
    _f("symbol", STR, nullable=True),
    _f("accounts", STR_LIST),
    _f("start", TS),
    _f("end", TS),
    _f("score", F64, doc="in [0, 1]"),
    _f("evidence_ids", STR_LIST),
    _f("explanation", STR, doc="one sentence a human can check against the evidence"),
])

TYPOLOGIES = (
    "wash_trade", "spoofing", "layering", "pump_and_dump", "marking_the_close", "insider_pre_listing",
    "front_running", "momentum_ignition", "quote_stuffing", "cross_venue",
    "fan_in", "fan_out", "cycle", "scatter_gather", "gather_scatter", "bipartite", "stack", "structuring",
    "peel_chain", "rapid_movement", "sanctions_exposure", "travel_rule_gap",
)
MARKET_TYPOLOGIES = TYPOLOGIES[:10]
AML_TYPOLOGIES = TYPOLOGIES[10:]

ENUMS: dict[tuple[str, str], frozenset[str]] = {
    ("trades", "aggressor"): frozenset({"buy", "sell"}),
    ("orders", "event"): frozenset({"new", "amend", "cancel", "fill", "expire"}),
    ("orders", "side"): frozenset({"buy", "sell"}),
    ("orders", "order_type"): frozenset({"limit", "market"}),
    ("transfers", "kind"): frozenset({"deposit", "withdrawal", "internal", "onchain"}),
    ("accounts", "account_type"): frozenset({"individual", "corporate", "house", "market_maker"}),
    ("announcements", "kind"): frozenset({"listing", "delisting", "other"}),
    ("labels", "typology"): frozenset(TYPOLOGIES),
    ("alerts", "typology"): frozenset(TYPOLOGIES),
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    key: tuple[str, ...]  # unique within the venue
    time_column: str | None
    partition_by: tuple[str, ...] = ("venue", "date")
    references: dict[str, str] = field(default_factory=dict)  # column -> "table.column"


TABLES: dict[str, TableSpec] = {
    "trades": TableSpec("trades", TRADES, ("venue", "trade_id"), "ts",
                        references={"buyer": "accounts.account", "seller": "accounts.account"}),
    # One order has many events, and one aggressive order may fill several times in the same microsecond;
    # the open quantity after each of those fills differs, so it completes the key of an order event.
    "orders": TableSpec("orders", ORDERS, ("venue", "order_id", "ts", "event", "quantity"), "ts",
                        references={"account": "accounts.account"}),
    "transfers": TableSpec("transfers", TRANSFERS, ("venue", "transfer_id"), "ts"),
    "accounts": TableSpec("accounts", ACCOUNTS, ("venue", "account"), "opened_at", partition_by=("venue",)),
    "announcements": TableSpec("announcements", ANNOUNCEMENTS, (), "ts"),
    "labels": TableSpec("labels", LABELS, ("incident_id",), "start", partition_by=()),
    "alerts": TableSpec("alerts", ALERTS, ("alert_id",), "start", partition_by=()),
}
