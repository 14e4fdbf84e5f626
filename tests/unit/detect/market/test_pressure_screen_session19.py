"""Session 19's cheaper reads in the spoofing/layering screen against the reads they replace, on random inputs and on
generated markets: the bait's single-order tests, order types, prices and sides in one compiled call
(``pressure_screen._bait_rows``) against the separate passes; the seed rows listed without a branch
(``lifecycles._seed_ids``) against the plain loop; the wanted owners' accounts copied out of a per-map table
(``Owners._accounts_of``, ``_gather``, ``_owned_rows``) against the Python lists they were built from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import harbour.detect.market.lifecycles as lc
import harbour.detect.market.pressure_screen as ps
from harbour.data.arrow_strings import slot_of, string_buffers
from harbour.detect.market.frames import owner_map
from harbour.detect.market.owner_keys import owner_lookup

from .test_pressure_screen import _partitions, _spoof_market

# --- the bait's tests in one call ------------------------------------------------------------------------------------


def _separate_passes(orders: pa.Table, lives: tuple[np.ndarray, ...], max_life: int, big: float, fill_ratio: float,
                     slack: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The reading ``_bait_rows`` replaced (session 18's ``_bait_orders``): the single tests, then the first event's
    order type and the first placement's price, then the kept orders' sides; and whether one kept order was cancelled
    before it was placed."""
    first, first_new, placed, cancelled, size, new_size, filled, named = lives
    life = cancelled - placed
    keep, rows = ps._single_tests(cancelled, life, new_size, named, filled, size, max_life, big, fill_ratio, slack)
    keep[rows] = ps._equal(ps._buffers(orders.column("order_type")), first[rows], ps._LIMIT) \
        & ps._priced(orders, first_new[rows])
    picked = np.flatnonzero(keep)
    buy, sell = ps._buys_and_sells_at(*ps._buffers(orders.column("side")), first[picked])
    return picked, buy, sell, bool((life[keep] < 0).any())


def _one_call(orders: pa.Table, lives: tuple[np.ndarray, ...], max_life: int, big: float, fill_ratio: float,
              slack: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``_bait_rows`` called as ``_bait_orders`` calls it."""
    first, first_new, placed, cancelled, size, new_size, filled, named = lives
    return ps._bait_rows(cancelled, placed, new_size, named, filled, size, first, first_new, max_life, big,
                         fill_ratio, slack, *ps._buffers(orders.column("order_type")), *ps._price_bits(orders),
                         *ps._buffers(orders.column("side")))


def _chunked(rng: np.random.Generator, values: Sequence[object], kind: pa.DataType) -> pa.ChunkedArray:
    """``values`` in one to three chunks, the first sliced (an offset into its buffers)."""
    arr = pa.array([None, *values], kind).slice(1)
    cuts = sorted({0, len(values), *rng.integers(0, len(values) + 1, int(rng.integers(0, 3))).tolist()})
    return pa.chunked_array([arr.slice(a, z - a) for a, z in zip(cuts, cuts[1:], strict=False)] or [arr], kind)


def _hidden_nulls(rng: np.random.Generator, values: list[str]) -> pa.ChunkedArray:
    """``values`` with some rows null by the validity bits alone, their bytes still there (a read that skips the
    validity sees "limit" or "buy" where Arrow sees a null)."""
    arr = pa.array(values, pa.string())
    valid = rng.random(len(values)) >= 0.2
    bits = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    _, off, data = arr.buffers()
    return pa.chunked_array([pa.Array.from_buffers(pa.string(), len(values), [bits, off, data],
                                                   null_count=int((~valid).sum()))], pa.string())


def _random_orders(rng: np.random.Generator, n: int) -> pa.Table:
    types = ["limit", "market", "Limit", "limi", "limits", "", "a limit order type", None]
    sides = ["buy", "sell", "Buy", "sel", "sells", "", None]
    prices = [None if rng.random() < rng.choice([0.0, 0.3]) else float(k) for k in range(n)]
    order_type = ["limit" if rng.random() < 0.5 else types[k] for k in rng.integers(0, len(types), n)]
    side = [sides[k] if rng.random() < 0.3 else sides[k % 2] for k in rng.integers(0, len(sides), n)]
    hidden = rng.random() < 0.3
    return pa.table({
        "order_type": _hidden_nulls(rng, [t or "limit" for t in order_type]) if hidden
        else _chunked(rng, order_type, pa.string()),
        "side": _hidden_nulls(rng, [t or "buy" for t in side]) if hidden else _chunked(rng, side, pa.string()),
        "price": _chunked(rng, prices, pa.float64()),
    })


def _random_lives(rng: np.random.Generator, n_events: int, n: int) -> tuple[np.ndarray, ...]:
    first = rng.integers(0, max(n_events, 1), n) if n_events else np.zeros(0, np.int64)
    first_new = np.where(rng.random(n) < 0.2, -1, first)
    placed = np.where(first_new < 0, np.iinfo(np.int64).max, rng.integers(0, 10_000, n))
    cancelled = np.where(rng.random(n) < 0.2, ps._NONE, rng.integers(0, 12_000, n))  # some before their placement
    edge = rng.random(n) < 0.2
    cancelled[edge] = placed[edge] + rng.integers(-1, 1, int(edge.sum()))  # a microsecond before, or at, placement
    pick = np.array([0.0, 1.0, 99.99999999, 100.0, 100.00000001, 250.0, np.nan, -np.inf])
    new_size = pick[rng.integers(0, pick.size, n)]
    size = np.maximum(new_size, pick[rng.integers(0, pick.size, n)])
    filled = np.round(np.nan_to_num(size, posinf=0.0, neginf=0.0) * rng.random(n) * rng.choice([0.0, 0.2, 1.0], n), 1)
    return first, first_new, placed, cancelled, size, new_size, filled, rng.integers(0, 3, n)


@pytest.mark.parametrize("seed", range(40))
def test_bait_rows_are_the_separate_passes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_events = int(rng.integers(0, 120)) if seed % 5 else 0  # empty partitions too
    orders = _random_orders(rng, n_events)
    lives = _random_lives(rng, n_events, int(rng.integers(0, 200)) if n_events else 0)
    args = (int(rng.integers(0, 12_000)), 100.0 * (1 - 1e-9), float(rng.choice([0.0, 0.1, 1.0])), 1 + 1e-9)
    got, want = _one_call(orders, lives, *args), _separate_passes(orders, lives, *args)
    for g, w in zip(got[:3], want[:3], strict=True):
        assert g.tolist() == w.tolist()
    assert got[3] == want[3]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _spoof_market(tmp_path_factory.mktemp("session19"), 43)


def test_the_generated_markets_bait_is_read_as_before(lake: Path) -> None:
    """On generated partitions, the screen's own lives (``seeded_lives``) give the same bait either way, and every
    partition's answer is the same with the separate passes in place of the one call."""
    seen = 0
    for part in _partitions(lake):
        orders = part.tables["orders"]
        rng = np.random.default_rng(seen)
        n = orders.num_rows
        lives = (rng.integers(0, n, 400), np.where(rng.random(400) < 0.1, -1, rng.integers(0, n, 400)),
                 *_random_lives(rng, n, 400)[2:])
        args = (120_000_000, 3.0, 0.1, 1 + 1e-9)
        got, want = _one_call(orders, lives, *args), _separate_passes(orders, lives, *args)
        assert all(g.tolist() == w.tolist() for g, w in zip(got[:3], want[:3], strict=True)) and got[3] == want[3]
        seen += 1
    assert seen > 0


# --- the seed rows without a branch ----------------------------------------------------------------------------------


def _plain_seed_ids(h: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Session 18's ``_seed_ids``: each seed row tested in turn."""
    first: dict[int, int] = {}
    for i in range(h.shape[0]):
        if seed[i]:
            first.setdefault(int(h[i]), i)
    return np.array(sorted(first.values()), np.int64)


@pytest.mark.parametrize("seed", range(30))
def test_seed_ids_are_the_plain_loops(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    h = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(seed % 2)
    h &= np.uint64([2**64 - 1, 7, 1, 0][seed % 4])  # thinned: many rows share a hash
    mask = rng.random(n) < rng.choice([0.0, 0.1, 0.5, 1.0])
    assert lc._seed_ids(h, mask).tolist() == _plain_seed_ids(h, mask).tolist()


def test_seed_ids_keep_their_table_s_slots() -> None:
    """The rows found are those whose hash the table holds once (``slot_of``), in row order."""
    h = np.array([5, 9, 5, 7, 9, 11], np.uint64)
    rep = lc._seed_ids(h, np.array([False, True, True, True, True, False]))
    assert rep.tolist() == [1, 2, 3]
    slot_h, slot_id = np.zeros(16, np.uint64), np.full(16, -1, np.int64)
    for k, r in enumerate(rep.tolist()):
        s = slot_of(slot_h, slot_id, h[r])
        assert slot_id[s] < 0
        slot_h[s], slot_id[s] = h[r], k


# --- the wanted owners' accounts -------------------------------------------------------------------------------------


def _listed_accounts(owners: pl.DataFrame, coded: ps.Owners, wanted: np.ndarray) -> list[tuple[str, int]]:
    """Session 18's ``_accounts_of``: per wanted owner, the map's accounts it owns and its own name where that is no
    key of the map (from Python lists), and an account the map does not know under its own code."""
    lookup = owner_lookup(owners)
    assert lookup is not None
    _, code_of_key, ids = lookup
    named = owners.select("account", "owner").drop_nulls()["account"].to_list()
    by_owner: list[list[str]] = [[] for _ in ids]
    for account, code in zip(named, code_of_key.tolist(), strict=True):
        by_owner[code].append(account)
    for name, code in ids.items():
        if name not in set(named):
            by_owner[code].append(name)
    out: list[tuple[str, int]] = []
    for code in wanted.tolist():
        names = by_owner[code] if code < len(by_owner) \
            else coded.accounts.filter(pa.array(coded.codes == code)).to_pylist()
        out += [(name, code) for name in names]
    return out


def _listed_find(owners: pl.DataFrame, coded: ps.Owners, wanted: np.ndarray, columns: list[pa.ChunkedArray]
                 ) -> list[np.ndarray] | None:
    """Session 18's ``Owners.find``: the listed accounts as an Arrow array, then each column probed."""
    pairs = _listed_accounts(owners, coded, np.unique(wanted))
    offsets, data, _ = string_buffers(pa.array([name for name, _ in pairs], pa.string()))
    codes = np.array([code for _, code in pairs], np.int64)
    found = []
    for col in columns:
        got = ps._find_strings(offsets, data, codes, *ps._buffers(col)[:2])
        if got is None:
            return None
        found.append(got)
    return found


def _name(rng: np.random.Generator, k: int) -> str:
    """Account names of 1 to 30 bytes (past the 8 and 16 a word compare reads)."""
    return f"acct-{k}-" + "x" * int(rng.integers(0, 22)) if rng.random() < 0.5 else f"a{k}"


@pytest.mark.parametrize("seed", range(25))
def test_wanted_accounts_are_the_listed_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_map = int(rng.integers(1, 60))
    accounts = [_name(rng, k) for k in range(n_map)]
    owner_names: list[str | None] = [None if rng.random() < 0.1 else f"O{k}"  # keys without an owner too
                                     for k in rng.integers(0, max(n_map // 3, 1), n_map)]
    owners = pl.DataFrame({"account": accounts, "owner": owner_names}, schema={"account": pl.String,
                                                                             "owner": pl.String})
    unknown = [f"stranger-{k}" for k in range(int(rng.integers(0, 4)))] + ["O0", "O1"]  # owners' own names too
    pool = accounts + unknown
    bait_accounts = [pool[k] for k in rng.integers(0, len(pool), int(rng.integers(1, 80)))]
    read = ps.Owners.read(owners, _chunked(rng, bait_accounts, pa.string()))
    assert read is not None
    coded, bait_owner = read
    wanted = np.unique(bait_owner[rng.random(bait_owner.size) < 0.6])
    offsets, data, codes = coded._accounts_of(wanted)
    got = pa.Array.from_buffers(pa.string(), codes.size, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    assert sorted(zip(got.to_pylist(), codes.tolist(), strict=True)) == sorted(_listed_accounts(owners, coded, wanted))
    legs = [pool[k] for k in rng.integers(0, len(pool), int(rng.integers(0, 200)))] + ["nobody"]
    columns = [_chunked(rng, legs, pa.string()), pa.chunked_array([pa.array(legs[::-1], pa.string())])]
    found, want = coded.find(wanted, columns), _listed_find(owners, coded, wanted, columns)
    assert found is not None and want is not None
    assert [f.tolist() for f in found] == [w.tolist() for w in want]


def test_an_account_listed_twice_is_a_collision_as_before() -> None:
    """An account the map does not know, named like an owner of the map: both readings hold its name once under the
    owner's code (``account_owners`` gives it that owner), so neither reports a collision."""
    owners = pl.DataFrame({"account": ["a1", "a2"], "owner": ["O1", "O1"]})
    read = ps.Owners.read(owners, pa.chunked_array([["a1", "O1", "zz"]]))
    assert read is not None
    coded, bait = read
    columns = [pa.chunked_array([["O1", "a2", "zz", "q"]])]
    found, want = coded.find(bait, columns), _listed_find(owners, coded, bait, columns)
    assert found is not None and want is not None and found[0].tolist() == want[0].tolist()
    assert found[0].tolist() == [bait[0], bait[0], bait[2], -1]


def test_the_generated_markets_owners_are_found_as_before(lake: Path) -> None:
    seen = 0
    for part in _partitions(lake):
        owners = owner_map(part, str(part.key["venue"]))
        orders, trades = part.tables["orders"], part.tables["trades"]
        read = ps.Owners.read(owners, orders.column("account"))
        assert read is not None
        coded, owner_codes = read
        rng = np.random.default_rng(seen)
        wanted = np.unique(owner_codes[rng.random(owner_codes.size) < 0.05])
        columns = [trades.column("buyer"), trades.column("seller")]
        found, want = coded.find(wanted, columns), _listed_find(owners, coded, wanted, columns)
        assert found is not None and want is not None
        assert [f.tolist() for f in found] == [w.tolist() for w in want]
        seen += 1
    assert seen > 0


@pytest.mark.parametrize("seed", range(20))
def test_gather_is_arrow_s_take(seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = ["", "a", "abcdefgh", "abcdefghi", "a much longer string than sixteen bytes", "üñï"]
    n = int(rng.integers(0, 60))
    arr = pa.array([words[k] for k in rng.integers(0, len(words), n + 3)], pa.string()).slice(3)
    rows = rng.integers(0, n, int(rng.integers(0, 50))) if n else np.zeros(0, np.int64)
    offsets, data, _ = string_buffers(arr)
    out_off, out_data = ps._gather(offsets, data, rows.astype(np.int64))
    got = pa.StringArray.from_buffers(rows.size, pa.py_buffer(out_off), pa.py_buffer(out_data))
    assert got.to_pylist() == pc.take(arr, pa.array(rows, pa.int64())).to_pylist()
