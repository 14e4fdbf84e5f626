"""Customers and their accounts on every venue, plus the external wallets they use.

Some customers hold accounts on several venues under the same ``customer_id`` with their name written a
little differently on each (order of names, initials, case), as real onboarding data looks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from harbour.data.generate.rand import stream

SURNAMES = ("Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung", "Tang", "Yip", "Kwok", "Lam", "Tsang",
            "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Patel", "Singh", "Tan", "Lim", "Goh",
            "Kim", "Park", "Choi", "Sato", "Suzuki", "Takahashi", "Nguyen", "Tran", "Müller", "Schmidt",
            "Rossi", "Garcia", "Martin", "Dubois", "Kowalski", "Ivanova", "Haddad", "Okafor", "Silva", "Santos")
GIVEN = ("Tai Man", "Siu Ming", "Ka Yan", "Wing Kei", "Mei Ling", "Chi Keung", "Hoi Yee", "Yuk Lan", "Kin Wah",
         "James", "Emily", "Oliver", "Sophie", "Daniel", "Grace", "Ravi", "Priya", "Wei Jie", "Hui Min",
         "Min-jun", "Ji-woo", "Haruto", "Yui", "Minh", "Linh", "Lukas", "Anna", "Marco", "Lucia", "Carlos",
         "Camille", "Piotr", "Olga", "Omar", "Chinedu", "Ana", "João", "Thomas", "Hannah", "Kenji", "Ahmed")
COMPANY_WORDS = ("Harbourview", "Jade", "Kowloon", "Pacific", "Summit", "Lantau", "Victoria", "Pearl River",
                 "Bluewater", "Granite", "Northstar", "Orchid", "Silverline", "Tsing Yi", "Meridian", "Peak",
                 "Redwood", "Cobalt", "Lotus", "Aberdeen", "Stonecutter", "Ironbridge", "Crescent", "Waterfront")
COMPANY_KINDS = ("Trading Limited", "Capital Ltd", "Holdings Limited", "Investments Ltd", "Ventures Limited",
                 "Asset Management Ltd", "Technology Co. Ltd", "Family Office Limited", "Partners Ltd")
COUNTRIES = ("HK", "HK", "HK", "HK", "HK", "SG", "TW", "GB", "AU", "JP", "KR", "CA", "MY", "TH", "PH", "AE", "DE",
             "FR", "CH", "NZ", "VN", "ID", "IN")
ACCOUNT_TYPES = ("individual", "corporate", "house", "market_maker")
N_MARKET_MAKERS = 3
N_HOUSE = 2


@dataclass(frozen=True)
class Customer:
    customer_id: str
    given: str
    surname: str
    company: str | None  # corporate customers
    country: str


@dataclass
class VenueAccounts:
    """The accounts of one venue, as columns (row i is account index i)."""

    venue: str
    account: list[str]
    customer: list[int]  # index into the customer list
    name: list[str]
    country: list[str]
    account_type: list[str]
    opened_at_us: np.ndarray
    activity: np.ndarray  # relative trading activity of ordinary accounts (0 for house / market makers)
    _by_customer: dict[int, int] | None = None

    def account_of(self, customer: int) -> int | None:
        """This venue's (first) account of a customer, if the customer has one here. Built on first use,
        after the incident plan has finished linking accounts to customers."""
        if self._by_customer is None:
            self._by_customer = {}
            for j, c in enumerate(self.customer):
                if c >= 0:
                    self._by_customer.setdefault(c, j)
        return self._by_customer.get(customer)

    def indices(self, account_type: str) -> np.ndarray:
        return np.array([i for i, t in enumerate(self.account_type) if t == account_type], np.int64)

    def traders(self) -> np.ndarray:
        return np.flatnonzero(self.activity > 0)


def make_customers(seed: int, n: int) -> list[Customer]:
    rng = stream(seed, "customers")
    ids = rng.choice(9_000_000, size=n, replace=False) + 1_000_000
    out = []
    for i in range(n):
        corporate = rng.random() < 0.07
        company = None
        if corporate:
            word = COMPANY_WORDS[rng.integers(len(COMPANY_WORDS))]
            company = f"{word} {COMPANY_KINDS[rng.integers(len(COMPANY_KINDS))]}"
        out.append(Customer(f"C{ids[i]:07d}", GIVEN[rng.integers(len(GIVEN))], SURNAMES[rng.integers(len(SURNAMES))],
                            company, COUNTRIES[rng.integers(len(COUNTRIES))]))
    return out


def name_variant(c: Customer, rng: np.random.Generator) -> str:
    """How one venue wrote this customer's name."""
    if c.company:
        v = rng.integers(3)
        return c.company if v == 0 else c.company.replace("Limited", "Ltd") if v == 1 else c.company.upper()
    v = rng.integers(5)
    initials = " ".join(p[0] + "." for p in c.given.replace("-", " ").split())
    return (f"{c.surname.upper()} {c.given}", f"{c.given} {c.surname}", f"{c.surname}, {c.given}",
            f"{initials} {c.surname}", f"{c.given.upper()} {c.surname.upper()}")[v]


def make_venue_accounts(seed: int, venue: str, venue_index: int, n_accounts: int, customers: list[Customer],
                        start: dt.date) -> VenueAccounts:
    """``n_accounts`` accounts: market makers, house accounts, then customers (some shared across venues)."""
    rng = stream(seed, "accounts", venue)
    n_cust = len(customers)
    per_venue = max(1, n_cust // 2)
    # each venue draws its customers from a window of the shared customer list; windows overlap, so some
    # customers have accounts on several venues
    offset = (venue_index * per_venue * 2) // 3
    cust_idx = (offset + rng.permutation(per_venue)) % n_cust
    n_special = N_MARKET_MAKERS + N_HOUSE
    n_ordinary = max(0, n_accounts - n_special)
    chosen = np.resize(cust_idx, n_ordinary)
    ids = rng.choice(90_000_000, size=n_accounts, replace=False) + 10_000_000
    epoch = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()) * 1_000_000
    opened = epoch - (rng.exponential(500.0, n_accounts) * 86_400e6).astype(np.int64) - 86_400_000_000
    accounts, customer, names, countries, types = [], [], [], [], []
    for i in range(n_special):
        mm = i < N_MARKET_MAKERS
        cid = -1 - i  # firm customers, see below
        accounts.append(str(ids[i]))
        customer.append(cid)
        word = COMPANY_WORDS[(venue_index * 5 + i) % len(COMPANY_WORDS)]
        role = "hot wallet" if i == N_MARKET_MAKERS else "treasury"
        names.append(f"{word} Liquidity Ltd" if mm else f"{venue} Operations Ltd ({role})")
        countries.append("HK" if not mm else COUNTRIES[rng.integers(len(COUNTRIES))])
        types.append("market_maker" if mm else "house")
    for j in range(n_ordinary):
        c = customers[int(chosen[j])]
        accounts.append(str(ids[n_special + j]))
        customer.append(int(chosen[j]))
        names.append(name_variant(c, rng))
        countries.append(c.country)
        types.append("corporate" if c.company else "individual")
    activity = np.zeros(n_accounts)
    # Zipf-like activity: a few accounts do most of the trading
    activity[n_special:] = 1.0 / (rng.permutation(n_ordinary) + 1.0) ** 1.1
    return VenueAccounts(venue, accounts, customer, names, countries, types, opened, activity)


def customer_id_of(va: VenueAccounts, i: int, customers: list[Customer]) -> str:
    c = va.customer[i]
    if c < 0:
        return f"F{va.venue}{-c:02d}"  # the venue's own and its market makers' firm records
    return customers[c].customer_id


HEX = "0123456789abcdef"
B32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def addresses(rng: np.random.Generator, chain: str, n: int) -> list[str]:
    """Realistic-looking addresses: ``eth:0x…`` (40 hex), ``btc:bc1q…`` (bech32), ``tron:T…`` (base58)."""
    if chain == "eth" or chain == "sol":
        digits = rng.integers(0, 16, (n, 40))
        return ["eth:0x" + "".join(HEX[d] for d in row) for row in digits]
    if chain == "btc":
        digits = rng.integers(0, 32, (n, 38))
        return ["btc:bc1q" + "".join(B32[d] for d in row) for row in digits]
    digits = rng.integers(0, 58, (n, 33))
    return ["tron:T" + "".join(B58[d] for d in row) for row in digits]


def tx_hashes(rng: np.random.Generator, chain: str, n: int) -> list[str]:
    digits = rng.integers(0, 16, (n, 64))
    prefix = "0x" if chain in ("eth", "tron") else ""
    return [prefix + "".join(HEX[d] for d in row) for row in digits]
