"""pump_and_dump's per-event screen (``_may_alert``) on owner and order codes in the trades' row order: it passes
every event whose phase has an owner that survives ``_positions`` and ``_campaigns`` (the necessary condition), the
kernel gives the same alerts with the screen as with it forced open, its running positions are ``_positions``' to the
bit, and it steps aside (every event takes the full path) on input it does not read: nulls, odd types, times out of
its order, quantities that are not finite and positive, an owner map with an account twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.pump_and_dump as pnd
from harbour.data.schemas import ACCOUNTS, ANNOUNCEMENTS, TRADES
from harbour.detect.framework import REGISTRY, Partition, Window
from harbour.detect.market.frames import frame, owner_map, with_owner
from harbour.detect.market.owner_keys import account_owners

from .spies import screened_and_full

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
RING = ("P0", "P1", "P2", "P3")


def _trades(rng: np.random.Generator, n: int) -> pa.Table:
    """A book-day of ``n`` trades on whole seconds (time ties), in the frame's order: a random walk with a planted
    run-up (04:00-05:00) and fall (05:00-06:00); the ring's accounts buy in the run-up and sell after it in several
    orders each, beside other accounts (an account can meet itself, and ring members meet each other). Sizes in
    quarters (ties); a tenth of the buy order ids missing, and some named like a trade id."""
    secs = np.sort(rng.integers(2 * 3600, 9 * 3600, n))
    hours = secs / 3600
    bump = np.clip(hours - 4, 0, 1) - np.clip(hours - 5, 0, 1) * rng.uniform(0.5, 1.0)
    price = 100 * np.exp(rng.uniform(0.05, 0.2) * bump + np.cumsum(rng.normal(0, 0.0005, n)))
    others = [f"A{i}" for i in range(int(rng.integers(3, 30)))]
    rise, fall = (hours >= 4) & (hours < 5), (hours >= 5) & (hours < 6)
    ring = rng.random(n) < rng.uniform(0.1, 0.6)
    buyer = [str(rng.choice(RING)) if ring[i] and rise[i] else str(rng.choice(others)) for i in range(n)]
    seller = [str(rng.choice(RING)) if ring[i] and fall[i] else str(rng.choice(others + ["P0"])) for i in range(n)]
    pool = [f"o{i}" for i in range(max(n // 3, 1))] + ["t0001", "t0002"]
    orders = [None if rng.random() < 0.1 else str(rng.choice(pool)) for _ in range(n)]
    ids = [f"t{int(i):04d}" for i in rng.permutation(n)]
    order = np.lexsort((np.array(ids), secs))  # time, then trade id (one venue)
    ts = [T0 + dt.timedelta(seconds=int(s)) for s in secs]
    rows = [{"venue": "HBX", "symbol": "BTC/USD", "trade_id": ids[i], "ts": ts[i], "price": float(price[i]),
             "quantity": float(rng.integers(1, 9) / 4), "buyer": buyer[i], "seller": seller[i],
             "aggressor": "buy", "buy_order_id": orders[i], "sell_order_id": None} for i in order]
    return pa.Table.from_pylist(rows, schema=TRADES)


def _accounts() -> pa.Table:
    """P0 and P1 one customer, P2 another, P3 unknown; A0-A9 their own customers, A10 and A11 one, A12 a customer
    without an id (its own owner); and an unknown account A13 is named like A2's customer (one owner with it)."""
    named = {"P0": "C-P", "P1": "C-P", "P2": "C-Q", **{f"A{i}": f"C{i}" for i in range(10)},
             "A10": "C-10", "A11": "C-10", "A12": None, "A20": "A13"}
    rows = [{"venue": "HBX", "account": a, "customer_id": c, "name": a, "country": "HK",
             "account_type": "individual", "opened_at": T0} for a, c in named.items()]
    rows.append({**rows[0], "venue": "KLN", "account": "P3", "customer_id": "C-P"})  # another venue's account
    return pa.Table.from_pylist(rows, schema=ACCOUNTS)


def _part(trades: pa.Table, accounts: pa.Table | None = None) -> Partition:
    return Partition(key={"venue": "HBX", "symbol": "BTC/USD", "date": T0.date()}, tables={"trades": trades},
                     window=Window(T0, T0 + dt.timedelta(days=1)),
                     broadcast={"accounts": _accounts() if accounts is None else accounts,
                                "announcements": ANNOUNCEMENTS.empty_table()})


def _config(rng: np.random.Generator) -> pnd.PumpAndDumpConfig:
    """Loose thresholds, so that events reach every test of the owners."""
    return pnd.PumpAndDumpConfig(
        min_rise=0.01, rise_sigmas=float(rng.choice([0.5, 2.0])), min_giveback=0.2,
        min_member_share=float(rng.choice([0.001, 0.01, 0.05])), min_share=float(rng.choice([0.01, 0.1])),
        min_directional=float(rng.choice([0.0, 0.5, 0.7])), min_resold=float(rng.choice([0.0, 0.2])),
        min_member_orders=int(rng.integers(1, 5)), max_coincidence=float(rng.choice([1e-3, 0.1, 1.0])),
        min_accounts=int(rng.integers(1, 3)))


def test_polars_cum_sum_is_a_plain_running_sum() -> None:
    # The screen's positions are Python's running sums of each owner's legs: the same turns only if Polars' windowed
    # cum_sum adds the same way (no compensation, no pairwise blocks), on magnitudes that round differently otherwise.
    rng = np.random.default_rng(0)
    q = rng.standard_normal(50_000) * rng.choice([1e-3, 1.0, 1e6], 50_000)
    owner = rng.integers(0, 40, 50_000)
    got = pl.DataFrame({"o": owner, "q": q}).select(pl.col("q").cum_sum().over("o"))["q"].to_numpy()
    total = np.zeros(40)
    want = np.empty_like(q)
    for i in range(q.size):
        total[owner[i]] += q[i]
        want[i] = total[owner[i]]
    assert np.array_equal(got, want)


def _flows(part: Partition) -> pl.DataFrame:
    """The kernel's legs (``flows``), from the frame."""
    trades = frame(part, "trades", pnd.TRADE_COLUMNS)
    owners = owner_map(part, "HBX")
    t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s") \
        .filter(pl.col("owner_b") != pl.col("owner_s"))
    order = pl.coalesce("buy_order_id", "trade_id")
    return pl.concat([t.select("ts", "trade_id", "quantity", account="buyer", owner="owner_b", q="quantity",
                               order=order),
                      t.select("ts", "trade_id", "quantity", account="seller", owner="owner_s",
                               q=-pl.col("quantity"), order=order)])


@pytest.mark.parametrize("seed", range(6))
def test_turns_are_the_positions_turns(seed: int) -> None:
    # the screen's high of every owner that ``_positions`` keeps is its ``bought`` to the bit and its turn the same
    # trade; at random thresholds the screen keeps those owners and, besides them, only owners that bought nothing up
    # to their turn (``_positions`` asks for a buy order there, the screen's next step counts them)
    rng = np.random.default_rng(seed)
    part = _part(_trades(rng, int(rng.integers(50, 800))))
    legs = pnd._arrow_legs(part, part.tables["trades"])
    assert legs is not None
    flows = _flows(part)
    names = dict(zip([*legs.buyer, *legs.seller], [o for side in _owners_of(flows) for o in side], strict=True))
    high, turn, *_ = pnd._turns(legs.q, legs.buyer, legs.seller, legs.n_owners)
    for _ in range(8):
        config = pnd.PumpAndDumpConfig(
            min_directional=float(rng.uniform(0, 1)), min_resold=float(rng.uniform(0, 1)), min_member_orders=1,
            min_member_share=float(rng.choice([1e-3, 0.01, 0.05])))
        peak = int(rng.integers(0, legs.q.size))
        want = pnd._positions(flows, config.min_member_share * float(legs.q[peak:].sum()), config)
        _, kept, _ = pnd._one_way_owners(legs.q, legs.buyer, legs.seller, legs.n_owners, peak, 0.0, config)
        got = {names[o]: o for o in np.flatnonzero(kept >= 0)}
        for row in want.iter_rows(named=True):
            code = got.pop(row["owner"])
            assert high[code] == row["bought"]
            assert legs.us[turn[code]] == pnd.micros(row["turn"])
        for code in got.values():
            assert not ((legs.buyer == code) & (legs.us <= legs.us[turn[code]])).any()


def _owners_of(flows: pl.DataFrame) -> tuple[list[str], list[str]]:
    """The buyer's and the seller's owner of each trade of ``flows`` (its buyers' legs, then its sellers')."""
    half = flows.height // 2
    return flows["owner"][:half].to_list(), flows["owner"][half:].to_list()


@pytest.mark.parametrize("seed", range(16))
def test_the_screens_owners_are_the_campaigns_owners(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # per event: the owners ``_campaigns`` keeps (before the group's tests) are among the screen's (the necessary
    # condition), and are all of them but where a hair of slack lets a borderline owner through
    rng = np.random.default_rng(100 + seed)
    part = _part(_trades(rng, int(rng.integers(200, 2000))))
    config = _config(rng).model_copy(update={"max_group": 10**6})
    legs = pnd._arrow_legs(part, part.tables["trades"])
    assert legs is not None
    names = dict(zip([*legs.buyer, *legs.seller], [o for side in _owners_of(_flows(part)) for o in side],
                     strict=True))
    screened: dict[Any, set[str]] = {}
    kept: dict[Any, set[str]] = {}
    now: list[Any] = [None]
    detector = pnd.PumpAndDumpDetector
    real_actors, real_campaigns = detector._actors, detector._campaigns

    def may(legs: Any, event: Any, c: Any) -> bool:
        screened[event[:3]] = {names[o] for o in pnd._campaign_owners(legs, event, c)}
        return True  # every event takes the full path

    def actors(self: Any, p: Any, flows: Any, venue: Any, symbol: Any, span: Any, *rest: Any) -> Any:
        now[0] = span
        kept[span] = set()
        return real_actors(self, p, flows, venue, symbol, span, *rest)

    def campaigns(*args: Any) -> pl.DataFrame:
        per = real_campaigns(*args)
        kept[now[0]] = set(per["owner"].to_list())
        return per

    monkeypatch.setattr(pnd, "_may_alert", may)
    monkeypatch.setattr(detector, "_actors", actors)
    monkeypatch.setattr(detector, "_campaigns", staticmethod(campaigns))
    REGISTRY.get("pump_and_dump").kernel(part, config)
    assert screened.keys() == kept.keys() and kept, "no event: the market does not exercise the screen"
    for span, owners in kept.items():
        assert screened[span] == owners, span


@pytest.mark.parametrize("seed", range(12))
def test_the_screened_kernel_gives_the_full_paths_alerts(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    part, config = _part(_trades(rng, int(rng.integers(200, 2000)))), _config(rng)
    d = REGISTRY.get("pump_and_dump")
    seen, screened, full = screened_and_full(monkeypatch, pnd, "_may_alert", lambda: d.kernel(part, config))
    assert screened.equals(full)


def test_the_screen_decides_both_ways_and_alerts_survive() -> None:
    # over the random markets above the screen stops some events and passes others, and alerts are found
    answers: list[bool] = []
    alerts = 0
    d = REGISTRY.get("pump_and_dump")
    for seed in range(12):
        rng = np.random.default_rng(200 + seed)
        part, config = _part(_trades(rng, int(rng.integers(200, 2000)))), _config(rng)
        legs = pnd._arrow_legs(part, part.tables["trades"])
        bars = pnd._arrow_bars(part.tables["trades"], config.bar_seconds)
        assert legs is not None and bars is not None
        answers += [pnd._may_alert(legs, e, config) for e in pnd._events(part, bars, config)]
        alerts += d.kernel(part, config).num_rows
    assert any(answers) and not all(answers) and alerts


def test_events_without_actors_stop_before_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    part = _part(_trades(rng, 1500))
    config = pnd.PumpAndDumpConfig(min_rise=0.01, rise_sigmas=0.5, min_giveback=0.2, min_member_orders=10**6)
    bars = pnd._arrow_bars(part.tables["trades"], config.bar_seconds)
    assert bars is not None and pnd._events(part, bars, config)

    def unreachable(*_: Any) -> None:
        raise AssertionError("the frame was built")

    monkeypatch.setattr(pnd, "frame", unreachable)
    assert REGISTRY.get("pump_and_dump").kernel(part, config).num_rows == 0


def _changed(table: pa.Table, change: str) -> pa.Table:
    rows = table.to_pylist()
    tie = next(i for i in range(1, len(rows)) if rows[i]["ts"] == rows[i - 1]["ts"])
    if change == "null buyer":
        rows[3]["buyer"] = None
    elif change in ("NaN quantity", "zero quantity", "negative quantity"):
        rows[3]["quantity"] = {"NaN quantity": float("nan"), "zero quantity": 0.0, "negative quantity": -1.0}[change]
    elif change == "trade id twice":
        rows[tie]["trade_id"] = rows[tie - 1]["trade_id"]
    elif change == "ties out of order":
        rows[tie]["trade_id"], rows[tie - 1]["trade_id"] = rows[tie - 1]["trade_id"], rows[tie]["trade_id"]
    elif change == "two venues":
        rows[tie]["venue"] = "ZZZ"
    schema = TRADES
    if change == "large strings":
        schema = pa.schema([f.with_type(pa.large_string()) if f.name == "buyer" else f for f in TRADES])
    table = pa.Table.from_pylist(rows, schema=schema)
    if change == "milliseconds":
        table = table.set_column(3, "ts", table["ts"].cast(pa.timestamp("ms", "UTC")))
    return table


@pytest.mark.parametrize("change", ["null buyer", "NaN quantity", "zero quantity", "negative quantity",
                                    "trade id twice", "ties out of order", "two venues", "large strings",
                                    "milliseconds", "account twice"])
def test_input_the_screen_does_not_read_takes_the_full_path(monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    rng = np.random.default_rng(11)
    trades, accounts = _trades(rng, 800), None
    if change == "account twice":
        accounts = pa.concat_tables([_accounts(), _accounts().slice(0, 1)])
        # the map keeps an account's first row: a second row is the map's business, a key twice the screen's
        owners = pl.DataFrame({"account": ["A0", "A0"], "owner": ["C0", "C1"]})
        assert account_owners(owners, pa.array(["A0"])) is None
    else:
        trades = _changed(trades, change)
    part = _part(trades, accounts)
    if change != "account twice":
        assert pnd._arrow_legs(part, trades) is None
    config = _config(rng)
    d = REGISTRY.get("pump_and_dump")
    _, screened, full = screened_and_full(monkeypatch, pnd, "_may_alert", lambda: d.kernel(part, config))
    assert screened.equals(full)


@pytest.mark.parametrize("seed", range(5))
def test_account_owners_are_the_frames_owners(seed: int) -> None:
    # equal codes exactly for equal owner ids as ``with_owner`` names them (an unknown account is its own owner, and
    # one named like a customer is that customer's)
    rng = np.random.default_rng(seed)
    accounts = [f"a{i}" for i in range(60)] + ["c3", "c7", ""]
    owners = pl.DataFrame({
        "account": accounts[:40],
        "owner": [None if rng.random() < 0.1 else f"c{int(rng.integers(0, 12))}" for _ in range(40)],
    }, schema={"account": pl.String, "owner": pl.String})
    seen = pa.array(list(rng.permutation(accounts)), pa.string())
    code = account_owners(owners, seen)
    assert code is not None
    named = with_owner(pl.DataFrame({"account": seen}), owners, "account", "owner")["owner"].to_list()
    for i in range(len(named)):
        for j in range(len(named)):
            assert (code[i] == code[j]) == (named[i] == named[j]), (named[i], named[j])
