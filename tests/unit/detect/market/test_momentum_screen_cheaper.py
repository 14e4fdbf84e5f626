"""Momentum ignition's Arrow screen without Polars: the aggressor's sides read by one compiled pass
(``momentum_screens.arrow_sides``), the decisions hashed from the order ids' Arrow bytes (``id_hashes``) instead
of a Polars Series' ``hash``, and the last step's collision check made on those bytes in place (``hash_shared``).
On random markets (customers of several accounts, accounts the accounts table does not know, self-trades, missing
aggressors, ties in time, order ids of 0 to 40 bytes, the trades in chunks) the sides are Arrow's, the hashes a
function of the ids, the check's answer the Polars-hashed check's, and where hashes are forced to collide the
answer is the exact one or "possible" (never "no" where the exact check says "possible").
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import harbour.detect.market.momentum_ignition as mi
from harbour.data.arrow_strings import string_buffers
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market import momentum_screens as ms
from harbour.detect.market.frames import leg_owners

from .test_momentum_arrow_screen import VENUE, _chunked, _configs, _fresh, _owned, _random_part, _with

SIDES = np.array(["buy", "sell", None, "", "bu", "buyy", "sel", "sell ", "Buy", "buy\x00", "sellsell"], dtype=object)


def _strings(rng: np.random.Generator, values: list[str | None], large: bool) -> pa.ChunkedArray:
    """``values`` as Arrow strings (or large strings) in random chunks, some sliced out of a longer array."""
    kind = pa.large_string() if large else pa.string()
    whole = pa.array(["pad"] + values + ["pad"], kind).slice(1, len(values))
    cuts = sorted({0, len(values), *rng.integers(0, len(values) + 1, int(rng.integers(0, 4))).tolist()})
    return pa.chunked_array([whole.slice(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)] or [whole], kind)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_sides_are_arrows_comparisons(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(60):
        n = int(rng.integers(0, 300))
        values = rng.choice(SIDES, n, p=rng.dirichlet(np.ones(SIDES.size))).tolist()
        aggressor = _strings(rng, values, bool(rng.random() < 0.3))
        buys, sells = ms.arrow_sides(aggressor)
        assert buys.dtype == np.bool_ and sells.dtype == np.bool_, case
        assert np.array_equal(buys, _is_side(aggressor, "buy")), case
        assert np.array_equal(sells, _is_side(aggressor, "sell")), case


def _ids(rng: np.random.Generator, n: int, n_distinct: int) -> list[str]:
    """``n`` ids drawn from ``n_distinct`` random strings of 0 to 40 bytes (some not ASCII)."""
    alphabet = np.array(list("0123456789abcdef-é"))
    pool = {"".join(rng.choice(alphabet, int(rng.integers(0, 41)))) for _ in range(n_distinct)}
    return rng.choice(np.array(sorted(pool), dtype=object), n).tolist()


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_the_id_hashes_are_a_function_of_the_strings(seed: int) -> None:
    """Equal ids hash equal wherever they are (buys or sells, which chunk, which offset), distinct ones not."""
    rng = np.random.default_rng(seed)
    for case in range(40):
        n = int(rng.integers(1, 400))
        ids = _ids(rng, 2 * n, int(rng.integers(1, 200)))
        large = bool(rng.random() < 0.3)
        hashes = ms.id_hashes(_strings(rng, ids[:n], large), _strings(rng, ids[n:], large))
        assert hashes.dtype == np.uint64 and hashes.size == 2 * n, case
        one = dict(zip(ids, hashes.tolist(), strict=True))  # a hash per string ...
        assert all(one[s] == h for s, h in zip(ids, hashes.tolist(), strict=True)), case
        assert len(set(one.values())) == len(one), case  # ... and a string per hash


@pytest.mark.parametrize("seed", [7, 8])
def test_a_shared_hash_is_found_by_its_bytes(seed: int) -> None:
    """``hash_shared`` says whether two distinct strings among the rows share a hash, rows in either array."""
    rng = np.random.default_rng(seed)
    for case in range(60):
        n = int(rng.integers(1, 100))
        ids = _ids(rng, 2 * n, int(rng.integers(1, 30)))
        buys, sells = pa.array(ids[:n]), pa.array(ids[n:])
        exact = ms.id_hashes(pa.chunked_array([buys]), pa.chunked_array([sells]))
        buckets = int(rng.integers(1, 6))
        forced = exact % np.uint64(buckets)  # few hashes: collisions wherever a bucket holds two strings
        rows = np.sort(rng.choice(2 * n, int(rng.integers(1, 2 * n + 1)), replace=False)).astype(np.int64)
        picked = [ids[r] for r in rows]
        for hashes in (exact, forced):
            want = len({int(hashes[r]) for r in rows}) != len(set(picked))
            got = ms.hash_shared(hashes, rows, n, *string_buffers(buys)[:2], *string_buffers(sells)[:2])
            assert got == want, case
            whole = pa.concat_arrays([buys, sells])  # one array: every row below ``n_first``
            one = ms.hash_shared(hashes, rows, 2 * n, *string_buffers(whole)[:2], *string_buffers(whole)[:2])
            assert one == want, case


def _with_ids(part: Partition, rng: np.random.Generator) -> Partition:
    """The partition with its order ids renamed to random strings of 0 to 40 bytes (equal ids stay equal)."""
    table = part.tables["trades"]
    old = table["buy_order_id"].to_pylist() + table["sell_order_id"].to_pylist()
    names = sorted(set(old))
    new = dict(zip(names, _ids(rng, len(names), 10 * len(names)), strict=True))
    # distinct ids must stay distinct: a clash of the random names is renamed by its old name
    if len(set(new.values())) < len(names):
        new = {k: f"{v}~{k}" for k, v in new.items()}
    n = table.num_rows
    renamed = [new[s] for s in old]
    table = _with(_with(table, "buy_order_id", pa.array(renamed[:n])), "sell_order_id", pa.array(renamed[n:]))
    return _fresh(part, table)


def _checks(part: Partition, config: mi.MomentumIgnitionConfig, hashes: np.ndarray | None = None
            ) -> tuple[bool, bool] | None:
    """The exit check on the Arrow runs with the Polars-hashed frame decisions (today's frame check), and with the
    Arrow decisions and ``hashes`` (the screen's own by default); None where the runs cannot be read."""
    table = part.tables["trades"]
    owners = leg_owners(_fresh(part), VENUE)
    assert owners is not None
    runs = ms.arrow_runs(table, owners, mi._gap_us(config), config.min_trades)
    if runs is None:
        return None
    day_s = ms.day_seconds(runs)
    frame_answer = mi._exit_possible(runs, mi._leg_decisions(_owned(_fresh(part))), day_s, config)
    decided = mi._arrow_decisions(table)
    assert decided is not None
    ids = pa.chunked_array(decided[0].chunks + decided[1].chunks, decided[0].type)
    own = ms.id_hashes(*decided) if hashes is None else hashes
    return frame_answer, mi._exit_possible(runs, ids, day_s, config, own)


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_the_arrow_hashed_check_answers_as_the_polars_hashed_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    answers: list[bool] = []
    for case in range(30):
        part = _random_part(rng, int(rng.integers(12, 500)))
        if rng.random() < 0.5:
            part = _with_ids(part, rng)
        if rng.random() < 0.5:
            part = _fresh(part, _chunked(part.tables["trades"], rng))
        for config in _configs():
            checks = _checks(part, config)
            if checks is None:
                continue
            assert checks[0] == checks[1], case
            assert mi._arrow_exit_possible(_fresh(part), config) == checks[0], case
            answers.append(checks[0])
    assert {True, False} <= set(answers)  # both answers were compared


@pytest.mark.parametrize("seed", [21, 22])
def test_colliding_hashes_only_say_possible_more_often(seed: int) -> None:
    """Hashes forced onto a few values (collisions everywhere): where the exact check says "possible", so does
    this one (its last step counts the strings of colliding hashes exactly)."""
    rng = np.random.default_rng(seed)
    for case in range(25):
        part = _random_part(rng, int(rng.integers(12, 400)))
        table = part.tables["trades"]
        decided = mi._arrow_decisions(table)
        assert decided is not None
        forced = ms.id_hashes(*decided) % np.uint64(int(rng.integers(1, 8)))
        for config in _configs():
            checks = _checks(part, config, forced)
            if checks is not None and checks[0]:
                assert checks[1], case


def test_the_kernels_alerts_are_those_of_its_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over random partitions, the kernel with its screen alerts as the kernel with the screen forced open."""
    rng = np.random.default_rng(31)
    kernel = REGISTRY.get("momentum_ignition").kernel
    for case in range(12):
        part = _with_ids(_random_part(rng, int(rng.integers(50, 500))), rng)
        for config in _configs()[::2]:
            screened = kernel(_fresh(part), config)
            with monkeypatch.context() as patch:
                patch.setattr(mi, "_arrow_exit_possible", lambda *_: None)
                patch.setattr(mi, "_exit_possible", lambda *_a, **_k: True)
                full = kernel(_fresh(part), config)
            assert screened.equals(full), case


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_the_exit_bounds_are_direct_counts_in_or_out_of_time_order(seed: int) -> None:
    """``exit_lows`` (its keys counted without branches, its time-order check read off the gathered times) against a
    direct count: legs of no owner left out, times in order, in ties, or out of order within some keys."""
    rng = np.random.default_rng(seed)
    for case in range(20):
        n, n_owners = int(rng.integers(1, 800)), int(rng.integers(1, 12))
        owner = rng.integers(-1, n_owners, n)
        side = np.where(rng.random(n) < 0.5, 1, -1)
        ts = np.sort(rng.integers(0, int(rng.choice([50, 7_200_000_000])), n))
        if rng.random() < 0.5:  # some legs out of time order
            moved = rng.random(n) < 0.2
            ts[moved] = rng.permutation(ts[moved])
        dec = rng.integers(0, int(rng.integers(1, 60)), n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        m = int(rng.integers(1, 40))
        b_owner, b_side = rng.integers(0, n_owners, m), np.where(rng.random(m) < 0.5, 1, -1)
        b_end, span = rng.integers(0, int(ts.max()) + 2, m), int(rng.integers(0, 2_000_000_000))
        lows = ms.exit_lows(owner, side, ts, dec, b_owner, b_side, b_end, span, np.inf)
        for b in range(m):
            mine = (owner == b_owner[b]) & (side == b_side[b])
            there = mine & (ts > b_end[b]) & (ts <= b_end[b] + span)
            want = -1 if not there.any() else len(set(dec[mine].tolist())) - len(set(dec[there].tolist()))
            assert lows[b] == want, (case, b)


def _is_side(aggressor: pa.ChunkedArray, side: str) -> np.ndarray:
    """Whether each trade's aggressor is ``side`` (a null is not), as the frame's ``aggressor == side`` filled (the
    reference ``ms.arrow_sides`` is checked against)."""
    return np.asarray(pc.fill_null(pc.equal(aggressor, side), False).to_numpy(), np.bool_)
