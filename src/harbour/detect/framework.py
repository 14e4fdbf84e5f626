"""The detector framework: one shape for every detector, described once and executed by any runner.

A detector *describes* its work — which tables it reads, how they are partitioned, how much look-back
it needs — and supplies a *kernel* that turns one partition (Arrow tables) into alerts (an Arrow table
in the ALERTS schema). Runners (``detect.runners``) decide where the kernel runs: in-process over the
Parquet lake with DuckDB, or on Spark with ``groupBy(...).applyInArrow``. Inside a kernel, use whatever
measures fastest for the typology (DuckDB SQL on the Arrow tables, Polars, numba).

Writing a detector::

    class SelfTradeConfig(BaseModel):
        min_trades: int = Field(3, description="self-trades in one day before an alert")

    class SelfTradeDetector(Detector[SelfTradeConfig]):
        name = "self_trade"
        version = "1.0"
        typology = "wash_trade"
        config_model = SelfTradeConfig

        def describe(self, config):
            return WorkSpec(tables=("trades",), partition_by=("venue", "symbol", "date"))

        def kernel(self, part, config):
            trades = part.tables["trades"]
            ...
            return builder.to_table()

    register(SelfTradeDetector())
"""

from __future__ import annotations

import datetime as dt
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import pyarrow as pa
from pydantic import BaseModel

from harbour.data.schemas import ALERTS, TYPOLOGIES

ConfigT = TypeVar("ConfigT", bound=BaseModel)

# Partition keys a detector may ask for. "date" is the UTC date of each table's time column; a
# detector with partition_by=() sees the whole window at once (e.g. a transfer graph).
PARTITION_KEYS = ("venue", "symbol", "date", "account")


@dataclass(frozen=True)
class WorkSpec:
    """What a detector needs: tables, partitioning and look-back. Runners read this, never the kernel."""

    tables: tuple[str, ...]
    partition_by: tuple[str, ...] = ("venue", "symbol", "date")
    lookback: dt.timedelta = dt.timedelta(0)
    columns: Mapping[str, tuple[str, ...]] | None = None  # projection per table; None = all columns
    # Side tables every partition gets whole (e.g. "accounts" to link accounts of one customer,
    # "announcements" for listings). Keep them small.
    broadcast: tuple[str, ...] = ()
    # The values of some partition keys outside which the kernel raises nothing (e.g. the symbols with a listing
    # announcement, for a detector of buying ahead of listings): runners may skip reading and running the rest.
    only: Mapping[str, frozenset[Any]] | None = None

    def __post_init__(self) -> None:
        unknown = [k for k in self.partition_by if k not in PARTITION_KEYS]
        if unknown:
            raise ValueError(f"unknown partition key(s) {unknown}; choose from {PARTITION_KEYS}")
        stray = [k for k in self.only or {} if k not in self.partition_by or k == "date"]
        if stray:
            raise ValueError(f"'only' names key(s) {stray} the work is not partitioned by (dates excepted)")

    def allows(self, key: Mapping[str, Any]) -> bool:
        """Whether a partition of these key values may raise alerts (``only``)."""
        return self.only is None or all(key.get(k) in values for k, values in self.only.items())


@dataclass(frozen=True)
class Window:
    """The time span to analyse, [start, end). Kernels may see look-back data before ``start`` but
    must only raise alerts that end at or after ``start``."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass
class Partition:
    """One unit of work: the partition's key values and its Arrow tables."""

    key: dict[str, Any]
    tables: dict[str, pa.Table]
    window: Window = field(default_factory=Window)
    broadcast: dict[str, pa.Table] = field(default_factory=dict)
    # Scratch space of the detectors that run on this partition in one read (the in-process runner hands
    # the same dict, and the same table objects for the same projection, to each of them): a kernel may keep
    # work another kernel repeats (e.g. spoofing and layering search the same episodes), under a key that
    # names every input the work used. Results must never depend on it: other runners give each kernel
    # its own empty dict.
    shared: dict[Any, Any] = field(default_factory=dict)
    # Per table, the partition's rows as a runner put them together before their canonical sort, when it did:
    # pieces one after another, each in canonical order (one venue's rows of a symbol-day, say). A kernel whose
    # screen answers the same in any order of the pieces may read them here and never ask ``tables`` for the
    # table, which a runner may then leave unsorted (``OrderedOnUse``). Empty: ``tables`` are as read.
    pieces: dict[str, pa.Table] = field(default_factory=dict)

    def unordered(self, table: str) -> pa.Table | None:
        """``table``'s rows in the order the runner has them at no cost: its pieces, else the table."""
        found = self.pieces.get(table)
        return found if found is not None else self.tables.get(table)


class OrderedOnUse(dict[str, pa.Table]):
    """A partition's tables, each made (put in canonical order) when a kernel first asks for it: a runner that
    put a partition together from pieces sorts it only for the kernels that read it past their screens."""

    def __init__(self, make: dict[str, Callable[[], pa.Table]]) -> None:
        super().__init__()
        self._make = dict(make)

    def __missing__(self, table: str) -> pa.Table:
        if table not in self._make:
            raise KeyError(table)
        made = self[table] = self._make.pop(table)()
        return made

    def get(self, table: str, default: Any = None) -> Any:  # type: ignore[override]
        if table in self:  # noqa: SIM401 - this is get itself: the lookup must go through __missing__
            return self[table]
        return default

    def __contains__(self, table: object) -> bool:
        return dict.__contains__(self, table) or table in self._make

    def __iter__(self) -> Iterator[str]:
        return iter([*dict.keys(self), *self._make])

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._make)

    def keys(self) -> Any:
        return list(self)

    def items(self) -> Any:
        return [(t, self[t]) for t in list(self)]

    def values(self) -> Any:
        return [self[t] for t in list(self)]


class Detector(ABC, Generic[ConfigT]):
    name: ClassVar[str]
    version: ClassVar[str]
    typology: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    description: ClassVar[str] = ""

    def default_config(self) -> ConfigT:
        return self.config_model()  # type: ignore[return-value]

    def bind_to_lake(self, config: ConfigT, lake_root: Path | None) -> ConfigT:
        """Resolve config defaults that depend on the lake being read (e.g. reference lists stored beside
        the tables), before anything runs — so kernels stay pure and every runner sees the same config."""
        return config

    @abstractmethod
    def describe(self, config: ConfigT) -> WorkSpec: ...

    @abstractmethod
    def kernel(self, part: Partition, config: ConfigT) -> pa.Table:
        """Alerts (ALERTS schema) for one partition. Pure: same input, same output, on any runner."""


class DuplicateDetector(ValueError):
    pass


class UnsupportedOperation(RuntimeError):
    """An operation one engine lacks: raised loudly, naming the engine and the operation, never worked around
    silently (e.g. ``spark runner: cogroup of 3 partitioned tables``)."""

    def __init__(self, engine: str, operation: str, hint: str = "") -> None:
        self.engine = engine
        self.operation = operation
        super().__init__(f"{engine}: {operation} is not supported" + (f"; {hint}" if hint else ""))


class Registry:
    """Detectors by name. Built-ins register through the same ``register`` a third party uses."""

    def __init__(self) -> None:
        self._detectors: dict[str, Detector[Any]] = {}

    def register(self, detector: Detector[Any]) -> Detector[Any]:
        if detector.name in self._detectors:
            raise DuplicateDetector(f"a detector named {detector.name!r} is already registered")
        if detector.typology not in TYPOLOGIES:
            raise ValueError(f"detector {detector.name!r}: unknown typology {detector.typology!r}")
        self._detectors[detector.name] = detector
        return detector

    def get(self, name: str) -> Detector[Any]:
        try:
            return self._detectors[name]
        except KeyError:
            raise KeyError(f"no detector named {name!r}; known: {', '.join(sorted(self._detectors))}") from None

    def all(self) -> list[Detector[Any]]:
        return [self._detectors[n] for n in sorted(self._detectors)]

    def names(self) -> list[str]:
        return sorted(self._detectors)


REGISTRY = Registry()


def register(detector: Detector[Any]) -> Detector[Any]:
    return REGISTRY.register(detector)


def alert_id(detector: str, venue: str, symbol: str | None, accounts: Iterable[str], start: dt.datetime,
             end: dt.datetime, evidence_ids: Iterable[str]) -> str:
    """A deterministic id, so every runner produces the same ids for the same alerts."""
    parts = [detector, venue, symbol or "", ",".join(sorted(accounts)), start.isoformat(), end.isoformat(),
             ",".join(sorted(evidence_ids))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


# Most kernel calls raise nothing: one empty table (Arrow tables never change) rather than building one for
# each, ~70 us with the list columns, ten kernels on each of the 10M bench market's ~1,400 partitions.
NO_ALERTS = ALERTS.empty_table()


class AlertBuilder:
    """Collects alerts inside a kernel and returns them as an ALERTS table::

        out = AlertBuilder(self)
        out.add(venue=v, symbol=s, accounts=[a, b], start=t0, end=t1, score=0.9,
                evidence_ids=ids, explanation=f"accounts {a} and {b} traded {n} times ...")
        return out.to_table()
    """

    def __init__(self, detector: Detector[Any]) -> None:
        self.detector = detector
        self.rows: list[dict[str, Any]] = []

    def add(self, *, venue: str, symbol: str | None, accounts: Sequence[str], start: dt.datetime, end: dt.datetime,
            score: float, evidence_ids: Sequence[str], explanation: str) -> None:
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"{self.detector.name}: score {score} outside [0, 1]")
        accounts = sorted(set(accounts))
        evidence = sorted(set(evidence_ids))
        self.rows.append({
            "alert_id": alert_id(self.detector.name, venue, symbol, accounts, start, end, evidence),
            "detector": self.detector.name,
            "detector_version": self.detector.version,
            "typology": self.detector.typology,
            "venue": venue,
            "symbol": symbol,
            "accounts": accounts,
            "start": start,
            "end": end,
            "score": float(score),
            "evidence_ids": evidence,
            "explanation": explanation,
        })

    def to_table(self) -> pa.Table:
        if not self.rows:
            return NO_ALERTS
        return pa.Table.from_pylist(self.rows, schema=ALERTS)
