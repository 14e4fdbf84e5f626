"""In-memory recent history for real-time scoring: per-party rolling windows, bounded in size.

Each party (``venue:account`` or ``chain:address``) keeps its transfers of the last ``window`` as a deque
of small tuples plus running sums, so a score reads a handful of numbers instead of scanning history.
Parties are kept in LRU order and the least recently seen are evicted beyond ``max_parties``; a party
keeps at most ``max_events`` events. Rebuilt from the lake's transfers at start-up::

    state = TransferState.from_lake(lake_root, listed={"eth:0xabc…"})
    state.add(transfer)
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

from harbour.detect.screening.addresses import normalise_party

log = logging.getLogger(__name__)

WINDOW_SECONDS = 24 * 3600
MAX_PARTIES = 500_000
MAX_EVENTS = 256
RECENT_IDS = 200_000


@dataclass(slots=True)
class Event:
    ts: float  # epoch seconds
    usd: float
    outgoing: bool
    counterparty: str
    listed: bool  # the counterparty is a listed address


@dataclass(slots=True)
class PartyWindow:
    events: deque[Event] = field(default_factory=deque)
    in_usd: float = 0.0
    out_usd: float = 0.0
    in_count: int = 0
    out_count: int = 0
    listed_usd: float = 0.0

    def add(self, event: Event, window: float, max_events: int) -> None:
        self.events.append(event)
        self._count(event, 1)
        self.expire(event.ts - window)
        while len(self.events) > max_events:
            self._count(self.events.popleft(), -1)

    def expire(self, cutoff: float) -> None:
        while self.events and self.events[0].ts < cutoff:
            self._count(self.events.popleft(), -1)

    def _count(self, event: Event, sign: int) -> None:
        if event.outgoing:
            self.out_usd += sign * event.usd
            self.out_count += sign
        else:
            self.in_usd += sign * event.usd
            self.in_count += sign
        if event.listed:
            self.listed_usd += sign * event.usd

    def since(self, cutoff: float) -> tuple[float, float, int, int]:
        """(in_usd, out_usd, in_count, out_count) of the events at or after ``cutoff`` (newest first scan)."""
        in_usd = out_usd = 0.0
        in_n = out_n = 0
        for event in reversed(self.events):
            if event.ts < cutoff:
                break
            if event.outgoing:
                out_usd += event.usd
                out_n += 1
            else:
                in_usd += event.usd
                in_n += 1
        return in_usd, out_usd, in_n, out_n

    def counterparties(self) -> set[str]:
        return {e.counterparty for e in self.events}

    def near_threshold(self, low: float, high: float, cutoff: float) -> int:
        return sum(1 for e in self.events if e.outgoing and e.ts >= cutoff and low <= e.usd < high)


class TransferState:
    """Recent history of every party, plus the accounts known per venue and the listed addresses."""

    def __init__(self, *, window: float = WINDOW_SECONDS, max_parties: int = MAX_PARTIES,
                 max_events: int = MAX_EVENTS, listed: set[str] | None = None,
                 accounts: set[str] | None = None) -> None:
        self.window = window
        self.max_parties = max_parties
        self.max_events = max_events
        self.parties: OrderedDict[str, PartyWindow] = OrderedDict()
        self.listed: set[str] = set(listed or ())
        self.accounts: set[str] = set(accounts or ())
        self.venues: set[str] = {a.split(":", 1)[0] for a in self.accounts}
        self.recent_ids: OrderedDict[str, None] = OrderedDict()
        self.lock = threading.Lock()
        self.loaded_transfers = 0

    def party(self, key: str) -> PartyWindow | None:
        window = self.parties.get(key)
        if window is not None:
            self.parties.move_to_end(key)
        return window

    def is_listed(self, party: str) -> bool:
        if not self.listed or ":" not in party:
            return False
        normal = normalise_party(party)
        return normal is not None and normal in self.listed

    def seen(self, venue: str, transfer_id: str) -> bool:
        return f"{venue}|{transfer_id}" in self.recent_ids

    def add(self, venue: str, transfer_id: str, ts: float, usd: float, from_party: str, to_party: str) -> None:
        """Record one transfer on both parties' windows."""
        from_listed, to_listed = self.is_listed(from_party), self.is_listed(to_party)
        self._touch(from_party).add(Event(ts, usd, True, to_party, to_listed), self.window, self.max_events)
        self._touch(to_party).add(Event(ts, usd, False, from_party, from_listed), self.window, self.max_events)
        self.recent_ids[f"{venue}|{transfer_id}"] = None
        if len(self.recent_ids) > RECENT_IDS:
            self.recent_ids.popitem(last=False)

    def _touch(self, key: str) -> PartyWindow:
        window = self.parties.get(key)
        if window is None:
            window = self.parties[key] = PartyWindow()
            if len(self.parties) > self.max_parties:
                self.parties.popitem(last=False)  # the least recently seen party goes
        else:
            self.parties.move_to_end(key)
        return window

    @classmethod
    def from_lake(cls, lake_root: Path, *, listed: set[str] | None = None, window: float = WINDOW_SECONDS,
                  **kwargs: int) -> TransferState:
        """Accounts and the last ``window`` of transfers (up to the newest one in the lake)."""
        from harbour.data.lake import Lake

        state = cls(window=window, listed=listed, **kwargs)  # type: ignore[arg-type]
        root = Path(lake_root)
        if not root.exists():
            return state
        with Lake(root) as lake:
            accounts = lake.table("accounts", columns=["venue", "account"]).relation.fetchall()
            state.accounts = {f"{v}:{a}" for v, a in accounts}
            state.venues = {v for v, _ in accounts}
            newest = lake.connection.sql(f"SELECT max(ts) FROM ({lake.table('transfers').query})").fetchall()[0][0]
            if newest is None:
                return state
            start = newest - dt.timedelta(seconds=window)
            rows = lake.table("transfers", start=start, columns=[
                "venue", "transfer_id", "ts", "usd_value", "from_party", "to_party"]).relation.order("ts")
            for venue, tid, ts, usd, src, dst in rows.fetchall():
                state.add(venue, tid, ts.timestamp(), float(usd or 0.0), src, dst)
                state.loaded_transfers += 1
        log.info("real-time state: %d accounts, %d transfers of the last %.0f h, %d parties",
                 len(state.accounts), state.loaded_transfers, window / 3600, len(state.parties))
        return state
