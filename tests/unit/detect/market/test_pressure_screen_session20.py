"""Session 20's cheaper passes in the spoofing/layering screen against session 19's, kept here as the references
(the ``_old_`` functions, as they were): ``lifecycles.seeded_lives`` with the bloom filter's rows listed first and the
figures updated by selects; ``pressure_screen._decision_codes`` comparing a word at a time; ``_find_strings`` with no
branch on a string being found; ``_legs_by_key`` with the buys and sells read apart and no branch on a leg being
wanted; ``_accounts_by_owner`` grouped by a stable sort. On random inputs: ids of every length around the 8 and 16
bytes a word compare reads, long ids, nulls where the columns allow them, sliced arrays (offsets into their buffers),
several chunks, ties, and hashes thinned so that strings collide."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from numba import njit

import harbour.detect.market.lifecycles as lc
import harbour.detect.market.pressure_screen as ps
from harbour.data.arrow_strings import find_id, same_bytes, same_string, slot_of, string_buffers
from harbour.detect.market.owner_keys import owner_lookup

Buffers = tuple[np.ndarray, np.ndarray, np.ndarray]

# --- session 19's versions (the references) -------------------------------------------------------------------------

@njit(cache=False)
def _old_seeded_lives(ids: Buffers, h: np.ndarray, seed: np.ndarray, kind: np.ndarray, qty: np.ndarray, ts: np.ndarray,
                 buys: Buffers, buy_h: np.ndarray, buy_took: np.ndarray, sells: Buffers, sell_h: np.ndarray,
                 sell_took: np.ndarray, trade_q: np.ndarray) -> tuple[tuple[np.ndarray, ...], bool]:
    offsets, data, _ = ids
    rep = lc._seed_ids(h, seed)
    n_ids = rep.shape[0]
    table, mask = lc._id_table(h, rep)

    bits = 6
    while (1 << bits) < 16 * n_ids:
        bits += 1
    shift = np.uint64(64 - bits)
    bloom = np.zeros(1 << (bits - 6), np.uint64)
    for c in range(n_ids):
        b = h[rep[c]] >> shift
        bloom[b >> np.uint64(6)] |= np.uint64(1) << (b & np.uint64(63))

    rec = np.zeros((n_ids, 8), np.int64)
    sizes = np.full((n_ids, 2), -np.inf)
    for c in range(n_ids):
        n_bytes, w_first, w_last = lc._words(offsets, data, rep[c])
        rec[c, 0], rec[c, 1], rec[c, 2] = np.int64(n_bytes), np.int64(w_first), np.int64(w_last)
        rec[c, 3], rec[c, 4], rec[c, 5], rec[c, 6] = -1, -1, np.iinfo(np.int64).max, np.iinfo(np.int64).min
    filled, named, took = np.zeros(n_ids, np.float64), np.zeros(n_ids, np.int64), np.zeros(n_ids, np.int64)
    ok = True
    for i in range(h.shape[0]):
        x = h[i]
        b = x >> shift
        if not (bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1):
            continue
        s = np.intp(x & mask)
        while table[s, 1] != 0 and table[s, 0] != np.int64(x):
            s = np.intp((np.uint64(s) + np.uint64(1)) & mask)
        c = table[s, 1] - 1
        if c < 0:
            continue
        n_bytes, w_first, w_last = lc._words(offsets, data, i)
        if np.int64(n_bytes) != rec[c, 0] or (np.int64(w_first) != rec[c, 1] or np.int64(w_last) != rec[c, 2]
                                              if 8 <= n_bytes <= 16
                                              else not same_string(offsets, data, i, offsets, data, rep[c])):
            ok = False
            break
        if rec[c, 3] < 0:
            rec[c, 3] = i
        if kind[i] == 1:
            if rec[c, 4] < 0:
                rec[c, 4] = i
            rec[c, 5] = min(rec[c, 5], ts[i])
            sizes[c, 1] = max(sizes[c, 1], qty[i])
        elif kind[i] == 2:
            rec[c, 6] = max(rec[c, 6], ts[i])
        sizes[c, 0] = max(sizes[c, 0], qty[i])
    for side, side_h, side_took in ((buys, buy_h, buy_took), (sells, sell_h, sell_took)):
        side_offsets, side_data, side_valid = side
        for j in range(side_h.shape[0] if ok else 0):
            x = side_h[j]
            b = x >> shift
            if side_valid.shape[0] and not side_valid[j] \
                    or not (bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1):
                continue
            s = np.intp(x & mask)
            while table[s, 1] != 0 and table[s, 0] != np.int64(x):
                s = np.intp((np.uint64(s) + np.uint64(1)) & mask)
            c = table[s, 1] - 1
            if c < 0:
                continue
            n_bytes, w_first, w_last = lc._words(side_offsets, side_data, j)
            if np.int64(n_bytes) != rec[c, 0] or (np.int64(w_first) != rec[c, 1] or np.int64(w_last) != rec[c, 2]
                                                  if 8 <= n_bytes <= 16
                                                  else not same_string(side_offsets, side_data, j, offsets, data,
                                                                       rep[c])):
                ok = False
                break
            filled[c] += trade_q[j]
            named[c] += 1
            took[c] += side_took[j]
    lives = (rec[:, 3].copy(), rec[:, 4].copy(), rec[:, 5].copy(), rec[:, 6].copy(), sizes[:, 0].copy(),
             sizes[:, 1].copy(), filled, named, took)
    return lives, ok


@njit(cache=False)
def _old_decision_codes(order: np.ndarray, m: int, b_off: np.ndarray, b_data: np.ndarray, b_valid: np.ndarray,
                    b_h: np.ndarray, s_off: np.ndarray, s_data: np.ndarray, s_valid: np.ndarray, s_h: np.ndarray,
                    t_off: np.ndarray, t_data: np.ndarray, hash_mask: np.uint64) -> np.ndarray:
    n = order.shape[0]
    start, stop = np.empty(n, np.int64), np.empty(n, np.int64)
    src, hashes = np.empty(n, np.int8), np.empty(n, np.uint64)
    for j in range(n):
        r = order[j] % m
        if order[j] < m and (b_valid.shape[0] == 0 or b_valid[r]):
            src[j], start[j], stop[j], hashes[j] = 0, b_off[r], b_off[r + 1], b_h[r]
        elif order[j] >= m and (s_valid.shape[0] == 0 or s_valid[r]):
            src[j], start[j], stop[j], hashes[j] = 1, s_off[r], s_off[r + 1], s_h[r]
        else:
            src[j], start[j], stop[j], hashes[j] = 2, t_off[r], t_off[r + 1], ps._quick_hash(t_off, t_data, r)
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    slot_h, slot_id = np.zeros(1 << bits, np.uint64), np.full(1 << bits, -1, np.int64)
    rep, codes = np.empty(n, np.int64), np.empty(n, np.int64)
    shift, mask = np.uint64(64 - bits), (1 << bits) - 1
    n_codes = 0
    for j in range(n):
        x = hashes[j] & hash_mask
        s = np.intp(x >> shift)
        while slot_id[s] >= 0:
            if slot_h[s] == x:
                k = rep[slot_id[s]]
                if stop[k] - start[k] == stop[j] - start[j]:
                    here = b_data if src[j] == 0 else (s_data if src[j] == 1 else t_data)
                    there = b_data if src[k] == 0 else (s_data if src[k] == 1 else t_data)
                    if same_bytes(here, start[j], there, start[k], stop[j] - start[j]):
                        break
            s = (s + 1) & mask
        if slot_id[s] < 0:
            slot_h[s], slot_id[s], rep[n_codes] = x, n_codes, j
            n_codes += 1
        codes[j] = slot_id[s]
    return codes


@njit(cache=False)
def _old_find_strings(set_offsets: np.ndarray, set_data: np.ndarray, set_codes: np.ndarray, offsets: np.ndarray,
                  data: np.ndarray) -> np.ndarray | None:
    n = set_codes.shape[0]
    cap = 16
    while cap < 2 * n:
        cap *= 2
    slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
    for k in range(n):
        h = ps._quick_hash(set_offsets, set_data, k)
        s = slot_of(slot_h, slot_id, h)
        if slot_id[s] >= 0:
            return None
        slot_h[s], slot_id[s] = h, k
    out = np.full(offsets.shape[0] - 1, -1, np.int64)
    for i in range(out.shape[0]):
        k = find_id(slot_h, slot_id, ps._quick_hash(offsets, data, i))
        if k >= 0 and same_string(offsets, data, i, set_offsets, set_data, k):
            out[i] = set_codes[k]
    return out


@njit(cache=False)
def _old_legs_by_key(buyer: np.ndarray, seller: np.ndarray, is_wanted: np.ndarray, ts: np.ndarray, q: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m = buyer.shape[0]
    start = np.zeros(is_wanted.shape[0] + 1, np.int64)
    for j in range(2 * m):
        k = buyer[j] * 2 if j < m else seller[j - m] * 2 + 1
        if 0 <= k < is_wanted.shape[0] and is_wanted[k]:
            start[k + 1] += 1
    for k in range(is_wanted.shape[0]):
        start[k + 1] += start[k]
    n = start[-1]
    key, leg_ts, leg_q, order = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64), \
        np.empty(n, np.int64)
    for j in range(2 * m):
        k = buyer[j] * 2 if j < m else seller[j - m] * 2 + 1
        if 0 <= k < is_wanted.shape[0] and is_wanted[k]:
            p = start[k]
            start[k] += 1
            key[p], leg_ts[p], leg_q[p], order[p] = k, ts[j % m], q[j % m], j
    return key, leg_ts, leg_q, order


def _old_accounts_by_owner(owners: pl.DataFrame) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    lookup = owner_lookup(owners)
    assert lookup is not None
    _, code_of_key, ids = lookup
    named = owners.select("account", "owner").drop_nulls()["account"].to_list()
    by_owner: list[list[str]] = [[] for _ in ids]
    for account, code in zip(named, code_of_key.tolist(), strict=True):
        by_owner[code].append(account)
    keys = set(named)
    for name, code in ids.items():
        if name not in keys:
            by_owner[code].append(name)
    offsets, data, _ = string_buffers(pa.array([name for names in by_owner for name in names], pa.string()))
    starts = np.concatenate([[0], np.cumsum([len(names) for names in by_owner], dtype=np.int64)]).astype(np.int64)
    table = ((offsets, data), starts)
    return table


# --- inputs ----------------------------------------------------------------------------------------------------------


def _pool(rng: np.random.Generator, n: int, longest: int = 40) -> list[str]:
    """Up to ``n`` distinct ids of 0 to ``longest`` bytes, many sharing their first or last bytes (a word read at the
    wrong place would match): a stem with one or two bytes changed."""
    stem = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz" * 2
    letters = "#%&*+-=?@~0123456789"
    out: set[str] = set()
    for _ in range(20 * n):
        if len(out) >= n:
            break
        k = int(rng.integers(0, longest + 1))
        body = list(stem[:k])
        for at in rng.integers(0, max(k, 1), int(rng.integers(1, 3))).tolist():
            if k:
                body[at] = letters[int(rng.integers(0, len(letters)))]
        out.add("".join(body))
    return sorted(out)


def _sliced(rng: np.random.Generator, values: list[str | None]) -> pa.Array:
    """``values`` as a string array, often sliced out of a longer one (its offsets start past 0)."""
    pad = int(rng.integers(0, 4))
    arr = pa.array(["pad-" * int(rng.integers(1, 5))] * pad + values + ["tail"], pa.string())
    return arr.slice(pad, len(values))


def _chunks(rng: np.random.Generator, values: list[str | None]) -> pa.ChunkedArray:
    """``values`` in one to three chunks, read in one piece as the screen reads them (``_buffers``)."""
    cuts = sorted({0, len(values), *rng.integers(0, len(values) + 1, int(rng.integers(0, 3))).tolist()})
    return pa.chunked_array([_sliced(rng, values[a:z]) for a, z in zip(cuts, cuts[1:], strict=False)] or
                            [pa.array([], pa.string())], pa.string())


_MASKS = (np.uint64(2**64 - 1), np.uint64(0xFFFF000000000000), np.uint64(0xF00000000000000F), np.uint64(0))


# --- seeded_lives ----------------------------------------------------------------------------------------------------


def _lives_args(rng: np.random.Generator, n: int, m: int, mask: np.uint64) -> tuple:
    pool = _pool(rng, int(rng.integers(2, 200)))
    ids = [pool[k] for k in rng.integers(0, len(pool), n)]
    kind = rng.integers(0, 4, n).astype(np.int8)  # 3: a kind the lives do not read
    qty = rng.integers(1, 6, n).astype(np.float64)  # ties among the sizes
    qty[rng.random(n) < 0.05] = -np.inf
    ts = rng.integers(-5, 30, n).astype(np.int64)  # ties among the times, some before the epoch
    seed = rng.random(n) < rng.choice([0.0, 0.05, 0.3, 1.0])
    ev = ps._buffers(_chunks(rng, list(ids)))
    sides: list[object] = []
    for _ in range(2):
        names: list[str | None] = [None if rng.random() < rng.choice([0.0, 0.3]) else pool[k]
                                   for k in rng.integers(0, len(pool), m)]
        buf = ps._buffers(_chunks(rng, names))
        sides += [buf, ps._hashes(buf) & mask, rng.random(m) < 0.5]
    return (ev, ps._hashes(ev) & mask, seed, kind, qty, ts, *sides, rng.integers(1, 9, m).astype(np.float64))


def _same_lives(got: tuple[tuple[np.ndarray, ...], bool], want: tuple[tuple[np.ndarray, ...], bool]) -> bool:
    """The same answer: ``ok`` alike, and where it holds, every life alike (otherwise they are left half read)."""
    if got[1] != want[1]:
        return False
    return not got[1] or all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got[0], want[0], strict=True))


@pytest.mark.parametrize("seed", range(40))
def test_seeded_lives_are_session_19_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(0, 1500)), int(rng.integers(0, 400))
    for mask in _MASKS:
        args = _lives_args(rng, n, m, mask)
        assert _same_lives(lc.seeded_lives(*args), _old_seeded_lives(*args)), mask


def test_seeded_lives_at_a_collision_in_the_trades_alone() -> None:
    """A trade side's id sharing a seeded id's hash but not its bytes, the events all clean: both report it."""
    ids, sides = ["ABCDEFGHIJ1", "x"], ["ABCDEFGHIJ2"]
    ev, side = ps._buffers(pa.chunked_array([ids])), ps._buffers(pa.chunked_array([sides]))
    h, side_h = np.array([7, 9], np.uint64), np.array([7], np.uint64)
    empty = (ps._buffers(pa.chunked_array([pa.array([], pa.string())])), np.zeros(0, np.uint64), np.zeros(0, np.bool_))
    args = (ev, h, np.array([True, False]), np.ones(2, np.int8), np.ones(2), np.arange(2, dtype=np.int64),
            *empty, side, side_h, np.ones(1, np.bool_), np.ones(1))
    assert lc.seeded_lives(*args)[1] is False and _old_seeded_lives(*args)[1] is False


@pytest.mark.parametrize("seed", range(10))
def test_bloom_rows_are_the_rows_whose_bit_is_set(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    h = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    bits = int(rng.integers(6, 12))
    shift = np.uint64(64 - bits)
    bloom = rng.integers(0, 2**63, 1 << (bits - 6), dtype=np.uint64)
    top = h >> shift
    is_set = ((bloom[top >> np.uint64(6)] >> (top & np.uint64(63))) & np.uint64(1)).astype(np.bool_)
    assert lc._bloom_rows(h, bloom, shift, np.zeros(0, np.bool_)).tolist() == np.flatnonzero(is_set).tolist()
    valid = rng.random(n) < 0.7
    assert lc._bloom_rows(h, bloom, shift, valid).tolist() == np.flatnonzero(is_set & valid).tolist()


# --- decision codes --------------------------------------------------------------------------------------------------


def _decision_args(rng: np.random.Generator, mask: np.uint64) -> tuple:
    pool = _pool(rng, int(rng.integers(1, 120)), longest=int(rng.choice([7, 16, 40])))
    m = int(rng.integers(1, 300))

    def column(nulls: float) -> tuple[Buffers, np.ndarray]:
        names: list[str | None] = [None if rng.random() < nulls else pool[k] for k in rng.integers(0, len(pool), m)]
        buf = ps._buffers(_chunks(rng, names))
        return buf, ps._hashes(buf)

    (b_off, b_data, b_valid), b_h = column(float(rng.choice([0.0, 0.2])))
    (s_off, s_data, s_valid), s_h = column(float(rng.choice([0.0, 0.2])))
    (t_off, t_data, _), _ = column(0.0)  # trade ids from the same pool: an order id and a trade id may be one
    order = rng.permutation(2 * m)[:int(rng.integers(0, 2 * m + 1))].astype(np.int64)
    return order, m, b_off, b_data, b_valid, b_h, s_off, s_data, s_valid, s_h, t_off, t_data, mask


@pytest.mark.parametrize("seed", range(40))
def test_decision_codes_are_session_19_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for mask in _MASKS:
        args = _decision_args(rng, mask)
        assert ps._decision_codes(*args).tolist() == _old_decision_codes(*args).tolist(), mask


@pytest.mark.parametrize(("x", "y"), [
    ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNP"), ("ABCDEFGHIJKLMNO", "BBCDEFGHIJKLMNO"), ("ABCDEFGH", "ABCDEFGI"),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQXSTUVWXYZ"), ("ABC", "ABD"), ("", "")])
def test_same_words_tells_every_byte(x: str, y: str) -> None:
    a, b = np.frombuffer(x.encode(), np.uint8), np.frombuffer(y.encode(), np.uint8)
    for k in range(len(x) + 1):  # every length, from every start
        for start in range(len(x) - k + 1):
            assert ps._same_words(a, start, b, start, k) == (x[start:start + k] == y[start:start + k])


# --- found strings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_found_strings_are_session_19_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = _pool(rng, int(rng.integers(1, 400)), longest=int(rng.choice([8, 16, 30])))
    in_set = rng.random(len(pool)) < rng.choice([0.0, 0.05, 0.5, 1.0])
    chosen = [s for s, w in zip(pool, in_set, strict=True) if w]
    if chosen and rng.random() < 0.2:
        chosen.append(chosen[int(rng.integers(0, len(chosen)))])  # a string twice: its hash twice, a collision
    set_off, set_data, _ = string_buffers(_sliced(rng, list(chosen)))
    codes = rng.integers(0, 50, len(chosen)).astype(np.int64)
    query = [pool[k] for k in rng.integers(0, len(pool), int(rng.integers(0, 2000)))]
    off, data, _ = ps._buffers(_chunks(rng, list(query)))
    got, want = ps._find_strings(set_off, set_data, codes, off, data), _old_find_strings(set_off, set_data, codes,
                                                                                          off, data)
    assert (got is None and want is None) or (got is not None and want is not None and got.tolist() == want.tolist())


def test_found_strings_probe_past_another_s_home_slot() -> None:
    """Strings whose home slots are taken by others (many set strings, a table an eighth full: some are), each found
    past them, and strings not in the set landing on taken slots found nowhere."""
    rng = np.random.default_rng(7)
    pool = [f"acct{k:06d}" for k in range(6000)]
    chosen = pool[:3000]
    set_off, set_data, _ = string_buffers(pa.array(chosen, pa.string()))
    codes = np.arange(len(chosen), dtype=np.int64)
    query = [pool[k] for k in rng.integers(0, len(pool), 20000)]
    off, data, _ = string_buffers(pa.array(query, pa.string()))
    got = ps._find_strings(set_off, set_data, codes, off, data)
    assert got is not None
    assert got.tolist() == [int(s[4:]) if int(s[4:]) < 3000 else -1 for s in query]
    want = _old_find_strings(set_off, set_data, codes, off, data)
    assert want is not None and got.tolist() == want.tolist()


# --- legs by key -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_legs_by_key_are_session_19_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, owners = int(rng.integers(0, 500)), int(rng.integers(1, 40))
    buyer = rng.integers(-1, owners, m).astype(np.int64)  # -1: an owner not looked for
    seller = rng.integers(-1, owners, m).astype(np.int64)
    is_wanted = rng.random(int(rng.integers(1, 2 * owners + 3))) < rng.choice([0.1, 0.5, 1.0])  # keys past its end
    ts = np.sort(rng.integers(0, 50, m)).astype(np.int64)  # ties
    q = rng.integers(1, 9, m).astype(np.float64)
    got, want = ps._legs_by_key(buyer, seller, is_wanted, ts, q), _old_legs_by_key(buyer, seller, is_wanted, ts, q)
    assert all(a.tolist() == b.tolist() and a.dtype == b.dtype for a, b in zip(got, want, strict=True))


# --- the map's accounts by owner -------------------------------------------------------------------------------------


def _owner_map(rng: np.random.Generator) -> pl.DataFrame:
    n = int(rng.integers(0, 300))
    accounts = _pool(rng, n, longest=20)
    rng.shuffle(accounts)
    n_owners = max(n // int(rng.integers(1, 6)), 1)
    owner_names = [f"C{k}" for k in range(n_owners)]
    owner_names += accounts[:int(rng.integers(0, 5))]  # owners named like accounts of the map
    owners: list[str | None] = [None if rng.random() < 0.1 else owner_names[k]
                                for k in rng.integers(0, len(owner_names), n)]
    rows: list[str | None] = list(accounts)
    for k in range(len(rows)):
        if rng.random() < 0.05:
            rows[k] = None  # a key without an account (read without it)
    frame = pl.DataFrame({"account": rows, "owner": owners}, schema={"account": pl.String, "owner": pl.String})
    if n > 2 and rng.random() < 0.5:  # in several chunks
        cut = int(rng.integers(1, n))
        frame = pl.concat([frame[:cut], frame[cut:]], rechunk=False)
    return frame


@pytest.mark.parametrize("seed", range(60))
def test_accounts_by_owner_are_session_19_s(seed: int) -> None:
    owners = _owner_map(np.random.default_rng(seed))
    if owner_lookup(owners) is None:  # a key named twice (``Owners.read`` reads no such map)
        return
    ps._ACCOUNTS.clear()
    (off, data), starts = ps._accounts_by_owner(owners)
    (want_off, want_data), want_starts = _old_accounts_by_owner(owners)
    assert off.dtype == want_off.dtype and off.tolist() == want_off.tolist()
    assert bytes(data[:off[-1]]) == bytes(want_data[:want_off[-1]])
    assert starts.dtype == want_starts.dtype and starts.tolist() == want_starts.tolist()


def test_legs_by_key_with_no_key_wanted_is_empty() -> None:
    from harbour.detect.market.pressure_screen import _legs_by_key

    codes = np.array([0, 1, 2], np.int64)
    out = _legs_by_key(codes, codes, np.zeros(0, np.bool_), np.arange(3, dtype=np.int64), np.ones(3))
    assert [a.size for a in out] == [0, 0, 0, 0]
