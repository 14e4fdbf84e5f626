"""The spoofing/layering screen's bound on an owner's episodes taken together (``pressure_bound._family_bound``): the
search judges an owner's k hits among its n episodes by a Poisson tail (``max_repeat_chance``) and, with one hit,
that episode's chance taken n times (``max_coincidence``). The screen bounds the tail from below and says "no" only
where no episode can pass both. Checked against the search run in full, partition by partition, on generated markets
at thresholds from strict to none at all and at the very edge of every episode the search keeps; and piece by piece:
the orders it counts as surely bait are the search's bait, the owners' usual sizes it bounds are no smaller than the
search's, and it counts no more episodes and no fewer hits than the search has."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.cancelled_pressure as cp
import harbour.detect.market.pressure_bound as pb
import harbour.detect.market.pressure_screen as ps
from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market.frames import owner_map
from harbour.detect.market.scenarios import ScenarioMarket

from .test_pressure_screen import _partitions


def _config(max_coincidence: float, max_repeat_chance: float, **more: Any) -> Any:
    return REGISTRY.get("layering").default_config().model_copy(
        update={"max_coincidence": max_coincidence, "max_repeat_chance": max_repeat_chance, **more})


def _fresh(part: Partition) -> Partition:
    return Partition(part.key, part.tables, part.window, part.broadcast, {})


def _owners(part: Partition) -> pl.DataFrame:
    return owner_map(part, str(part.key["venue"]))


@pytest.fixture(scope="module", params=[(41, "default"), (42, "hard")], ids=["default", "hard"])
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of four symbols with market makers busy enough that, at loose coincidence thresholds, their many big
    quotes pass the screen's first stage and only the owners' episodes taken together tell them apart."""
    seed, difficulty = request.param
    out = tmp_path_factory.mktemp(f"family-{seed}")
    generate_market(GenerateConfig(out=out, venues=2, days=2, accounts=1000, seed=seed, symbols=4,
                                   difficulty=difficulty, incidents={"spoofing": 2, "layering": 2}), workers=1)
    return out


def _found(part: Partition, config: Any) -> pl.DataFrame:
    """The search's episodes with an execution on the other side and evidence (``cp._with_evidence``: those that
    alert where they pass the thresholds), before the thresholds each detector applies: their ``coincidence`` and
    ``repeat_chance`` (the screen forced open)."""
    real = ps.may_alert
    ps.may_alert = lambda *_: True  # type: ignore[assignment]
    try:
        cands, _ = cp._episodes(_fresh(part), config)
    finally:
        ps.may_alert = real  # type: ignore[assignment]
    return cp._with_evidence(cands.found, cands.ex, cands.placed, cands.median)


def _passing(found: pl.DataFrame, config: Any) -> pl.DataFrame:
    if found.height == 0:
        return found
    return found.filter((pl.col("coincidence") <= config.max_coincidence)
                        & (pl.col("repeat_chance") <= config.max_repeat_chance))


@pytest.mark.parametrize("max_coincidence", (0.01, 0.05, 1.0))
def test_no_only_where_no_episode_passes_the_owners_tests(lake: Path, max_coincidence: float) -> None:
    stopped = 0
    for part in _partitions(lake):
        found = _found(part, _config(max_coincidence, 1.0))
        for repeat in (1e-4, 3e-3, 0.01, 0.1, 1.0):
            config = _config(max_coincidence, repeat)
            may = ps.may_alert(_fresh(part), config, _owners(part))
            assert may or _passing(found, config).height == 0, (part.key, repeat)
            stopped += not may and found.height > 0
    if max_coincidence == 1.0:
        assert stopped  # partitions whose episodes all fail the owners' tests are stopped


@pytest.mark.parametrize("more", [{"own_size_multiple": 1.5}, {"own_size_multiple": 6.0}, {"grace_s": 0.0},
                                  {"grace_s": 30.0}, {"min_imbalance": 0.5}, {"min_order_multiple": 3.0},
                                  {"max_fill_ratio": 0.5}, {"size_multiple": 1.5}], ids=str)
def test_other_settings_never_slip_past(lake: Path, more: dict[str, float]) -> None:
    for part in _partitions(lake):
        found = _found(part, _config(1.0, 1.0, **more))
        for repeat in (3e-3, 0.05):
            config = _config(1.0, repeat, **more)
            if not ps.may_alert(_fresh(part), config, _owners(part)):
                assert _passing(found, config).height == 0, (part.key, repeat)


def test_at_the_edge_of_every_episode_the_search_keeps(lake: Path) -> None:
    """The thresholds set to an episode's own figures, so that it passes by no margin at all: a bound that was not
    one (an episode counted that the search does not have, a hit missed, a pace too high) says no to some."""
    edges = 0
    for part in _partitions(lake):
        found = _found(part, _config(1.0, 1.0))
        pairs = found.select("coincidence", "repeat_chance").unique().sort("repeat_chance") if found.height else None
        rows = pairs.rows() if pairs is not None else []
        for coincidence, repeat in rows[:25]:
            if coincidence <= 0 or repeat <= 0:
                continue  # no threshold sits there
            config = _config(coincidence, repeat)
            assert ps.may_alert(_fresh(part), config, _owners(part)), (part.key, coincidence, repeat)
            edges += 1
    assert edges > 30


# --- the pieces, against the search's own figures ------------------------------------------------------------


class _Seen:
    """What the screen and the search computed on one partition (spied)."""

    def __init__(self, part: Partition, config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.checks: list[tuple[Any, ...]] = []
        self.theta: list[tuple[Any, ...]] = []
        self.figures: list[tuple[Any, ...]] = []
        self.search: dict[str, pl.DataFrame] = {}
        with monkeypatch.context() as m:
            self._spy(m, ps, "_bait_checks", lambda args, out: self.checks.append((*args[:2], *out)))
            self._spy(m, pb, "_own_size_bounds", lambda args, out: self.theta.append((*args[:3], out)))
            self._spy(m, pb, "_owner_figures", lambda args, out: self.figures.append((args, out)))
            ps.least_repeat_chance(_fresh(part), config, _owners(part))
            self._spy(m, cp, "_resting", lambda args, out: self.search.setdefault("bait", out))
            self._spy(m, cp, "_own_medians", lambda args, out: self.search.setdefault("medians", out))
            self._spy(m, cp, "_owners_who_may_alert", lambda args, out: self.search.setdefault("found", args[0]))
            m.setattr(ps, "may_alert", lambda *_: True)
            self.found = cp._episodes(_fresh(part), config)[0].found

    @staticmethod
    def _spy(m: pytest.MonkeyPatch, module: Any, name: str, keep: Any) -> None:
        real = getattr(module, name)

        def spy(*args: Any) -> Any:
            out = real(*args)
            keep(args, out)
            return out

        m.setattr(module, name, spy)


def _owner_of(part: Partition, book: Any, bait: Any) -> list[str]:
    """The search's owner of each of the screen's bait orders (an account the map does not know is its own)."""
    named = dict(_owners(part).select("account", "owner").drop_nulls().iter_rows())
    accounts = book.orders.column("account").take(pa.array(bait.first_row, pa.int64())).to_pylist()
    return [named.get(a, a) for a in accounts]


def _ids(book: Any, bait: Any, rows: np.ndarray) -> set[str]:
    return set(book.orders.column("order_id").take(pa.array(bait.first_row[rows], pa.int64())).to_pylist())


def _check_pieces(part: Partition, config: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Every piece of the bound against the search's figures on one partition; how many of each were checked.

    - Orders surely bait (``_bait_checks``) are in the search's bait (after ``_pulled`` and ``_resting``), orders
      surely out are not.
    - The bound on an owner's usual size (``_own_size_bounds``) is no smaller than the search's
      (``own_size_multiple`` times its owners' median, or the day's median for an owner with none left).
    - An owner's episodes surely counted are no more than the search's, its hits that may be no fewer, and its
      bound on the repeat chance no more than the search's repeat chance (``config`` lets every episode pass the
      coincidence test, so the bound is the owner's tail at its most hits)."""
    seen = _Seen(part, config, monkeypatch)
    checked = {"sure": 0, "out": 0, "usual": 0, "owners": 0, "tails": 0}
    bait_ids = set(seen.search["bait"]["order_id"].to_list()) if "bait" in seen.search else set()
    for book, bait, out, sure in seen.checks:
        assert _ids(book, bait, np.flatnonzero(sure)) <= bait_ids, part.key
        assert not _ids(book, bait, np.flatnonzero(out)) & bait_ids, part.key
        checked["sure"] += int(sure.sum())
        checked["out"] += int(out.sum())
    medians = dict(seen.search["medians"].iter_rows()) if "medians" in seen.search else {}
    for book, bait, _, theta in seen.theta:
        news = book.orders.filter(pa.compute.equal(book.orders.column("event"), "new"))
        median = float(np.median(news.column("quantity").to_numpy()))
        for owner, bound in zip(_owner_of(part, book, bait), theta, strict=True):
            if not math.isinf(bound):  # an owner the screen judges
                usual = medians.get(owner)
                assert bound >= config.own_size_multiple * (median if usual is None else usual), (part.key, owner)
                checked["usual"] += 1
    if seen.figures:
        found = seen.search["found"].group_by("owner").agg(n=pl.len(), k=pl.col("hit").sum())
        searched = {o: (n, k) for o, n, k in found.iter_rows()}
        repeat = dict(seen.found.select("owner", "repeat_chance").unique().iter_rows()) if seen.found.height else {}
        book, bait = seen.theta[-1][:2]
        names = dict(zip(bait.owner.tolist(), _owner_of(part, book, bait), strict=True))
        args, figures = seen.figures[-1]
        codes = np.unique(args[0][args[6]])  # the owners of the orders that pass ``_may_hit``, in code order
        for code, n_lb, k_ub, bound in zip(codes, figures[0], figures[2], pb._owner_bounds(*figures), strict=True):
            owner = names[int(code)]
            n, k = searched.get(owner, (0, 0))
            assert n_lb <= n and k_ub >= k, (part.key, owner, n_lb, n, k_ub, k)
            checked["owners"] += 1
            if owner in repeat:
                assert bound - 1e-12 <= repeat[owner] * (1 + 1e-9), (part.key, owner, bound, repeat[owner])
                checked["tails"] += 1
    return checked


def test_the_pieces_against_the_search_s_figures(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: dict[str, int] = {}
    for part in _partitions(lake):
        for key, n in _check_pieces(part, _config(1.0, 1.0), monkeypatch).items():
            checked[key] = checked.get(key, 0) + n
    assert checked["sure"] > 100 and checked["out"] and checked["usual"] > 100 and checked["owners"] > 10, checked


# --- hand-built cases for what a generated market seldom holds -------------------------------------------------

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def _bait(m: ScenarioMarket, account: str, at: dt.datetime, life_s: float, side: str = "buy",
          away: float = -0.0004) -> str:
    """A big limit order ``away`` from the mid (below it for a buy: resting), cancelled ``life_s`` later."""
    return m.order(VENUE, account, at, side, round(m.mid(VENUE, at) * (1 + away), 6), m.size * 15,
                   cancel_at=at + life_s * S)


def _sells(m: ScenarioMarket, account: str, at: dt.datetime, qty: float = 2.0) -> None:
    """``account`` sells ``qty`` typical orders at ``at`` (its order resting 2 s before)."""
    m.trade(VENUE, at, m.size * qty, m.traders[0], account, "buy")


@pytest.fixture(scope="module")
def crafted() -> ScenarioMarket:
    m = ScenarioMarket(seed=8, venues=(VENUE,), trades_per_day=3000)
    for hour in (2, 20):  # the owners' other trading on the other side: a slow pace
        for account in ("X1", "Y1", "Z1", "W1", "W2"):
            _sells(m, account, m.at(hour, 10))
    # X1: two episodes 2 s apart, one sale inside the second and in the first's grace: the search counts it for both
    t = m.at(9)
    _bait(m, "X1", t, 10)
    _bait(m, "X1", t + 12 * S, 8)
    _sells(m, "X1", t + 13 * S)
    # Y1: its usual orders are bigger than its bait can count against (the own-size test drops its episode)
    for k in range(5):
        m.trade(VENUE, m.at(4, 7 * k), m.size * 10, "Y1", m.traders[1], "buy")
    _bait(m, "Y1", m.at(11), 10, side="sell", away=0.0004)
    m.trade(VENUE, m.at(11) + 4 * S, m.size * 2, "Y1", m.traders[1], "sell")
    # Z1: two baits bridged by a buy priced through the book (it took liquidity: not bait), each with a sale
    t = m.at(13)
    _bait(m, "Z1", t, 10, away=-0.01)
    _bait(m, "Z1", t + 8 * S, 14, away=0.01)
    _bait(m, "Z1", t + 20 * S, 10, away=-0.01)
    _sells(m, "Z1", t + 5 * S)
    _sells(m, "Z1", t + 25 * S)
    # W1: bait cancelled the instant another account placed a sell (still bait); W2: the instant W2 placed one (the
    # venue's self-trade prevention: not bait)
    for account, other, hour in (("W1", "OTHER1", 15), ("W2", "W2", 16)):
        oid = _bait(m, account, m.at(hour), 10)
        m.order(VENUE, other, m.at(hour) + 10 * S, "sell", round(m.mid(VENUE, m.at(hour)) * 1.0004, 6), m.size)
        _sells(m, account, m.at(hour) + 4 * S)
        assert oid
    # V1: placed small, then a big placement of another type: the search never reads it as bait
    oid = m.order(VENUE, "V1", m.at(17), "buy", round(m.mid(VENUE, m.at(17)) * 0.9996, 6), m.size,
                  cancel_at=m.at(17) + 10 * S)
    m.venues[VENUE].orders.append(m._orow(VENUE, oid, "V1", m.at(17) + S, "new", "buy", "market", None, m.size * 20))
    _sells(m, "V1", m.at(17) + 4 * S)
    return m.build()


def _without_flags(part: Partition) -> Partition:
    """The partition with no aggressor flags: the search then tells liquidity taken by the last trade's price."""
    trades = part.tables["trades"]
    blank = pa.nulls(trades.num_rows, pa.string())
    return Partition(part.key, {**part.tables, "trades": trades.set_column(
        trades.schema.get_field_index("aggressor"), "aggressor", blank)}, part.window, part.broadcast, {})


@pytest.mark.parametrize("flags", (True, False), ids=["flags", "no-flags"])
def test_the_pieces_on_hand_built_owners(crafted: ScenarioMarket, monkeypatch: pytest.MonkeyPatch, flags: bool
                                        ) -> None:
    part = crafted.partition(VENUE)
    part = part if flags else _without_flags(part)
    for max_coincidence in (0.01, 1.0):
        checked = _check_pieces(part, _config(max_coincidence, 1.0), monkeypatch)
        assert checked["owners"] >= 4 and checked["usual"] and checked["tails"] >= 2, checked
        if flags:
            assert checked["sure"] and checked["out"], checked


def test_at_the_edge_on_hand_built_owners(crafted: ScenarioMarket) -> None:
    for part in (crafted.partition(VENUE), _without_flags(crafted.partition(VENUE))):
        found = _found(part, _config(1.0, 1.0))
        assert found.height
        for coincidence, repeat in found.select("coincidence", "repeat_chance").unique().rows():
            if coincidence > 0 and repeat > 0:
                assert ps.may_alert(_fresh(part), _config(coincidence, repeat), _owners(part)), (coincidence, repeat)


# --- sharing the search between spoofing and layering -----------------------------------------------------------


def _searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A count of the episode searches run from now on."""
    runs: list[int] = []
    real = cp._with_opposite

    def spy(*args: Any) -> Any:
        runs.append(1)
        return real(*args)

    monkeypatch.setattr(cp, "_with_opposite", spy)
    return runs


@pytest.mark.parametrize("first", ("spoofing", "layering"))
def test_a_partition_stopped_for_one_detector_is_still_searched_for_the_other(
        incident_market: ScenarioMarket, monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """The bound is compared with each detector's own repeat threshold, which the shared search's key leaves out: a
    bound between spoofing's (3e-3) and layering's (1e-2) stops spoofing only, and the search runs once."""
    detectors = {name: REGISTRY.get(name) for name in ("spoofing", "layering")}
    order = [first, *(n for n in detectors if n != first)]
    monkeypatch.setattr(ps, "least_repeat_chance", lambda *_: 5e-3)
    runs = _searches(monkeypatch)
    part = _fresh(incident_market.partition(VENUE))  # one shared dict for both, as the runner hands it
    got = {name: detectors[name].kernel(part, detectors[name].default_config()) for name in order}
    assert len(runs) == 1
    monkeypatch.setattr(ps, "may_alert", lambda *_: True)
    full = {name: d.kernel(_fresh(part), d.default_config()) for name, d in detectors.items()}
    assert got["layering"].equals(full["layering"]) and full["layering"].num_rows
    if first == "spoofing":
        assert got["spoofing"].num_rows == 0  # stopped by the screen
    else:
        assert got["spoofing"].equals(full["spoofing"])  # the search layering ran decides


def test_the_big_orders_owners_accounts_are_found_by_their_strings() -> None:
    """``Owners.find`` gives an account its owner's code as ``account_owners`` would, for the owners looked for: the
    map's accounts of an owner, its own name where no account of the map bears it, and an account the map does not
    know (or knows without an owner), its own owner."""
    owners = pl.DataFrame({"account": ["a1", "a2", "a3", "a4", "O3"], "owner": ["O1", "O1", "O2", None, "O1"]})
    read = ps.Owners.read(owners, pa.chunked_array([["a1", "x9", "a4", "a3", "x9"]]))
    assert read is not None
    coded, bait = read
    a1, x9, a4, a3 = bait[:4]
    assert bait[4] == x9 and len({a1, x9, a4, a3}) == 4
    others = ["a2", "x9", "y7", "O2", "a1", "a4", "O1", "O3", "a3"]
    distinct = sorted({"a1", "x9", "a4", "a3", *others})
    every = ps.account_owners(owners, pa.array(distinct))  # one coding of them all
    assert every is not None
    code = dict(zip(distinct, every.tolist(), strict=True))
    found = coded.find(np.array([a1, x9, a4]), [pa.chunked_array([others])])
    assert found is not None
    # O2 and a3 are a3's owner's, not looked for; y7 is its own; O3 is an account of O1's, and O1 its own name
    assert found[0].tolist() == [a1, x9, -1, -1, a1, a4, a1, a1, -1]
    looked_for = {code["a1"]: a1, code["x9"]: x9, code["a4"]: a4}
    assert [looked_for.get(code[a], -1) for a in others] == found[0].tolist()
