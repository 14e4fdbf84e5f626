"""Hand-built transfer scenarios: a random background of ordinary customers plus one injected instance of
any typology, with its label. Used by the tests (with seeds, sizes and amounts unlike the generator's),
the docs and ``bench/bench_aml.py`` (its fast synthetic builder for 10M rows).

Example::

    sc = Scenario(seed=3)
    sc.background(accounts=300, transfers=3000)
    sc.inject("fan_in")
    transfers, accounts, labels = sc.tables()
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from harbour.data.schemas import ACCOUNTS, LABELS, TRANSFERS

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@dataclass
class Scenario:
    seed: int = 0
    venues: tuple[str, ...] = ("HBX", "KLN")
    days: int = 4
    rows: list[dict[str, object]] = field(default_factory=list)
    accounts: list[dict[str, object]] = field(default_factory=list)
    labels: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._n = 0

    # --- building blocks -----------------------------------------------------------------------------
    def account(self, venue: str | None = None, customer: str | None = None, kind: str = "individual") -> str:
        venue = venue or getattr(self, "_venue", None) or self.venues[int(self.rng.integers(len(self.venues)))]
        acct = f"{int(self.rng.integers(10**7, 10**8))}"
        self.accounts.append({"venue": venue, "account": acct, "customer_id": customer or f"C{acct}",
                              "name": f"Customer {acct}", "country": "HK", "account_type": kind,
                              "opened_at": T0 - dt.timedelta(days=400)})
        return f"{venue}:{acct}"

    def address(self, chain: str = "eth") -> str:
        if chain == "eth":
            return "eth:0x" + "".join(self.rng.choice(list("0123456789abcdef"), 40))
        return "btc:bc1q" + "".join(self.rng.choice(list("qpzry9x8gf2tvdw0s3jn54khce6mua7l"), 38))

    def transfer(self, src: str, dst: str, at: dt.datetime, usd: float, **extra: object) -> str:
        self._n += 1
        tid = f"T{self.seed}-{self._n:07d}"
        src_v, dst_v = src.split(":")[0], dst.split(":")[0]
        venues = {a["venue"] for a in self.accounts}
        if src_v in venues and dst_v in venues:
            kind, venue = "internal", src_v
        elif dst_v in venues:
            kind, venue = "deposit", dst_v
        elif src_v in venues:
            kind, venue = "withdrawal", src_v
        else:
            kind, venue = "onchain", self.venues[0]
        row = {"venue": venue, "transfer_id": tid, "ts": at, "asset": "USDT", "amount": usd, "usd_value": usd,
               "kind": kind, "from_party": src, "to_party": dst, "tx_hash": None, "originator_name": "A",
               "originator_account": src, "beneficiary_name": "B", "beneficiary_account": dst,
               "counterparty_vasp": None}
        row.update(extra)
        self.rows.append(row)
        return tid

    def when(self, day: float | None = None) -> dt.datetime:
        d = self.rng.uniform(0, self.days) if day is None else day
        return T0 + dt.timedelta(days=float(d))

    def amount(self, scale: float = 800.0) -> float:
        return round(float(self.rng.lognormal(np.log(scale), 1.0)), 2)

    def label(self, typology: str, accounts: list[str], ids: list[str], venue: str | None = None) -> None:
        times: list[dt.datetime] = [r["ts"] for r in self.rows if r["transfer_id"] in set(ids)]  # type: ignore[misc]
        venue = venue or accounts[0].split(":")[0]
        self.labels.append({"incident_id": f"I{len(self.labels)}", "typology": typology, "venue": venue,
                            "symbol": None, "accounts": [a.split(":", 1)[1] for a in accounts],
                            "start": min(times), "end": max(times), "evidence_ids": ids})

    # --- ordinary life ---------------------------------------------------------------------------------
    def background(self, accounts: int = 300, transfers: int = 3000) -> list[str]:
        """Ordinary customers: deposits from and withdrawals to their own wallets, occasional payments to a
        few friends; an exchange hot wallet and a payroll, the classic innocent look-alikes."""
        accts = [self.account() for _ in range(accounts)]
        wallets = {a: self.address() for a in accts}
        # people pay the same few friends, family and shops, not random strangers
        friends = {a: [accts[int(j)] for j in self.rng.integers(0, len(accts), 3)] for a in accts}
        for _ in range(transfers):
            a = accts[int(self.rng.integers(len(accts)))]
            r = self.rng.random()
            if r < 0.45:
                self.transfer(wallets[a], a, self.when(), self.amount())
            elif r < 0.85:
                self.transfer(a, wallets[a], self.when(), self.amount())
            else:
                b = friends[a][int(self.rng.integers(3))]
                if b != a:
                    self.transfer(a, b, self.when(), self.amount(300))
        return accts

    def payroll(self, staff: int = 25, periods: int = 3) -> None:
        """A company paying the same employees each period (recurring relationships, not a sudden crowd)."""
        company = self.account(kind="corporate")
        people = [self.account() for _ in range(staff)]
        salary = {p: round(3000 * float(self.rng.uniform(0.8, 1.4)), -1) for p in people}
        for k in range(periods):
            for p in people:
                self.transfer(company, p, self.when(k * self.days / periods + 0.01), salary[p])

    def hot_wallet(self, n: int = 40) -> None:
        """The exchange's own (house) wallet paying out many withdrawals."""
        house = self.account(kind="house")
        for _ in range(n):
            self.transfer(house, self.address(), self.when(), self.amount())

    # --- incidents --------------------------------------------------------------------------------------
    def inject(self, typology: str, day: float = 1.0, size: int = 6, venue: str | None = None) -> None:
        """One incident; its accounts are opened on ``venue`` (default: the first), as a ring would."""
        self._venue: str | None = venue or self.venues[0]
        try:
            getattr(self, f"_inject_{typology}")(day, size)
        finally:
            self._venue = None

    def _inject_fan_in(self, day: float, size: int) -> None:
        hub = self.account()
        ids = [self.transfer(self.account(), hub, self.when(day + i * 0.05), self.amount(4000)) for i in range(size)]
        self.label("fan_in", [hub], ids)

    def _inject_fan_out(self, day: float, size: int) -> None:
        hub = self.account()
        ids = [self.transfer(hub, self.account(), self.when(day + i * 0.05), self.amount(4000)) for i in range(size)]
        self.label("fan_out", [hub], ids)

    def _inject_cycle(self, day: float, size: int) -> None:
        nodes = [self.account() for _ in range(min(size, 5))]
        v = self.amount(20000)
        ids = []
        for i, a in enumerate(nodes):
            ids.append(self.transfer(a, nodes[(i + 1) % len(nodes)], self.when(day + i * 0.1), v))
            v *= float(self.rng.uniform(0.93, 0.99))
        self.label("cycle", nodes, ids)

    def _inject_scatter_gather(self, day: float, size: int) -> None:
        s, t = self.account(), self.account()
        mids = [self.account() for _ in range(size)]
        ids = []
        for i, m in enumerate(mids):
            v = self.amount(5000)
            ids.append(self.transfer(s, m, self.when(day + i * 0.03), v))
            ids.append(self.transfer(m, t, self.when(day + 0.4 + i * 0.03), v * 0.97))
        self.label("scatter_gather", [s, *mids, t], ids)

    def _inject_gather_scatter(self, day: float, size: int) -> None:
        hub = self.account()
        ids = []
        amounts = [self.amount(5000) for _ in range(size)]
        for i, v in enumerate(amounts):
            ids.append(self.transfer(self.account(), hub, self.when(day + i * 0.03), v))
        share = self.rng.dirichlet(np.ones(size)) * sum(amounts) * 0.97
        for i, v in enumerate(share):
            ids.append(self.transfer(hub, self.account(), self.when(day + 0.5 + i * 0.03), round(float(v), 2)))
        self.label("gather_scatter", [hub], ids)

    def _layer(self, day: float, a: list[str], b: list[str], ids: list[str]) -> None:
        for x in a:
            for y in b:
                if self.rng.random() < 0.8 or len(b) <= 2:
                    ids.append(self.transfer(x, y, self.when(day + float(self.rng.uniform(0, 0.3))), self.amount(3000)))

    def _inject_bipartite(self, day: float, size: int) -> None:
        a = [self.account() for _ in range(max(2, size // 2))]
        b = [self.account() for _ in range(max(2, size // 2))]
        ids: list[str] = []
        self._layer(day, a, b, ids)
        self.label("bipartite", a + b, ids)

    def _inject_stack(self, day: float, size: int) -> None:
        layers = [[self.account() for _ in range(max(2, size // 2))] for _ in range(3)]
        ids: list[str] = []
        self._layer(day, layers[0], layers[1], ids)
        self._layer(day + 0.5, layers[1], layers[2], ids)
        self.label("stack", [x for layer in layers for x in layer], ids)

    def _inject_structuring(self, day: float, size: int) -> None:
        a = self.account()
        threshold = 120_000 / 7.8
        ids = [self.transfer(self.address(), a, self.when(day + i * 0.2),
                             round(threshold * float(self.rng.uniform(0.9, 0.995)), 2))
               for i in range(max(3, size // 2))]
        self.label("structuring", [a], ids)

    def _inject_peel_chain(self, day: float, size: int) -> None:
        nodes = [self.account() for _ in range(size + 1)]
        v = self.amount(30000)
        ids = []
        for i in range(size):
            ids.append(self.transfer(nodes[i], nodes[i + 1], self.when(day + i * 0.15), v))
            peel = v * float(self.rng.uniform(0.05, 0.15))
            ids.append(self.transfer(nodes[i + 1], self.address(), self.when(day + i * 0.15 + 0.05), peel))
            v -= peel
        self.label("peel_chain", nodes[:-1], ids)

    def _inject_rapid_movement(self, day: float, size: int) -> None:
        a = self.account()
        v = self.amount(30000) + 10000
        ids = [self.transfer(self.address(), a, self.when(day), v),
               self.transfer(a, self.address(), self.when(day + 0.08), v * 0.98)]
        self.label("rapid_movement", [a], ids)

    # --- output -----------------------------------------------------------------------------------------
    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        rows = sorted(self.rows, key=lambda r: (r["ts"], r["transfer_id"]))
        return (pa.Table.from_pylist(rows, schema=TRANSFERS), pa.Table.from_pylist(self.accounts, schema=ACCOUNTS),
                pa.Table.from_pylist(self.labels, schema=LABELS))
