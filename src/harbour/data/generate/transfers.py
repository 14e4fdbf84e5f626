"""Transfers (deposits, withdrawals, internal, on-chain, VASP-to-VASP with travel-rule data), accounts,
announcements and the reference side files.

Normal flow deliberately contains the innocent look-alikes of the AML patterns: the venue's hot wallet
sweeping many deposit addresses (fan-in) and paying out batches (fan-out), payroll-like fan-out from
corporate accounts, customers moving money to their own accounts on other venues and back, and ordinary
deposits that happen to land just under the reporting threshold.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from harbour.data.generate.accounts import addresses, customer_id_of, tx_hashes
from harbour.data.generate.config import STABLECOINS
from harbour.data.generate.prices import SECONDS
from harbour.data.generate.rand import stream
from harbour.data.generate.writer import LakeWriter, day_epoch_us, repeat, ts_array
from harbour.data.schemas import ACCOUNTS, ANNOUNCEMENTS, TRANSFERS

if TYPE_CHECKING:
    from harbour.data.generate.incidents.base import Incident
    from harbour.data.generate.labels import LabelCollector
    from harbour.data.generate.world import World

US = 1_000_000
EXTERNAL_VASPS = ("Northbridge Exchange", "Lion City Digital Pte Ltd", "Kanto Crypto KK", "Han River Exchange",
                  "Bosphorus Digital A.S.", "Maple Ledger Inc.", "Sunda Coin Exchange", "Alpine Custody AG")
CHAIN_OF = {"BTC": "btc", "ETH": "eth", "SOL": "sol", "USDT": "tron", "USDC": "eth"}


def chain_of(asset: str) -> str:
    return CHAIN_OF.get(asset, "eth")


@dataclass
class TransferBatch:
    """The transfers of one venue-day, row by row (a few thousand a day: plain lists are fine)."""

    world: World
    venue: str
    day: int
    paths: dict
    rng: np.random.Generator
    rows: list[tuple] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)
    wallets: dict[tuple[str, int, str], str] = field(default_factory=dict)

    def price(self, asset: str, t_us: int) -> float:
        if asset in STABLECOINS:
            return 1.0
        path = self.paths.get(f"{asset}/USD")
        return float(path.price[min(SECONDS - 1, max(0, t_us // US))]) if path is not None else 1.0

    def party(self, i: int, venue: str | None = None) -> str:
        v = venue or self.venue
        return f"{v}:{self.world.accounts[v].account[i]}"

    def name(self, i: int, venue: str | None = None) -> str:
        return self.world.accounts[venue or self.venue].name[i]

    def wallet(self, i: int, chain: str, venue: str | None = None) -> str:
        """The account holder's own external wallet on ``chain`` (stable across days). A customer has one
        wallet per chain, whichever of its accounts (on any venue) it pays from or into."""
        v = venue or self.venue
        k = (v, i, chain)
        if k not in self.wallets:
            cust = self.world.accounts[v].customer[i]
            key = ("customer", cust) if cust >= 0 else (v, i)
            rng = stream(self.world.config.seed, "wallet", *key, chain)
            self.wallets[k] = addresses(rng, chain, 1)[0]
        return self.wallets[k]

    def fresh(self, chain: str, n: int = 1) -> list[str]:
        return addresses(self.rng, chain, n)

    def add(self, t_us: int, asset: str, usd: float, kind: str, src: str, dst: str, *, onchain: bool = False,
            travel: tuple | None = None, tag: int = -1, amount: float | None = None) -> None:
        """One transfer of about ``usd`` dollars (or exactly ``amount`` of the asset)."""
        t_us = int(min(max(t_us, 0), SECONDS * US - 1))
        price = self.price(asset, t_us)
        if amount is None:
            amount = usd / price
        decimals = 2 if asset in STABLECOINS else 8
        amount = max(round(amount, decimals), 10.0 ** -decimals)
        tx = tx_hashes(self.rng, chain_of(asset), 1)[0] if onchain else None
        o_name, o_acct, b_name, b_acct, vasp = travel if travel else (None,) * 5
        self.rows.append((t_us, asset, amount, round(amount * price, 2), kind, src, dst, tx, o_name, o_acct, b_name,
                          b_acct, vasp))
        self.tags.append(tag)


def write_accounts(world: World, writer: LakeWriter) -> None:
    for v in world.venues:
        va = world.accounts[v]
        n = len(va.account)
        table = pa.table({
            "venue": repeat(v, n), "account": va.account,
            "customer_id": [customer_id_of(va, i, world.customers) for i in range(n)],
            "name": va.name, "country": va.country, "account_type": va.account_type,
            "opened_at": ts_array(va.opened_at_us),
        }).cast(ACCOUNTS)
        writer.write("accounts", table, "accounts", v)


def write_announcements(world: World, writer: LakeWriter, venue: str, day: int, date: dt.date) -> None:
    rows = [li for li in world.listings if li.venue == venue and li.day == day]
    if not rows:
        return
    epoch = day_epoch_us(date)
    table = pa.table({
        "venue": repeat(venue, len(rows)), "symbol": [li.symbol for li in rows],
        "ts": ts_array(np.array([epoch + li.announce_us for li in rows])),
        "kind": ["listing"] * len(rows),
        "headline": [f"{venue} will list {li.symbol.split('/')[0]} ({li.symbol}); trading opens at "
                     f"{dt.datetime.fromtimestamp((epoch + li.open_us) / US, dt.UTC):%H:%M} UTC" for li in rows],
    }).cast(ANNOUNCEMENTS)
    writer.write("announcements", table, "announcements", venue, date)


def write_reference(world: World, out: Path) -> None:
    """The sanctioned-address list used by the sanctions_exposure incidents: a list, not a label."""
    folder = Path(out) / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "sanctioned_addresses.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["address", "chain", "entity", "list", "listed_on"])
        for address, entity, listed_on in sanctioned_addresses(world.config.seed):
            w.writerow([address, address.split(":")[0], entity, "SYNTHETIC-SANCTIONS", listed_on])


SANCTIONED_ENTITIES = ("Garnet Mixer Services", "Obsidian Bridge Ltd", "Coral Reef Liquidity", "Ember Exchange",
                       "Nightjar Holdings", "Quartz Routing Group")


def sanctioned_addresses(seed: int) -> list[tuple[str, str, str]]:
    rng = stream(seed, "sanctioned")
    out = []
    for i, chain in enumerate(["eth"] * 14 + ["btc"] * 8 + ["tron"] * 8):
        entity = SANCTIONED_ENTITIES[i % len(SANCTIONED_ENTITIES)]
        listed_on = dt.date(2021, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1500)))
        out.append((addresses(rng, chain, 1)[0], entity, listed_on.isoformat()))
    return out


def write_transfers(world: World, writer: LakeWriter, labels: LabelCollector, incidents: list[Incident], venue: str,
                    day: int, date: dt.date, paths: dict) -> None:
    rng = stream(world.config.seed, "transfers", venue, day)
    batch = TransferBatch(world, venue, day, paths, rng)
    normal_transfers(batch)
    for tag, inc in enumerate(incidents):
        if inc.symbol is None and inc.venue == venue and inc.day == day:
            inc.transfers(world, batch, stream(world.config.seed, "incident", inc.incident_id), tag)
            _dilute(batch, inc, stream(world.config.seed, "dilute", inc.incident_id))
    if not batch.rows:
        return
    from harbour.data.generate.run import DOMAIN_TRANSFER, make_id

    order = sorted(range(len(batch.rows)), key=lambda i: (batch.rows[i][0], i))
    rows = [batch.rows[i] for i in order]
    tags = np.array([batch.tags[i] for i in order])
    cols = list(zip(*rows, strict=True))
    epoch = day_epoch_us(date)
    ts = np.array(cols[0], np.int64) + epoch
    ids = make_id(DOMAIN_TRANSFER, day, 255, np.arange(len(rows), dtype=np.int64))
    names = [f.name for f in TRANSFERS][3:]
    data = {"venue": repeat(venue, len(rows)), "transfer_id": ids, "ts": ts_array(ts)}
    for name, col in zip(names, cols[1:], strict=True):
        data[name] = pa.array(col, TRANSFERS.field(name).type)
    writer.write("transfers", pa.table(data).cast(TRANSFERS), "transfers", venue, date)
    for tag in np.unique(tags[tags >= 0]):
        idx = np.flatnonzero(tags == tag)
        labels.collect_transfers(int(tag), ids.take(pa.array(idx)).to_pylist(), ts[idx])


ASSETS = ("USDT", "USDT", "USDT", "USDC", "BTC", "BTC", "ETH", "ETH", "SOL")


def usd_size(rng: np.random.Generator, corporate: bool = False) -> float:
    return float(np.clip(rng.lognormal(np.log(2_500 if corporate else 700), 1.4), 5.0, 3_000_000.0))


def travel(batch: TransferBatch, o_name: str, o_acct: str, b_name: str, b_acct: str, vasp: str) -> tuple:
    return (o_name, o_acct, b_name, b_acct, vasp)


def normal_transfers(b: TransferBatch) -> None:
    """Ordinary deposits, withdrawals, internal and on-chain movements, and the innocent look-alikes.

    Customers behave like customers rather than as independent draws: money sent out (a withdrawal, a
    payment to another account) is a part of what the account held when the day began — what arrives
    during the day goes into trading (not part of this table) and is cashed out on later days, so a
    withdrawal is not a mirror of a deposit minutes earlier; a customer's day mostly leans one way (a
    funding day or a cash-out day); and a customer deals with a few counterparties of its own (where it
    keeps each chain's coins off the venue, its accounts on our other venues, a few regular contacts)
    more than with new ones."""
    world, rng, va = b.world, b.rng, b.world.accounts[b.venue]
    people = va.traders()
    if len(people) == 0:
        return
    p = va.activity[people] ** 0.5
    p = p / p.sum()
    n = int(rng.poisson(len(people) * 0.05 + 20))
    who = rng.choice(people, size=n, p=p)
    times = np.sort((rng.random(n) * (SECONDS - 5) * US).astype(np.int64))
    threshold = world.config.travel_rule_threshold_usd
    books = _Holdings(b)
    for t, i in zip(times, who, strict=True):
        i = int(i)
        asset = books.favourite(i) if rng.random() < FAVOURITE else ASSETS[int(rng.integers(len(ASSETS)))]
        chain = chain_of(asset)
        usd = usd_size(rng, va.account_type[i] == "corporate")
        r = rng.random()
        if r < 0.72:  # a deposit or a withdrawal, as the account's day leans
            incoming = rng.random() < books.deposit_share(i) or books.held(i) < MIN_SEND_USD
            if not incoming:
                usd = books.share_of(i)
                books.take(i, usd)
            _vasp_or_wallet(b, int(t), asset, usd, i, incoming=incoming, threshold=threshold)
        elif r < 0.84:  # internal transfer to another account of the venue (often a regular contact)
            j = _contact(b, i, people)
            if j != i and books.held(i) >= MIN_SEND_USD:
                usd = books.share_of(i)
                books.take(i, usd)
                b.add(int(t), asset, usd, "internal", b.party(i), b.party(j))
        else:  # on-chain movement seen by the venue's chain analytics around a customer's wallet
            other = b.fresh(chain)[0]
            src, dst = (b.wallet(i, chain), other) if rng.random() < 0.5 else (other, b.wallet(i, chain))
            b.add(int(t), asset, usd, "onchain", src, dst, onchain=True)
    _lookalikes(b, people, books)


MIN_SEND_USD = 5.0
FAVOURITE = 0.6  # share of a customer's transfers in its favourite coin (the rest in any)
MIXED_DAY = 0.1  # share of account-days with deposits and withdrawals alike (the rest lean one way)
FUNDING_DAY = 0.55  # share of the others that are funding days (deposits outnumber withdrawals overall)
LEAN = 0.97  # share of a funding day's transfers that are deposits (and of a cash-out day's that are withdrawals)
CONTACTS = 3  # regular contacts of an account on the venue


class _Holdings:
    """What each account can send out through one day (in USD: what it held when the day began, less what
    it has sent since), which way its customer's day leans and its customer's favourite coin. They are drawn
    for every account (or customer) at once from streams of their own — the venue-day's, the day's (the same
    lean on every venue), the world's — so they do not depend on the order of other draws, and one stream
    seeds thousands of accounts (seeding a stream costs more than its draws)."""

    def __init__(self, b: TransferBatch) -> None:
        self.b = b
        self.rng = b.rng
        seed, va = b.world.config.seed, b.world.accounts[b.venue]
        # the balance an account brings into the day: a few transfers' worth
        rng = stream(seed, "holdings", b.venue, b.day)
        median = np.where(np.array(va.account_type) == "corporate", 2_500.0, 700.0)
        size = np.clip(rng.lognormal(np.log(median), 1.4), 5.0, 3_000_000.0)
        self.value = size * rng.uniform(1.0, 4.0, size.size)
        # per customer (the last row for accounts of no customer): the day's lean, the same on every venue (a
        # customer funding one of its accounts is not cashing out of another the same day, but on a mixed day)
        self.customer = np.array(va.customer)
        n = len(b.world.customers) + 1
        day = stream(seed, "day-lean", b.day)
        mixed, funding = day.random(n) < MIXED_DAY, day.random(n) < FUNDING_DAY
        self.lean = np.where(mixed, 0.5, np.where(funding, LEAN, 1.0 - LEAN))
        self.coin = stream(seed, "favourite").integers(len(ASSETS), size=n)

    def deposit_share(self, i: int) -> float:
        return float(self.lean[self.customer[i]])

    def favourite(self, i: int) -> str:
        """The coin the account's customer mostly moves (the same on all its accounts and days)."""
        return ASSETS[int(self.coin[self.customer[i]])]

    def held(self, i: int) -> float:
        return float(self.value[i])

    def share_of(self, i: int) -> float:
        """A part of the holding: customers take out some of what they hold, seldom all of it."""
        return max(MIN_SEND_USD, self.held(i) * float(self.rng.beta(1.3, 3.0)))

    def take(self, i: int, usd: float) -> None:
        self.value[i] = max(0.0, self.held(i) - usd)


def _contact(b: TransferBatch, i: int, people: np.ndarray) -> int:
    """Another account of the venue: one of the regular contacts of ``i``'s customer (a stable few, the
    same for all its accounts on the venue), or now and then anyone."""
    if b.rng.random() < 0.3:
        return int(people[int(b.rng.integers(len(people)))])
    cust = b.world.accounts[b.venue].customer[i]
    rng = stream(b.world.config.seed, "contacts", b.venue, *(("customer", cust) if cust >= 0 else ("account", i)))
    contacts = people[rng.integers(len(people), size=CONTACTS)]
    return int(contacts[int(b.rng.integers(CONTACTS))])


def _vasp_or_wallet(b: TransferBatch, t: int, asset: str, usd: float, i: int, *, incoming: bool,
                    threshold: float) -> None:
    rng = b.rng
    chain = chain_of(asset)
    kind = "deposit" if incoming else "withdrawal"
    info: tuple[str | None, ...]
    me = b.party(i)
    r = rng.random()
    if r < 0.3 and len(b.world.venues) > 1:  # to or from the same customer's account on another of our venues
        other_v = [v for v in b.world.venues if v != b.venue][int(rng.integers(len(b.world.venues) - 1))]
        j = _same_customer(b, i, other_v)
        if j is not None:
            them, their_name = b.party(j, other_v), b.name(j, other_v)
            info = (their_name, them.split(":")[1], b.name(i), me.split(":")[1], other_v) if incoming else \
                (b.name(i), me.split(":")[1], their_name, them.split(":")[1], other_v)
            if usd < threshold and rng.random() < 0.35:
                info = (None, None, None, None, other_v)  # below the threshold the rule does not apply
            b.add(t, asset, usd, kind, them if incoming else me, me if incoming else them, onchain=True, travel=info)
            return
    # mostly the customer's own place for this chain's coins elsewhere; now and then someone new
    r = rng.random()
    cust = b.name(i)
    vasp: str | None
    if r < 0.8:
        vasp, ext, ext_acct = _home(b, i, chain)
        counter = cust
    elif r < 0.9:  # someone else's account at some exchange
        vasp = EXTERNAL_VASPS[int(rng.integers(len(EXTERNAL_VASPS)))]
        ext = b.fresh(chain)[0]
        ext_acct = str(int(rng.integers(10**7, 10**9)))
        counter = f"{b.world.customers[int(rng.integers(len(b.world.customers)))].given} " \
                  f"{b.world.customers[int(rng.integers(len(b.world.customers)))].surname}"
    else:  # a wallet it has not used before
        vasp, ext = None, b.fresh(chain)[0]
    if vasp is None:
        b.add(t, asset, usd, kind, ext if incoming else me, me if incoming else ext, onchain=True)
        return
    # VASP-to-VASP: travel-rule data
    info = (counter, ext_acct, cust, me.split(":")[1], vasp) if incoming else \
        (cust, me.split(":")[1], counter, ext_acct, vasp)
    if usd < threshold and rng.random() < 0.35:
        info = (None, None, None, None, vasp)
    b.add(t, asset, usd, kind, ext if incoming else me, me if incoming else ext, onchain=True, travel=info)


HOME_AT_EXCHANGE = 0.4  # share of a customer's chains whose coins it keeps at another exchange (else a wallet)


def _home(b: TransferBatch, i: int, chain: str) -> tuple[str | None, str, str]:
    """Where the account holder keeps ``chain``'s coins off the venue — its own wallet, or its account at its
    usual other exchange (the exchange, the deposit address, the account number) — the same across days and
    for all of a customer's accounts."""
    cust = b.world.accounts[b.venue].customer[i]
    key = ("customer", cust) if cust >= 0 else (b.venue, i)
    rng = stream(b.world.config.seed, "home", *key)
    vasp = EXTERNAL_VASPS[int(rng.integers(len(EXTERNAL_VASPS)))]
    acct = str(int(rng.integers(10**7, 10**9)))
    if stream(b.world.config.seed, "home", *key, chain).random() >= HOME_AT_EXCHANGE:
        return None, b.wallet(i, chain), acct
    k = (b.venue, i, f"{chain}@{vasp}")
    if k not in b.wallets:
        b.wallets[k] = addresses(stream(b.world.config.seed, "home-address", *key, chain), chain, 1)[0]
    return vasp, b.wallets[k], acct


def _dilute(b: TransferBatch, inc: Incident, rng: np.random.Generator) -> None:
    """Ordinary, untagged deposits and withdrawals by the incident's accounts the same day. Only the hard
    setting dilutes AML incidents (about two extra transfers per account); easy and default do not."""
    n = int(rng.poisson(max(0.0, inc.knobs.dilution - 0.5) * 2 * len(inc.accounts)))
    saved, b.rng = b.rng, rng
    try:
        for _ in range(n):
            i = inc.accounts[int(rng.integers(len(inc.accounts)))]
            asset = ASSETS[int(rng.integers(len(ASSETS)))]
            t = int(rng.random() * (SECONDS - 5) * US)
            _vasp_or_wallet(b, t, asset, usd_size(rng), i, incoming=rng.random() < 0.5,
                            threshold=b.world.config.travel_rule_threshold_usd)
    finally:
        b.rng = saved


def _same_customer(b: TransferBatch, i: int, other_v: str) -> int | None:
    cust = b.world.accounts[b.venue].customer[i]
    return None if cust < 0 else b.world.accounts[other_v].account_of(cust)


def _lookalikes(b: TransferBatch, people: np.ndarray, books: _Holdings) -> None:
    rng, va = b.rng, b.world.accounts[b.venue]
    hot = [i for i, t in enumerate(va.account_type) if t == "house"]
    hot_wallet = b.wallet(hot[0], "eth") if hot else b.fresh("eth")[0]
    # the venue's hot wallet sweeps many customer deposit addresses (fan-in look-alike)
    for _ in range(int(rng.poisson(1.5))):
        t0 = int(rng.random() * (SECONDS - 900) * US)
        for k, src in enumerate(b.fresh("eth", int(rng.integers(8, 40)))):
            b.add(t0 + k * int(rng.integers(2, 30)) * US, "USDT" if rng.random() < 0.7 else "ETH",
                  usd_size(rng), "onchain", src, hot_wallet, onchain=True)
    # ... and pays out withdrawal batches to many addresses (fan-out look-alike)
    for _ in range(int(rng.poisson(1.5))):
        t0 = int(rng.random() * (SECONDS - 900) * US)
        for k, dst in enumerate(b.fresh("eth", int(rng.integers(8, 40)))):
            b.add(t0 + k * int(rng.integers(2, 30)) * US, "ETH", usd_size(rng), "onchain", hot_wallet, dst,
                  onchain=True)
    # payroll: a corporate account pays similar round amounts to many people
    corporates = [i for i in people if va.account_type[int(i)] == "corporate"]
    if corporates and rng.random() < 0.4:
        c = int(corporates[int(rng.integers(len(corporates)))])
        t0 = int(rng.uniform(1, 20) * 3600 * US)
        base = float(rng.choice([2_500.0, 3_800.0, 5_200.0, 7_000.0]))
        for k in range(int(rng.integers(8, 30))):
            j = int(people[int(rng.integers(len(people)))])
            usd = round(base * rng.uniform(0.8, 1.5), -1)
            b.add(t0 + k * int(rng.integers(5, 90)) * US, "USDC", usd, "internal", b.party(c), b.party(j),
                  amount=usd)
    # people move money to a friend and get (most of) it back later the same day
    for _ in range(int(rng.poisson(2.0))):
        i, j = (int(x) for x in rng.choice(people, 2, replace=False))
        t0 = int(rng.uniform(0, 12) * 3600 * US)
        usd = books.share_of(i)  # lent from what the friend holds, like any payment out
        books.take(i, usd)
        b.add(t0, "USDT", usd, "internal", b.party(i), b.party(j), amount=round(usd, 2))
        b.add(t0 + int(rng.uniform(1, 10) * 3600 * US), "USDT", usd, "internal", b.party(j), b.party(i),
              amount=round(usd * rng.uniform(0.7, 1.0), 2))
