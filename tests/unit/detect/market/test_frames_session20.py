"""``frames.robust_spread``'s compiled median deviation gives numpy's figure bit for bit: on random vectors of odd and
even lengths, with ties, runs of one value (the standard deviation's fallback), tiny and huge scales, strided views,
and with NaN or infinite values (left to numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from harbour.detect.market.frames import _median_deviation, robust_spread


def _numpy_spread(values: np.ndarray) -> float:
    """Session 19's robust_spread: numpy's two medians."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values)))) or float(np.std(values)) or 1e-9


def _vector(rng: np.random.Generator, n: int, trial: int) -> np.ndarray:
    v = rng.normal(size=n) * 10 ** rng.uniform(-8, 3)
    if trial % 3 == 0:
        v = np.round(v, int(rng.integers(0, 4)))  # ties
    if trial % 5 == 0:
        v[: n // 2 + 1] = v[0]  # most values equal: the deviation is 0, the standard deviation answers
    return v


@pytest.mark.parametrize("seed", range(8))
def test_compiled_spread_is_numpys_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(400):
        v = _vector(rng, int(rng.integers(1, 300)), trial)
        assert robust_spread(v) == _numpy_spread(v)
        assert robust_spread(v[::2]) == _numpy_spread(v[::2])  # a strided view


def test_all_equal_and_single_values_keep_the_fallbacks() -> None:
    assert robust_spread(np.full(7, 3.25)) == 1e-9
    assert robust_spread(np.array([5.0])) == 1e-9
    v = np.array([1.0, 1.0, 1.0, 2.0])
    assert robust_spread(v) == _numpy_spread(v) == float(np.std(v))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_values_not_finite_are_left_to_numpy(bad: float) -> None:
    v = np.array([0.1, -0.3, bad, 0.2, 0.05])
    assert np.isnan(_median_deviation(v))
    with np.errstate(invalid="ignore"):
        expected = _numpy_spread(v)
        assert robust_spread(v) == expected or (np.isnan(robust_spread(v)) and np.isnan(expected))


def test_other_types_take_numpys_reading() -> None:
    ints = np.array([1, 5, 2, 9, 4], np.int64)
    assert robust_spread(ints) == _numpy_spread(ints)
    halves = np.array([0.5, 0.25, 0.75, 0.125], np.float32)
    assert robust_spread(halves) == _numpy_spread(halves)


# --- leg owners of a table and of its look-back slice (frames._raw_from_overlap) ---------------------------------

import datetime as dt  # noqa: E402
from dataclasses import replace  # noqa: E402

import pyarrow as pa  # noqa: E402

from harbour.detect.framework import Partition, Window  # noqa: E402
from harbour.detect.market import frames  # noqa: E402
from harbour.detect.market.owner_keys import leg_codes  # noqa: E402

VENUE = "HBX"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def _session19_leg_owners(part: Partition) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Session 19's reading: every leg of the table looked up, then numbered densely."""
    arrow = part.tables["trades"]
    legs = pa.chunked_array(arrow["buyer"].chunks + arrow["seller"].chunks, pa.string()).combine_chunks()
    coded = leg_codes(frames.owner_map(part, VENUE), legs)
    if coded is None:
        return None
    code, size = coded
    return code[:arrow.num_rows], code[arrow.num_rows:], size


def _trades(rng: np.random.Generator, accounts: list[str], n: int) -> pa.Table:
    table = pa.table({
        "venue": [VENUE] * n, "symbol": ["X/USD"] * n, "trade_id": [f"t{i:05d}" for i in range(n)],
        "ts": pa.array([T0 + dt.timedelta(seconds=i) for i in range(n)], pa.timestamp("us", "UTC")),
        "buyer": pa.array(rng.choice(accounts, n).tolist(), pa.string()),
        "seller": pa.array(rng.choice(accounts, n).tolist(), pa.string())})
    cuts = sorted({0, n, *rng.integers(0, n + 1, int(rng.integers(0, 3))).tolist()})  # several chunks
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)])


def _market(rng: np.random.Generator, all_known: bool) -> tuple[pa.Table, dict[str, pa.Table]]:
    accounts = [f"A{i}" for i in range(int(rng.integers(1, 30)))] + ["ünï-😀", "C1", "a-very-long-account-name-xyz"]
    links = [(a, str(rng.choice(["C1", "C2", "A1", "ünï-😀", f"cust-{a}"]))) for a in accounts
             if all_known or rng.random() < 0.7]
    acc = pa.table({"venue": [VENUE] * len(links), "account": pa.array([a for a, _ in links], pa.string()),
                    "customer_id": pa.array([c for _, c in links], pa.string())})
    return _trades(rng, accounts, int(rng.integers(1, 120))), {"accounts": acc}


def _parts(tables: list[pa.Table], broadcast: dict[str, pa.Table]) -> list[Partition]:
    shared: dict[object, object] = {}  # one partition's scratch space, as the runner hands every detector of a read
    return [Partition({"venue": VENUE, "symbol": "X/USD", "date": T0.date()}, {"trades": t}, Window(), broadcast,
                      shared) for t in tables]


def _assert_same(found: tuple[np.ndarray, np.ndarray, int] | None,
                 expected: tuple[np.ndarray, np.ndarray, int] | None) -> None:
    assert (found is None) == (expected is None)
    if found is not None and expected is not None:
        assert found[0].tolist() == expected[0].tolist() and found[1].tolist() == expected[1].tolist()
        assert found[2] == expected[2]


@pytest.mark.parametrize("seed", range(6))
def test_a_table_and_its_look_back_slice_get_session19s_codes_in_either_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(60):
        full, broadcast = _market(rng, all_known=case % 3 != 0)  # a third with accounts the map lacks
        start = int(rng.integers(0, full.num_rows + 1))
        view = full.slice(start)  # the runner's view of a detector with less look-back
        for order in ([full, view], [view, full], [view, view, full, full]):
            parts = _parts(order, broadcast)
            for part in parts:
                _assert_same(frames.leg_owners(part, VENUE), _session19_leg_owners(replace(part, shared={})))


def test_only_the_rows_the_slice_lacks_are_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    full, broadcast = _market(rng, all_known=True)
    full = _trades(rng, [f"A{i}" for i in range(5)], 100)
    broadcast = {"accounts": pa.table({"venue": [VENUE] * 5, "account": [f"A{i}" for i in range(5)],
                                       "customer_id": ["C1", "C1", "C2", "C3", "C3"]})}
    asked: list[int] = []
    inner = frames.account_owners

    def spy(owners: object, legs: pa.Array) -> np.ndarray | None:
        asked.append(len(legs))
        return inner(owners, legs)  # type: ignore[arg-type]

    monkeypatch.setattr(frames, "account_owners", spy)
    view, later = _parts([full.slice(30), full], broadcast)
    _assert_same(frames.leg_owners(view, VENUE), _session19_leg_owners(replace(view, shared={})))
    _assert_same(frames.leg_owners(later, VENUE), _session19_leg_owners(replace(later, shared={})))
    assert asked == [140, 60]  # the slice's 70 trades' two legs, then the 30 rows before it
    shorter = _parts([full, full.slice(10)], broadcast)
    asked.clear()
    for part in shorter:
        _assert_same(frames.leg_owners(part, VENUE), _session19_leg_owners(replace(part, shared={})))
    assert asked == [200]  # the slice's codes are the table's own from row 10


def test_equal_rows_in_other_buffers_are_looked_up_again() -> None:
    rng = np.random.default_rng(3)
    full, broadcast = _market(rng, all_known=True)
    copy = pa.Table.from_pylist(full.to_pylist(), schema=full.schema)  # the same values, other buffers
    assert frames._suffix_start(full, copy) is None and frames._suffix_start(full, full.slice(5)) == 5
    for part in _parts([full, copy.slice(2)], broadcast):
        _assert_same(frames.leg_owners(part, VENUE), _session19_leg_owners(replace(part, shared={})))


# --- the owner map's owner numbering (owner_keys._key_lookup) ----------------------------------------------------

import polars as pl  # noqa: E402

from harbour.detect.market import owner_keys  # noqa: E402


@pytest.mark.parametrize("seed", range(4))
def test_owners_are_numbered_in_order_of_first_appearance_as_before(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(50):
        n = int(rng.integers(0, 300))
        names = [f"cust-{i}" for i in range(int(rng.integers(1, 40)))] + ["ünï-😀", "", "a-very-long-owner-name-x"]
        owner = [None if rng.random() < 0.1 else str(rng.choice(names)) for _ in range(n)]
        owners = pl.DataFrame({"account": [f"acc-{i}" for i in range(n)], "owner": owner},
                              schema={"account": pl.String, "owner": pl.String})
        found = owner_keys.owner_lookup(owners)
        assert found is not None, case
        _, code_of_key, ids = found
        expected: dict[str, int] = {}  # session 19's numbering: a Python loop in key order
        codes = [expected.setdefault(o, len(expected)) for o in owners.drop_nulls()["owner"].to_list()]
        assert list(ids.items()) == list(expected.items()), case
        assert code_of_key.tolist() == codes and code_of_key.dtype == np.int64, case


def test_a_table_with_accounts_the_map_lacks_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    full = _trades(np.random.default_rng(11), ["A0", "A1", "stranger", "B7"], 50)
    broadcast = {"accounts": pa.table({"venue": [VENUE] * 2, "account": ["A0", "A1"], "customer_id": ["C1", "C1"]})}
    asked: list[int] = []
    inner = owner_keys.accounts_found

    def spy(table: tuple[np.ndarray, ...], offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
        asked.append(len(offsets) - 1)
        return inner(table, offsets, data)

    parts = _parts([full, full.slice(20)], broadcast)
    monkeypatch.setattr(owner_keys, "accounts_found", spy)  # every look-up of legs, however it is reached
    found = [frames.leg_owners(part, VENUE) for part in parts]
    assert asked == [100, 60]  # each table's legs once: codes of unknown accounts are neither kept nor reused
    monkeypatch.undo()
    for part, got in zip(parts, found, strict=True):
        _assert_same(got, _session19_leg_owners(replace(part, shared={})))
