"""Ground truth: gathers each incident's evidence ids and time span while books and transfers are written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from harbour.data.generate.book import EV_EXPIRE, BookResult
from harbour.data.schemas import LABELS

if TYPE_CHECKING:
    from harbour.data.generate.incidents.base import Incident
    from harbour.data.generate.world import World
    from harbour.data.generate.writer import LakeWriter


@dataclass
class Evidence:
    ids: list[str] = field(default_factory=list)
    start: int | None = None
    end: int | None = None

    def add(self, ids: list[str], times: np.ndarray) -> None:
        if not ids:
            return
        self.ids.extend(ids)
        lo, hi = int(times.min()), int(times.max())
        self.start = lo if self.start is None else min(self.start, lo)
        self.end = hi if self.end is None else max(self.end, hi)

    def merge(self, other: Evidence) -> None:
        """Append what another venue-day found of the same incident (ids keep their order of arrival)."""
        if other.start is None or other.end is None:
            return
        self.add(other.ids, np.array([other.start, other.end], np.int64))


class LabelCollector:
    def __init__(self, world: World, incidents: list[Incident]) -> None:
        self.world = world
        self.incidents = incidents
        self.evidence = [Evidence() for _ in incidents]

    def collect_book(self, tag_of_key: np.ndarray, res: BookResult, order_ids: pa.Array, trade_ids: pa.Array,
                     epoch_us: int) -> None:
        ev_tag = tag_of_key[res.ev_key]
        real = res.ev_kind != EV_EXPIRE  # an order left to expire at midnight does not stretch the span
        buy_tag, sell_tag = tag_of_key[res.tr_buy], tag_of_key[res.tr_sell]
        for tag in np.unique(ev_tag[ev_tag >= 0]):
            inc = self.incidents[int(tag)]
            mine = (ev_tag == tag) & real
            keys = np.unique(res.ev_key[mine])
            self.evidence[tag].add(order_ids.take(pa.array(keys)).to_pylist(), res.ev_ts[mine] + epoch_us)
            both = (buy_tag == tag) & (sell_tag == tag)
            trades = both if inc.both_sides else (buy_tag == tag) | (sell_tag == tag)
            idx = np.flatnonzero(trades)
            if len(idx):
                self.evidence[tag].add(trade_ids.take(pa.array(idx)).to_pylist(), res.tr_ts[idx] + epoch_us)

    def collect_transfers(self, tag: int, ids: list[str], times_us: np.ndarray) -> None:
        self.evidence[tag].add(ids, times_us)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for inc, ev in zip(self.incidents, self.evidence, strict=True):
            if ev.ids:
                out[inc.typology] = out.get(inc.typology, 0) + 1
        return out

    def write(self, writer: LakeWriter) -> None:
        rows = [(inc, ev) for inc, ev in zip(self.incidents, self.evidence, strict=True) if ev.ids]
        table = pa.table({
            "incident_id": [inc.incident_id for inc, _ in rows],
            "typology": [inc.typology for inc, _ in rows],
            "venue": [inc.venue for inc, _ in rows],
            "symbol": pa.array([inc.symbol for inc, _ in rows], pa.string()),
            "accounts": pa.array([inc.label_accounts(self.world) for inc, _ in rows], pa.list_(pa.string())),
            "start": pa.array([ev.start for _, ev in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "end": pa.array([ev.end for _, ev in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "evidence_ids": pa.array([list(dict.fromkeys(ev.ids)) for _, ev in rows], pa.list_(pa.string())),
        })
        writer.write("labels", table.cast(LABELS), "labels")
