"""Front running's probe compares ids by their keys (``front_running_orders._key_of``: length and first and last 8
bytes) where it compared their bytes: two strings of 16 bytes or fewer have one key exactly when they are one
string, wherever they lie in their buffers (the last bytes of a buffer too); and the probe numbers the takers' ids
and finds the placements of each as a dictionary of the strings does, on ids of every length from 0 to 24 bytes
that share prefixes, suffixes, their first and last 8 bytes (the longer ones) and (forced) hashes, read from two
halves of Polars' string views (short ids held in the views, long ones in data buffers)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from numba import njit

import harbour.detect.market.front_running_orders as fro
from harbour.data.arrow_strings import string_buffers


@njit(cache=False)
def _keys(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    out = np.empty((offsets.shape[0] - 1, 3), np.uint64)
    for i in range(offsets.shape[0] - 1):
        n, w0, w1 = fro._key_of(offsets, data, i)
        out[i, 0], out[i, 1], out[i, 2] = np.uint64(n), w0, w1
    return out


def _alike(rng: np.random.Generator, n: int) -> list[str]:
    """Strings of 0 to 24 bytes from a small alphabet, many of one length and prefix or suffix."""
    stems = ["", "O", "O-1", "ord-0000", "ORDER-12345678", "x" * 9]
    out = []
    for _ in range(n):
        if rng.random() < 0.1:  # 17 to 24 bytes alike but for the middle: their keys are alike, their bytes not
            out.append("head-0-1" + "".join(rng.choice(list("ab"), rng.integers(1, 9)).tolist()) + "9-tail-z")
            continue
        body = "".join(rng.choice(list("ab01"), rng.integers(0, 10)).tolist())
        s = stems[rng.integers(len(stems))] + body if rng.random() < 0.5 else body + stems[rng.integers(len(stems))]
        out.append(s[:rng.integers(0, 25)])
    return out


@pytest.mark.parametrize("seed", range(6))
def test_keys_are_equal_exactly_for_one_string(seed: int) -> None:
    rng = np.random.default_rng(seed)
    strings = _alike(rng, 400)
    # each string alone at the end of its buffer (the masked load cannot read past it), then all in one buffer
    for packed in ([pa.array([s]) for s in strings], [pa.array(strings)]):
        found = []
        for arr in packed:
            offsets, data, _ = string_buffers(arr)
            found.append(_keys(offsets.astype(np.int64), data))
        keys = np.concatenate(found)
        short = [k for k, s in enumerate(strings) if len(s.encode()) <= 16]
        for i in short[:120]:
            for j in short:
                assert (keys[i] == keys[j]).all() == (strings[i] == strings[j]), (strings[i], strings[j])
        assert all(keys[k, 0] == len(strings[k]) for k in range(len(strings)))


def _halves(strings: list[str], split: int) -> fro.Halves:
    a, b = (fro.text(pl.Series(part, dtype=pl.String)) for part in (strings[:split], strings[split:]))
    assert a is not None and b is not None
    return fro.Halves(a, b)


def _orders(rng: np.random.Generator, ids: list[str], others: list[str]) -> pa.Table:
    """Order events: placements (some twice) of takers' ids and of other ids, and other events of both."""
    chosen = [*rng.choice(ids, len(ids) // 2).tolist(), *others]
    n = len(chosen)
    return pa.table({
        "order_id": pa.array(chosen, pa.string()),
        "event": pa.array(rng.choice(["new", "new", "cancel", "fill"], n).tolist(), pa.string()),
        "ts": pa.array(rng.integers(0, 10**12, n), pa.timestamp("us", "UTC")),
        "quantity": pa.array(rng.integers(1, 100, n).astype(float)),
        "order_type": pa.array(rng.choice(["market", "limit"], n).tolist(), pa.string()),
    })


def _expected(ids: list[str], orders: pa.Table) -> tuple[list[int], dict[int, tuple[int, float]], list[int]]:
    """Per taker's leg its id's number (first appearance), per number its earliest placement and largest size, and
    the rows of market placements of no taker's id: by a dictionary of the strings."""
    number: dict[str, int] = {}
    codes = [number.setdefault(s, len(number)) for s in ids]
    totals: dict[int, tuple[int, float]] = {}
    unfilled = []
    rows = orders.to_pylist()
    for r, row in enumerate(rows):
        if row["event"] != "new":
            continue
        c = number.get(row["order_id"])
        if c is None:
            if row["order_type"] == "market":
                unfilled.append(r)
            continue
        ts = int(pa.scalar(row["ts"]).cast(pa.int64()).as_py())
        was = totals.get(c)
        totals[c] = (ts, row["quantity"]) if was is None else (min(was[0], ts), max(was[1], row["quantity"]))
    return codes, totals, unfilled


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("shared_hashes", [False, True])
def test_the_probe_numbers_and_finds_ids_as_a_dictionary(seed: int, shared_hashes: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    pool = list(dict.fromkeys(_alike(rng, 300)))
    ids = rng.choice(pool[:200], 500).tolist()  # legs: ids repeated, in runs now and then
    ids = [s for s in ids for _ in range(int(rng.integers(1, 3)))]
    orders = _orders(rng, ids, pool[150:])
    if shared_hashes:  # four hashes for every string: every look-up meets other strings of its hash
        real = fro._hashes
        monkeypatch.setattr(fro, "_hashes", lambda *args: real(*args) & np.uint64(3))
        monkeypatch.setattr(fro, "_HASH_BITS", (np.uint64(3), np.uint64(0)))  # the probe hashes as it reads
    got = fro.probe_spans(_halves(ids, int(rng.integers(0, len(ids)))), orders)
    assert got is not None
    assert_probed(got, ids, orders)


def assert_probed(got: fro.Probed, ids: list[str], orders: pa.Table) -> None:
    """The probe's answer is the plain reading's (``_expected``): each leg's id, each id's first leg, its placement
    totals and the unfilled market orders."""
    codes, totals, unfilled = _expected(ids, orders)
    assert got.codes.tolist() == codes
    assert got.firsts.tolist() == [codes.index(c) for c in range(len(got.firsts))]
    for c in range(got.firsts.shape[0]):
        assert bool(got.has_placed[c]) == (c in totals)
        if c in totals:
            assert (int(got.placed[c]), float(got.size[c])) == totals[c]
    assert got.unfilled_rows.tolist() == unfilled
