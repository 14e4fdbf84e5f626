"""Cross-venue's Arrow screen numbers each leg's (account, venue) pair in one compiled pass over the buyers' and
sellers' strings (``_leg_pairs``, a small hash table of the pairs) and copies each pair's account out once
(``_pair_accounts``), where Arrow dictionary-encoded every leg's account and a table of every account's venues
numbered the pairs (``_dense_pairs``, kept here as the reference). Checked against plain readings and against the old
path on random inputs: accounts shorter than a word, of one and two words, longer than two (hashed, bytes compared),
empty, alike but for their length or a byte; several chunks, one venue and three, unknown accounts, enough pairs to grow
the table, and every hash forced into one run of slots."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from numba import njit

import harbour.detect.market.cross_venue as cv
from harbour.data.arrow_strings import one_chunk, string_buffers
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market.frames import dictionary_codes, owner_map
from harbour.detect.market.owner_keys import owner_lookup, venue_codes

NO_BITS = np.uint64(0)  # every pair hashed alike: each probe walks past every other pair in one run of slots


@njit(cache=True)
def _dense_pairs(account: np.ndarray, venue: np.ndarray, n_venues: int, n_accounts: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The old path's numbering (session 18's ``cross_venue._dense_pairs``): per leg the number of its (account,
    venue) pair among the distinct pairs in order of the pair's code (account times ``n_venues`` plus venue), and the
    distinct pairs' codes."""
    n = venue.shape[0]
    number = np.full(n_accounts * n_venues, -1, np.int64)
    for side in range(2):
        for i in range(n):
            number[np.int64(account[side * n + i]) * n_venues + venue[i]] = 0
    distinct = np.empty(number.shape[0], np.int64)
    count = 0
    for p in range(number.shape[0]):
        if number[p] == 0:
            number[p] = count
            distinct[count] = p
            count += 1
    pair = np.empty(2 * n, np.int64)
    for side in range(2):
        for i in range(n):
            pair[side * n + i] = number[np.int64(account[side * n + i]) * n_venues + venue[i]]
    return pair, distinct[:count]


def _old_leg_owners(part: Partition | None, table: pa.Table, lookup: cv._Lookup, venue: np.ndarray,
                    venue_firsts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Session 18's ``_leg_owners``: the accounts dictionary-encoded by Arrow, the pairs numbered by ``_dense_pairs``,
    then the same look-ups (``_pairs_owned``)."""
    accounts = dictionary_codes(pa.chunked_array(table["buyer"].chunks + table["seller"].chunks, pa.string()))
    pair, distinct = _dense_pairs(accounts.indices.to_numpy(), venue, venue_firsts.size, len(accounts.dictionary))
    return cv._pairs_owned(part, table, lookup, venue_firsts, pair, accounts.dictionary, distinct)


def _account_names(rng: np.random.Generator, many: int) -> list[str]:
    """Accounts of every length the words treat apart, alike but for a byte or their length."""
    names = ["", "a", "ab", "abc", "a\x00", "1234567", "12345678", "123456789", "x" * 15, "x" * 16, "x" * 17,
             "y" * 16 + "1", "y" * 16 + "2", "1" + "z" * 20, "2" + "z" * 20, "p" * 8 + "A" + "s" * 8,
             "p" * 8 + "B" + "s" * 8, "acct:1", "29143985", "29143986"]
    names += [str(v) for v in rng.integers(10_000_000, 99_999_999, many)]
    return names


def _table(rng: np.random.Generator, n: int, venues: list[str], names: list[str], chunks: int) -> pa.Table:
    """Trades of ``n`` rows (buyers and sellers drawn from ``names``) on ``venues``, cut into ``chunks`` chunks."""
    buyer = rng.choice(np.array(names, dtype=object), n).tolist()
    seller = rng.choice(np.array(names, dtype=object), n).tolist()
    venue = rng.choice(np.array(venues, dtype=object), n).tolist()
    cuts = sorted({0, n, *rng.integers(0, n + 1, chunks - 1).tolist()})

    def column(values: list[str]) -> pa.ChunkedArray:
        return pa.chunked_array([pa.array(values[a:b], pa.string()) for a, b in zip(cuts, cuts[1:], strict=False)]
                                or [pa.array([], pa.string())], pa.string())

    return pa.table({"venue": column(venue), "buyer": column(buyer), "seller": column(seller)})


def _plain_pairs(venue: list[int], legs: list[str]) -> tuple[list[int], list[int], list[int]]:
    """``_leg_pairs``' answer read plainly: pairs by venue, then in order of first appearance over the legs."""
    n = len(venue)
    seen: dict[tuple[int, str], int] = {}
    for leg, account in enumerate(legs):
        seen.setdefault((venue[leg % n], account), leg)
    order = sorted(seen, key=lambda p: (p[0], seen[p]))  # by venue, then first leg
    number = {p: k for k, p in enumerate(order)}
    return ([number[(venue[leg % n], a)] for leg, a in enumerate(legs)], [seen[p] for p in order],
            [p[0] for p in order])


@pytest.mark.parametrize("bits", [cv._ALL_BITS, NO_BITS])
def test_leg_pairs_are_the_plain_reading(bits: np.uint64) -> None:
    rng = np.random.default_rng(1900 + int(bits % 7))
    for case in range(150):
        n = int(rng.integers(0, 400 if bits else 120))
        n_venues = int(rng.integers(1, 4))
        names = _account_names(rng, int(rng.integers(0, 700 if bits else 60)))
        table = _table(rng, n, [f"V{v}" for v in range(n_venues)], names, int(rng.integers(1, 4)))
        venue = rng.integers(0, n_venues, n).astype(np.int64)
        buyers, sellers = one_chunk(table["buyer"]), one_chunk(table["seller"])
        pair, first, pair_venue = cv._leg_pairs(*string_buffers(buyers)[:2], *string_buffers(sellers)[:2], venue,
                                                n_venues, bits)
        legs = buyers.to_pylist() + sellers.to_pylist()
        want = _plain_pairs(venue.tolist(), legs)
        assert (pair.tolist(), first.tolist(), pair_venue.tolist()) == want, case
        accounts = cv._pair_accounts(buyers, sellers, first)
        assert accounts.type == pa.string() and accounts.to_pylist() == [legs[k] for k in first], case


def test_the_table_grows_past_its_first_slots() -> None:
    """Thousands of distinct pairs (the first table has 1,024 slots): every pair kept, none merged."""
    rng = np.random.default_rng(1919)
    n = 6000
    table = _table(rng, n, ["A", "B", "C"], [f"acc-{i:06d}" for i in range(5000)], 2)
    venue = rng.integers(0, 3, n).astype(np.int64)
    buyers, sellers = one_chunk(table["buyer"]), one_chunk(table["seller"])
    pair, first, pair_venue = cv._leg_pairs(*string_buffers(buyers)[:2], *string_buffers(sellers)[:2], venue, 3,
                                            cv._ALL_BITS)
    want = _plain_pairs(venue.tolist(), buyers.to_pylist() + sellers.to_pylist())
    assert len(want[1]) > 2000
    assert (pair.tolist(), first.tolist(), pair_venue.tolist()) == want


def _same_classes(a: list[int], b: list[int]) -> bool:
    """Whether two labellings of the same legs group them alike (equal in one exactly where equal in the other)."""
    return len(set(zip(a, b, strict=True))) == len(set(a)) == len(set(b))


def _partition(rng: np.random.Generator, n: int, venues: list[str], chunks: int) -> Partition:
    """Trades on ``venues`` by accounts the accounts table partly knows: customers with accounts on one venue and on
    several, owners without a customer id, owners named like keys, accounts of every length and unknown ones."""
    names = _account_names(rng, 30)
    table = _table(rng, n, venues, names, chunks)
    rows: list[tuple[str, str, str | None]] = []
    for v in [*venues, "ZZZ"]:
        for a in names:
            if rng.random() < 0.6:
                owner = rng.choice(["C0", "C1", "C2", f"solo-{v}-{a}", f"{venues[0]}:{names[3]}", "none"])
                rows.append((v, a, None if owner == "none" else str(owner)))
    accounts = pa.table({c: pa.array([r[j] for r in rows], pa.string())
                         for j, c in enumerate(("venue", "account", "customer_id"))})
    return Partition(key={"symbol": "GEN-ETH-USD", "date": dt.date(2026, 1, 5)}, tables={"trades": table},
                     broadcast={"accounts": accounts})


@pytest.mark.parametrize("with_part", [True, False])
def test_leg_owners_group_the_legs_as_the_old_path(with_part: bool) -> None:
    """The same owners (up to their numbering) and the same owners-on-two-venues as session 18's path, through the
    venues' maps (with the partition) and through the all-venue map (without)."""
    rng = np.random.default_rng(1901 + with_part)
    for case in range(120):
        venues = ["HBX", "KLN", "VCT"][:int(rng.integers(2, 4))]
        part = _partition(rng, int(rng.integers(1, 300)), venues, int(rng.integers(1, 4)))
        table = part.tables["trades"]
        lookup = owner_lookup(owner_map(part))
        assert lookup is not None
        venue, firsts = venue_codes(*string_buffers(table["venue"].combine_chunks())[:2])
        given = part if with_part else None
        owner, multi = cv._leg_owners(given, table, lookup, venue, firsts)
        old_owner, old_multi = _old_leg_owners(given, table, lookup, venue, firsts)
        assert _same_classes(owner.tolist(), old_owner.tolist()), case
        assert multi.tolist() == old_multi.tolist(), case


def test_the_screens_verdicts_and_alerts_are_the_old_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_may_alert`` with the old ``_leg_owners`` gives the same verdicts, and the kernel the same alerts."""
    d = REGISTRY.get("cross_venue")
    rng = np.random.default_rng(1902)
    verdicts = {False: 0, True: 0, None: 0}
    for case in range(60):
        venues = ["HBX", "KLN", "VCT"][:int(rng.integers(1, 4))]
        part = _partition(rng, int(rng.integers(10, 300)), venues, int(rng.integers(1, 3)))
        table = part.tables["trades"]
        n = table.num_rows
        side = rng.choice(np.array(["buy", "sell", None], dtype=object), n).tolist()
        table = table.append_column("symbol", pa.array(["GEN-ETH-USD"] * n, pa.string())) \
            .append_column("trade_id", pa.array([f"t{i}" for i in range(n)], pa.string())) \
            .append_column("ts", pa.array(np.sort(rng.integers(0, 4 * 3600, n)) * 1_000_000
                                          + 1_767_571_200_000_000, pa.timestamp("us", "UTC"))) \
            .append_column("price", pa.array(rng.uniform(99, 101, n))) \
            .append_column("quantity", pa.array(rng.random(n).round(3))) \
            .append_column("aggressor", pa.array(side, pa.string())) \
            .append_column("buy_order_id", pa.array([f"b{k}" for k in rng.integers(0, 40, n)], pa.string())) \
            .append_column("sell_order_id", pa.array([f"s{k}" for k in rng.integers(0, 40, n)], pa.string()))
        part = Partition(part.key, {"trades": table}, broadcast=part.broadcast)
        config = cv.CrossVenueConfig(min_orders=int(rng.choice([1, 2, 3])), min_share=0.05, max_coincidence=1.0,
                                     require_benefit=bool(rng.random() < 0.5))
        verdict, alerts = cv._may_alert(part, config), d.kernel(part, config)
        verdicts[verdict] += 1
        with monkeypatch.context() as m:
            m.setattr(cv, "_leg_owners", _old_leg_owners)
            assert cv._may_alert(part, config) == verdict, case
            assert d.kernel(part, config).equals(alerts), case
    assert verdicts[True] >= 5 and verdicts[False] >= 5, verdicts
