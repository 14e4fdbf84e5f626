"""Momentum ignition's exit check read off the Arrow trades before any frame is built (``_arrow_exit_possible``,
``momentum_screens.arrow_runs``): on random markets of a few owners (customers of several accounts, accounts the
accounts table does not know, an unknown account named like a customer, self-trades of one account and of two
accounts of one customer, missing aggressors, orders of several fills, ties in time, ignition-like bursts), under
configurations from strict to none at all, it finds the frame check's runs and gives its answer; where it cannot
be sure (rows out of time order, a missing order id, a missing account, a time in another unit) it leaves the
answer to the frame; and the kernel's alerts are those of its full path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.momentum_ignition as mi
from harbour.data.schemas import TRADES
from harbour.detect.framework import REGISTRY, Partition, Window
from harbour.detect.market import momentum_screens as ms
from harbour.detect.market.frames import TRADE_COLUMNS, frame, leg_owners, owner_map, with_owner
from harbour.detect.market.scenarios import ScenarioMarket

from .test_momentum_ignition_exit_check import _market as _scenario

VENUE = "HBX"
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
ACCOUNTS = pa.schema([(c, pa.string()) for c in ("venue", "account", "customer_id")])


def _random_part(rng: np.random.Generator, n: int) -> Partition:
    """A day's trades (in time order, many in one second) among a few dozen accounts: some held by one customer
    (several accounts each), some listed without one, some not listed, one unlisted account named like a customer
    (it is that customer); a few trades of an account with itself or with another account of its customer; a few
    missing aggressors; each order of one account and side, often of several fills; and a few bursts of one
    account taking liquidity on one side in several orders, then trading the other way."""
    accounts = [f"acc{i}" for i in range(int(rng.integers(3, 40)))] + ["C0"]
    weights = rng.random(len(accounts)) ** 3 + 0.01
    buyer = rng.choice(accounts, n, p=weights / weights.sum())
    seller = rng.choice(accounts, n, p=weights / weights.sum())
    own = rng.random(n) < 0.05
    seller[own] = buyer[own]
    aggressor = rng.choice(np.array(["buy", "sell", None], dtype=object), n, p=[0.47, 0.47, 0.06])
    seconds = np.sort(rng.integers(0, int(rng.choice([900, 7200, 30000])), n))
    for _ in range(int(rng.integers(0, 4))):  # a burst: one account buys (or sells) several orders, then turns
        who, at, side = str(rng.choice(accounts)), int(rng.integers(0, n - 12)) if n > 12 else 0, str(
            rng.choice(["buy", "sell"]))
        for k in range(at, min(at + 12, n)):
            taker = k - at < 6
            mine_buys = (side == "buy") == taker
            buyer[k], seller[k] = (who, seller[k]) if mine_buys else (buyer[k], who)
            aggressor[k] = side if taker else aggressor[k]
    orders = rng.integers(0, int(rng.choice([3, 30])), (2, n))
    trades = pa.table({
        "venue": [VENUE] * n, "symbol": ["X/USD"] * n, "trade_id": [f"t{i:05d}" for i in range(n)],
        "ts": pa.array([T0 + dt.timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", "UTC")),
        "price": (100 + rng.random(n)).tolist(), "quantity": (0.1 + rng.random(n) * 5).tolist(),
        "buyer": buyer.tolist(), "seller": seller.tolist(), "aggressor": aggressor.tolist(),
        "buy_order_id": [f"{b}-b{k}" for b, k in zip(buyer, orders[0], strict=True)],
        "sell_order_id": [f"{s}-s{k}" for s, k in zip(seller, orders[1], strict=True)],
    }, schema=TRADES)
    listed = [a for a in accounts[:-1] if rng.random() < 0.7]
    customers = [f"C{int(rng.integers(3))}" if rng.random() < 0.6 else None for _ in listed]
    acc = pa.table({"venue": [VENUE] * len(listed), "account": listed, "customer_id": customers}, schema=ACCOUNTS)
    return Partition({"venue": VENUE, "symbol": "X/USD", "date": T0.date()}, {"trades": trades},
                     Window(T0, T0 + dt.timedelta(days=1)), {"accounts": acc})


def _configs() -> list[mi.MomentumIgnitionConfig]:
    return [mi.MomentumIgnitionConfig(burst_gap_seconds=gap, post_seconds=post, min_trades=min_trades,
                                      max_coincidence=chance)
            for gap, post, min_trades, chance in [(10.0, 600.0, 3, 0.1), (30.0, 60.0, 2, 0.05),
                                                  (60.0, 300.0, 2, 0.5), (30.0, 900.0, 3, 0.999),
                                                  (120.0, 600.0, 4, 1.0)]]


def _owned(part: Partition) -> pl.DataFrame:
    """The trades' frame with each leg's owner named, as the kernel makes it."""
    trades = frame(part, "trades", TRADE_COLUMNS)
    owners = owner_map(part, VENUE)
    return with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s")


def _frame_check(part: Partition, config: mi.MomentumIgnitionConfig) -> bool | None:
    """The kernel's answer before its full path, read off the frame as it was before the Arrow check: False for no
    alert, None where the full path decides."""
    trades = frame(part, "trades", TRADE_COLUMNS)
    if trades.height < 10 or trades["aggressor"].null_count() == trades.height:
        return False
    owned = _owned(part)
    runs = ms.trade_runs(owned, mi._gap_us(config), config.min_trades)
    if runs is None:
        return None
    return mi._exit_possible(runs, mi._leg_decisions(owned), ms.day_seconds(runs), config)


def _fresh(part: Partition, trades: pa.Table | None = None) -> Partition:
    return replace(part, tables={**part.tables, "trades": part.tables["trades"] if trades is None else trades},
                   shared={})


def _run_sets(runs: ms.Runs, legs: list[tuple[str, int]]) -> set[frozenset[tuple[str, int]]]:
    """The runs as sets of legs (trade id, side), whatever the owners' numbering, the runs' order and the rows'."""
    owner = runs.owner[runs.rows]
    ends = np.append((owner[1:] != owner[:-1]) | (runs.burst[1:] != runs.burst[:-1]), True)
    return {frozenset(legs[r] for r in run) for run in np.split(runs.rows, np.flatnonzero(ends)[:-1] + 1)}


def _legs_of(trade_ids: list[str]) -> list[tuple[str, int]]:
    return [(t, 1) for t in trade_ids] + [(t, -1) for t in trade_ids]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_arrow_check_finds_the_frames_runs_and_answer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    answers: list[bool | None] = []
    for case in range(40):
        part = _random_part(rng, int(rng.integers(12, 600)))
        table = part.tables["trades"]
        owned = _owned(_fresh(part))
        owners = leg_owners(_fresh(part), VENUE)
        assert owners is not None
        for config in _configs():
            gap = mi._gap_us(config)
            want = ms.trade_runs(owned, gap, config.min_trades)
            got = ms.arrow_runs(table, owners, gap, config.min_trades)
            assert (want is None) == (got is None), case
            if want is not None and got is not None:
                assert _run_sets(got, _legs_of(table["trade_id"].to_pylist())) \
                    == _run_sets(want, _legs_of(owned["trade_id"].to_list())), case
                assert ms.day_seconds(got) == ms.day_seconds(want), case
            answer = _frame_check(_fresh(part), config)
            assert mi._arrow_exit_possible(_fresh(part), config) == answer, case
            answers.append(answer)
    assert {True, False} <= set(answers)  # both answers were compared


def _chunked(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    cuts = sorted({0, table.num_rows, *rng.integers(0, table.num_rows, 3).tolist()})
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)])


def _with(table: pa.Table, column: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


def _nulled(table: pa.Table, column: str, at: int) -> pa.Table:
    values = table[column].to_pylist()
    values[at] = None
    return _with(table, column, pa.array(values, table.schema.field(column).type))


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_what_the_arrow_check_cannot_read_is_left_to_the_frame(seed: int) -> None:
    """In chunks, the answer is the same; out of time order, with a missing order id, a missing account, a time in
    milliseconds, or no venue in the key, no answer (the frame's check decides, and gives its answer)."""
    rng = np.random.default_rng(seed)
    config = mi.MomentumIgnitionConfig(post_seconds=900.0, max_coincidence=0.999)
    for case in range(25):
        part = _random_part(rng, int(rng.integers(30, 400)))
        table = part.tables["trades"]
        want = _frame_check(_fresh(part), config)
        assert mi._arrow_exit_possible(_fresh(part, _chunked(table, rng)), config) == want, case
        at = int(rng.integers(table.num_rows))
        shuffled = table.take(pa.array(rng.permutation(table.num_rows)))
        if not (np.diff(shuffled["ts"].to_numpy().view(np.int64)) >= 0).all():
            assert _frame_check(_fresh(part, shuffled), config) == want, case  # the frame sorts them back
            assert mi._arrow_exit_possible(_fresh(part, shuffled), config) is None, case
        in_ms = _with(table, "ts", table["ts"].cast(pa.timestamp("ms", "UTC")))
        for other in (_nulled(table, "buy_order_id", at), _nulled(table, "sell_order_id", at),
                      _nulled(table, "seller", at), in_ms):
            assert mi._arrow_exit_possible(_fresh(part, other), config) is None, case
        assert mi._arrow_exit_possible(replace(_fresh(part), key={"symbol": "X/USD"}), config) is None


def test_few_trades_or_no_aggressor_give_no_alert_before_any_frame() -> None:
    part = _random_part(np.random.default_rng(3), 40)
    table = part.tables["trades"]
    config = mi.MomentumIgnitionConfig()
    assert mi._arrow_exit_possible(_fresh(part, table.slice(0, 9)), config) is False
    blind = _with(table, "aggressor", pa.nulls(table.num_rows, pa.string()))
    assert mi._arrow_exit_possible(_fresh(part, blind), config) is False
    assert REGISTRY.get("momentum_ignition").kernel(_fresh(part, blind), config).num_rows == 0


@pytest.mark.parametrize("seed", [41, 7])
def test_scenario_days_with_and_without_an_ignition(seed: int) -> None:
    config = mi.MomentumIgnitionConfig()
    quiet = _scenario(seed, ignition=False).partition(VENUE)
    assert mi._arrow_exit_possible(quiet, config) is False
    assert mi._arrow_exit_possible(_scenario(seed, ignition=True).partition(VENUE), config) is True


def _full(part: Partition, config: mi.MomentumIgnitionConfig, monkeypatch: pytest.MonkeyPatch) -> pa.Table:
    """The kernel's alerts with both checks forced open."""
    with monkeypatch.context() as patch:
        patch.setattr(mi, "_arrow_exit_possible", lambda *_: None)
        patch.setattr(mi, "_exit_possible", lambda *_: True)
        return REGISTRY.get("momentum_ignition").kernel(_fresh(part), config)


def test_the_kernels_alerts_are_those_of_its_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("momentum_ignition")
    rng = np.random.default_rng(12)
    alerts = 0
    parts = [_scenario(seed, ignition=True).partition(VENUE) for seed in (41, 7)] \
        + [ScenarioMarket(seed=5, venues=(VENUE,), trades_per_day=2000).partition(VENUE)] \
        + [_random_part(rng, int(rng.integers(12, 500))) for _ in range(30)]
    loose = mi.MomentumIgnitionConfig(min_share=0.05, min_move_sigmas=0.0, max_coincidence=0.999, min_reverse=0.05,
                                      post_seconds=900.0)
    for case, part in enumerate(parts):
        for config in (d.default_config(), loose):
            got = d.kernel(_fresh(part), config)
            assert got.equals(_full(part, config, monkeypatch)), case
            alerts += got.num_rows
    assert alerts >= 2  # the comparison saw alerts, not only empty tables
