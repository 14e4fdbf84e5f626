"""Front running's probe made cheaper (session of issue 4): each id's hash and key read in one function
(``_keyed``), the look-ups of ids of 16 bytes or fewer told by their keys alone (``_short_slot``) and the longer ones'
byte compares in calls of their own (``_long_slot``, ``_same_pair``); ``one_string_each`` comparing each row with its
hash's first string by their keys (a null's its own length), its table given room for the rows up to
``_FIRST_ROOM`` first. The answers must be those of a dictionary of the strings, whatever hashes the strings share
(forced through ``_HASH_BITS`` and by hashes cut to a few values), on ids short and long (the long ones alike in
their first and last 8 bytes, so their keys match and their bytes decide), with nulls and empty strings, on more
distinct strings than the first room holds; and on random markets (customers owning several accounts, accounts the
accounts table does not know, self-trades, ties in time, null aggressors) with their order ids made long, the
kernel's alerts must be the full path's with every hash shared four ways.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.front_running_orders as fro
from harbour.detect.framework import Partition

from .test_front_running_arrow_screen import LOOSE, _kernels, _random_part
from .test_front_running_probe_keys import _alike, _halves, _orders, assert_probed

_ALL = 2**64 - 1


def _one_each_as_a_dictionary(strings: list[str | None], hashes: np.ndarray, rows: np.ndarray) -> bool:
    """Whether no hash of the rows is shared by two values (a null one value apart from every string)."""
    seen: dict[int, tuple[bool, str]] = {}
    for r in rows.tolist():
        value = (strings[r] is None, strings[r] or "")
        if seen.setdefault(int(hashes[r]), value) != value:
            return False
    return True


def _long(rng: np.random.Generator, n: int) -> list[str]:
    """Strings of 17 to 30 bytes alike in their first and last 8 bytes (their keys alike: the bytes decide)."""
    return ["head-0-1" + "".join(rng.choice(list("ab"), rng.integers(1, 15)).tolist()) + "9-tail-z" for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cut", [_ALL, 3, 0])
def test_one_string_each_answers_as_a_dictionary(seed: int, cut: int) -> None:
    """Rows of two halves (short strings in Polars' views, long ones in data buffers), nulls and empty strings
    among them, their hashes real or cut to four values or one."""
    rng = np.random.default_rng(seed)
    pool: list[str | None] = [*dict.fromkeys(_alike(rng, 200) + _long(rng, 40)), None, ""]
    strings = [pool[k] for k in rng.integers(0, len(pool), 600)]
    split = int(rng.integers(0, len(strings)))
    first, second = (fro.text(pl.Series(part, dtype=pl.String)) for part in (strings[:split], strings[split:]))
    assert first is not None and second is not None
    halves = fro.Halves(first, second)
    hashes = halves.hashes() & np.uint64(cut)
    for size in (1, 2, 5, 40, 600):
        for _ in range(10):
            rows = rng.integers(0, len(strings), size)
            if rng.random() < 0.5:  # rows of one value only, then of values sharing no hash when not cut
                value = strings[int(rows[0])]
                rows = np.array([r for r in range(len(strings)) if strings[r] == value][:size])
            want = _one_each_as_a_dictionary(strings, hashes, rows)
            got = fro.one_string_each(first.spans, first.data, first.valid, second.spans, second.data,
                                      second.valid, hashes, rows)
            assert bool(got) == want, (size, rows.tolist())


def test_one_string_each_grows_past_its_first_room() -> None:
    """More distinct strings than ``_FIRST_ROOM`` holds (the table grows with the rows' keys), each read twice, and
    then one of them with a hash shared by another string."""
    n = fro._FIRST_ROOM + 3000
    strings = [f"o{k:07d}" for k in range(n)] + [f"owner-long-name-{k:09d}" for k in range(n // 4)]
    spans = fro.text(pl.Series(strings, dtype=pl.String))
    assert spans is not None
    halves = fro.Halves(spans, fro.NO_STRING)
    hashes = halves.hashes()
    rows = np.concatenate([np.arange(len(strings)), np.arange(len(strings))[::-1]])
    assert fro.one_string_each(spans.spans, spans.data, spans.valid, fro.NO_STRING.spans, fro.NO_STRING.data,
                               fro.NO_STRING.valid, hashes, rows)
    for a, b in ((5, 9), (n + 2, n + 7), (3, n + 1)):  # short with short, long with long, short with long
        shared = hashes.copy()
        shared[b] = shared[a]
        assert not fro.one_string_each(spans.spans, spans.data, spans.valid, fro.NO_STRING.spans,
                                       fro.NO_STRING.data, fro.NO_STRING.valid, shared, rows)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bits", [(_ALL, 0), (3, 0), (0, 0)])
def test_the_probe_finds_long_and_short_ids_as_a_dictionary(seed: int, bits: tuple[int, int],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Takers' ids short and long (runs of one id: a sweep's fills), placed and not, with other ids' placements."""
    rng = np.random.default_rng(100 + seed)
    pool = list(dict.fromkeys(_alike(rng, 150) + _long(rng, 150)))
    rng.shuffle(pool)  # type: ignore[arg-type]
    ids = rng.choice(pool[:200], 400).tolist()
    ids = [s for s in ids for _ in range(int(rng.integers(1, 4)))]
    orders = _orders(rng, ids, pool[150:])
    monkeypatch.setattr(fro, "_HASH_BITS", (np.uint64(bits[0]), np.uint64(bits[1])))
    got = fro.probe_spans(_halves(ids, int(rng.integers(0, len(ids)))), orders)
    assert got is not None
    assert_probed(got, ids, orders)


def _long_ids(part: Partition, rng: np.random.Generator) -> Partition:
    """The partition with its order ids (trades' and order events' alike) made long on one side and long or short,
    alike in their first and last 8 bytes, on the other."""
    pad = "-" + "x" * int(rng.integers(0, 12)) + "-"

    def longer(col: pa.ChunkedArray) -> pa.Array:
        return pa.array([None if s is None else ("order-00" + pad + s + "-pad9" if s[0] in "bm" or len(s) % 2
                                                 else s) for s in col.to_pylist()], col.type)

    trades, orders = part.tables["trades"], part.tables["orders"]
    for name in ("buy_order_id", "sell_order_id"):
        trades = trades.set_column(trades.column_names.index(name), name, longer(trades[name]))
    orders = orders.set_column(orders.column_names.index("order_id"), "order_id", longer(orders["order_id"]))
    return dataclasses.replace(part, tables={**part.tables, "trades": trades, "orders": orders}, shared={})


def test_random_markets_with_long_ids_and_shared_hashes_give_the_full_path_s_alerts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(44)
    alerted = 0
    for case in range(24):
        part = _long_ids(_random_part(rng, int(rng.integers(10, 400))), rng)
        with monkeypatch.context() as m:
            if case % 2:
                m.setattr(fro, "_HASH_BITS", (np.uint64(3), np.uint64(0)))
            got, frames, full = _kernels(part, LOOSE, monkeypatch)
        assert got.equals(frames) and got.equals(full), case
        alerted += got.num_rows > 0
    assert alerted > 4, alerted  # not only empty tables


def test_the_codes_hash_as_their_strings() -> None:
    """``code_hashes`` is ``code_strings``' ``hashes()``, on codes small and up to the largest non-negative."""
    rng = np.random.default_rng(7)
    codes = np.concatenate([np.arange(300), rng.integers(0, 2**63 - 1, 3000, dtype=np.int64),
                            np.array([2**63 - 1, 2**32, 2**32 - 1, 255, 256])])
    assert np.array_equal(fro.code_hashes(codes), fro.code_strings(codes).hashes())
    assert fro.code_hashes(np.zeros(0, np.int64)).shape[0] == 0


def test_the_legs_owners_hashes_are_the_strings_and_shared_ones_are_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Arrow arrays' owners' hashes (per leg, read from the codes) are those of the owners' strings, and with
    every owner's hash cut to two values (the screens then meet owners sharing a hash) the kernel's alerts are still
    the full path's."""
    rng = np.random.default_rng(9)
    real = fro.code_hashes
    alerted = 0
    for case in range(16):
        part = _random_part(rng, int(rng.integers(10, 400)))
        found = fro.arrow_trade_arrays(dataclasses.replace(part, shared={}), "HBX")
        assert found is not None and found.owner_hashes is not None
        assert np.array_equal(found.owner_hashes, found.owners.hashes())
        with monkeypatch.context() as m:
            m.setattr(fro, "code_hashes", lambda codes: real(codes) & np.uint64(1))
            got, frames, full = _kernels(part, LOOSE, monkeypatch)
        assert got.equals(frames) and got.equals(full), case
        alerted += got.num_rows > 0
    assert alerted > 3, alerted
