"""The partition screen before the spoofing/layering search (``pressure_screen.may_alert``): its first stage says "no"
only where the search's own owner screen keeps no owner (its second, on an owner's episodes taken together, is
tested in ``test_pressure_family_bound``): checked partition by partition on generated markets of several seeds,
difficulties and activities, at thresholds from strict to none at all; with the whole screen and with it forced open,
both detectors give the same alerts; it does say "no" (so the comparison is not between two identical paths); and
input it cannot read as the search does (nulls, hash collisions, a cancel before its placement) goes to the
search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from numba import njit

import harbour.detect.market.cancelled_pressure as cp
import harbour.detect.market.pressure_bound as pb
import harbour.detect.market.pressure_screen as ps
import harbour.detect.market.quote_stuffing as qs
from harbour.data.arrow_strings import same_string
from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.framework import REGISTRY, Partition, Window
from harbour.detect.market.frames import owner_map
from harbour.detect.market.scenarios import ScenarioMarket
from harbour.detect.runners import run_with
from harbour.detect.runners.local import LocalRunner, plan_tasks, read_broadcast, read_partitions
from harbour.detect.runners.plan import make_job

from .conftest import VENUES
from .spies import answers_of

THRESHOLDS = (0.0005, 0.01, 0.2, 1.0)


def _config(max_coincidence: float, **more: Any) -> Any:
    return REGISTRY.get("layering").default_config().model_copy(
        update={"max_coincidence": max_coincidence, "max_repeat_chance": 1.0, **more})


def _spoof_market(out: Path, seed: int) -> Path:
    """A small hard market of two venues with one spoofing and one layering incident (the fused-pass tests' lakes)."""
    generate_market(GenerateConfig(out=out, venues=2, days=1, accounts=200, seed=seed, activity=0.4, symbols=2,
                                   difficulty="hard", incidents={"spoofing": 1, "layering": 1}), workers=1)
    return out


def _partitions(lake: Path) -> Iterator[Partition]:
    """Every venue-symbol-day of a lake, as the runner hands it to the layering kernel."""
    job = make_job(REGISTRY.get("layering"), None, lake)
    for task in plan_tasks(job, lake, Window(), None, 1):
        sliced = {t: read_partitions(task, t) for t in job.partitioned_tables}
        side = {t: read_broadcast(t, task.broadcast_files[t], 1) for t in job.spec.broadcast}
        for key, orders in sliced["orders"].items():
            trades = sliced["trades"].get(key)
            if trades is not None:
                yield Partition(dict(zip(job.spec.partition_by, key, strict=True)),
                                {"orders": orders, "trades": trades}, Window(), side, {})


def _may_pass_owner_screen(part: Partition, config: Any, owners: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
                           ) -> bool:
    """The screen's first stage alone: whether an episode may pass the search's owner screen (the bound on the
    owners' episodes taken together, ``_family_bound``, tested in ``test_pressure_family_bound``, says "search")."""
    with monkeypatch.context() as m:
        m.setattr(pb, "_family_bound", lambda *_: 0.0)
        return ps.may_alert(part, config, owners)


def _search_keeps_an_owner(part: Partition, config: Any, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether the search, run in full, keeps an owner at its own owner screen."""
    kept: list[int] = []
    real = cp._owners_who_may_alert

    def spy(found: pl.DataFrame, max_coincidence: float) -> pl.DataFrame:
        out = real(found, max_coincidence)
        kept.append(out.height)
        return out

    with monkeypatch.context() as m:
        m.setattr(cp, "_owners_who_may_alert", spy)
        m.setattr(ps, "may_alert", lambda *_: True)
        cp._episodes(part, config)
    return bool(kept and kept[0] > 0)


@pytest.fixture(scope="module", params=[(31, "default", 0.4), (32, "hard", 0.3), (33, "easy", 0.6)],
                ids=["default", "hard", "busy-easy"])
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    seed, difficulty, activity = request.param
    out = tmp_path_factory.mktemp(f"screen-{seed}")
    generate_market(GenerateConfig(out=out, venues=2, days=1, accounts=300, seed=seed, activity=activity,
                                   symbols=3, difficulty=difficulty, incidents={"spoofing": 2, "layering": 2}),
                    workers=1)
    return out


@pytest.mark.parametrize("max_coincidence", THRESHOLDS)
def test_no_only_where_the_search_keeps_no_owner(lake: Path, max_coincidence: float,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(max_coincidence)
    answers = []
    for part in _partitions(lake):
        venue = str(part.key["venue"])
        may = _may_pass_owner_screen(part, config, owner_map(part, venue), monkeypatch)
        keeps = _search_keeps_an_owner(part, config, monkeypatch)
        assert may or not keeps, part.key
        answers.append(may)
    assert answers
    if max_coincidence == 0.0005:
        assert not all(answers)  # it does stop partitions


def _edges(part: Partition, config: Any, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The search's bounds (``_owners_who_may_alert``'s) for its episodes that had an execution on the other side:
    at a threshold equal to one of them, that episode's owner is just kept."""
    seen: list[pl.DataFrame] = []
    real = cp._owners_who_may_alert

    def spy(found: pl.DataFrame, max_coincidence: float) -> pl.DataFrame:
        seen.append(found)
        return real(found, max_coincidence)

    with monkeypatch.context() as m:
        m.setattr(cp, "_owners_who_may_alert", spy)
        m.setattr(ps, "may_alert", lambda *_: True)
        cp._episodes(part, config.model_copy(update={"max_coincidence": 1.0}))
    if not seen or seen[0].height == 0:
        return []
    hits = seen[0].filter(pl.col("hit"))
    bound = 1 - np.exp(-hits["rate"].fill_null(0.0).to_numpy() * hits["span_s"].to_numpy())
    return sorted({float(b) for b in bound if 0 < b <= 1})


def test_at_the_edge_of_every_owner_the_search_keeps(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sharpest check: the threshold set to each bound the search computes, so that the owner passes by no
    margin at all; a screen that loosened a test too little (a window without the grace, a span not counted as the
    search counts it) says no to some of them."""
    edges = 0
    for part in _partitions(lake):
        owners = owner_map(part, str(part.key["venue"]))
        for bound in _edges(part, _config(1.0), monkeypatch)[:40]:
            config = _config(bound)
            assert _search_keeps_an_owner(part, config, monkeypatch), (part.key, bound)
            assert _may_pass_owner_screen(part, config, owners, monkeypatch), (part.key, bound)
            edges += 1
    assert edges > 20


def test_a_shorter_grace_or_life_or_bigger_bait_never_slips_past(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other settings of the tests the screen repeats, so that no default hides a mistake in how it loosens them."""
    for more in ({"grace_s": 0.0}, {"grace_s": 30.0}, {"max_lifetime_s": 10.0}, {"size_multiple": 1.5},
                 {"min_order_multiple": 3.0}, {"min_opposite_multiple": 0.0}, {"max_fill_ratio": 0.5}):
        config = _config(0.05, **more)
        for part in _partitions(lake):
            if not _may_pass_owner_screen(part, config, owner_map(part, str(part.key["venue"])), monkeypatch):
                assert not _search_keeps_an_owner(part, config, monkeypatch), (more, part.key)


def _kernels(market: ScenarioMarket, max_coincidence: float) -> dict[str, pa.Table]:
    out = {}
    for name in ("spoofing", "layering"):
        detector = REGISTRY.get(name)
        config = detector.default_config().model_copy(update={"max_coincidence": max_coincidence})
        out[name] = pa.concat_tables([detector.kernel(market.partition(v), config) for v in VENUES])
    return out


@pytest.mark.parametrize("max_coincidence", (0.001, 0.01, 0.3))
def test_the_screen_never_changes_an_alert(incident_market: ScenarioMarket, clean_market: ScenarioMarket,
                                           monkeypatch: pytest.MonkeyPatch, max_coincidence: float) -> None:
    seen = answers_of(monkeypatch, ps, "may_alert")
    screened = [_kernels(m, max_coincidence) for m in (incident_market, clean_market)]
    monkeypatch.setattr(ps, "may_alert", lambda *_: True)
    full = [_kernels(m, max_coincidence) for m in (incident_market, clean_market)]
    for a, b in zip(screened, full, strict=True):
        for name in a:
            assert a[name].equals(b[name]), name
    assert seen
    if max_coincidence == 0.01:
        assert full[0]["spoofing"].num_rows and full[0]["layering"].num_rows  # the incidents alert


def test_the_runner_gives_the_same_alerts_with_and_without_the_screen(lake: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    detectors = [REGISTRY.get("spoofing"), REGISTRY.get("layering")]

    def alerts() -> pa.Table:
        with LocalRunner(workers=1) as runner:
            return run_with(runner, lake, detectors).alerts.sort_by("alert_id")

    seen = answers_of(monkeypatch, ps, "may_alert")
    screened = alerts()
    monkeypatch.setattr(ps, "may_alert", lambda *_: True)
    assert screened.equals(alerts())
    assert False in seen


# --- input the screen leaves to the search -------------------------------------------------------------


@pytest.fixture
def busy(incident_market: ScenarioMarket) -> Partition:
    return incident_market.partition("HBX")


def _fresh(part: Partition) -> Partition:
    """The partition with nothing shared yet: the screen keeps its figures there for the partition's other
    detector, and a test that changes the screen's code between two calls must not be answered from them."""
    return Partition(part.key, part.tables, part.window, part.broadcast, {})


def _with(part: Partition, table: str, column: str, values: pa.Array) -> Partition:
    t = part.tables[table]
    changed = t.set_column(t.schema.get_field_index(column), column, values)
    return Partition(part.key, {**part.tables, table: changed}, part.window, part.broadcast, {})


def test_the_incident_partition_goes_to_the_search(busy: Partition) -> None:
    assert ps.may_alert(busy, _config(0.01), owner_map(busy, "HBX"))


def test_nulls_go_to_the_search(busy: Partition) -> None:
    config = _config(1e-12)  # nothing could alert: only the unreadable input makes the screen say yes
    owners = owner_map(busy, "HBX")
    assert not ps.may_alert(busy, config, owners)
    for table, column in (("orders", "order_id"), ("orders", "account"), ("orders", "quantity"), ("trades", "buyer"),
                          ("trades", "quantity")):
        col = busy.tables[table].column(column)
        holed = pc.if_else(pa.array(np.arange(len(col)) == 3), pa.scalar(None, col.type), col)
        assert ps.may_alert(_with(busy, table, column, holed), config, owners), (table, column)


def test_a_hash_collision_goes_to_the_search(busy: Partition, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(1e-12)
    owners = owner_map(busy, "HBX")
    assert not ps.may_alert(busy, config, owners)
    # every id given one hash: the byte check finds two different ids sharing it
    monkeypatch.setattr(ps, "_hashes", lambda buf: np.full(buf[0].shape[0] - 1, 7, np.uint64))
    assert ps.may_alert(_fresh(busy), config, owners)


def test_a_cancel_before_its_placement_goes_to_the_search(busy: Partition) -> None:
    config = _config(1e-12)
    orders = busy.tables["orders"]
    cancels = pc.equal(orders.column("event"), "cancel")
    early = pc.if_else(cancels, pc.subtract(orders.column("ts"), pa.scalar(10**12, pa.duration("us"))),
                       orders.column("ts"))
    assert ps.may_alert(_with(busy, "orders", "ts", early), config, owner_map(busy, "HBX"))


def _event_kinds(words: list[str]) -> list[int]:
    """The oracle: quote_stuffing's classification of the events (its own compiled pass), as the screen's codes (1 a
    new order, 2 a cancel or expiry, 0 any other event)."""
    kind = qs._kinds(pa.chunked_array([pa.array(words)]))
    return np.select([kind == qs._NEW, kind == qs._CANCEL], [1, 2], 0).tolist()


def test_kinds_and_new_quantities_in_one_pass_read_words_whole() -> None:
    # words cut short, run over, with a trailing byte or at the buffer's very end (no whole word left to load)
    words = ["new", "news", "cancel", "expire", "cancelled", "ne", "", "fill", "amend", "expired", "new\x00",
             "cancex", "Cancel", "ewn", "new"]
    offsets, data, _ = ps._buffers(pa.chunked_array([pa.array(words)]))
    qty = np.arange(len(words), dtype=np.float64)
    kind, q_new = ps._kinds_and_new(offsets, data, qty)
    assert kind.tolist() == _event_kinds(words)
    assert kind.tolist() == [1, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert q_new.tolist() == [0.0, 14.0]
    for word in ("new", "cancel", "expire", "ne", "x"):  # one short string alone: the whole buffer under a word
        offsets, data, _ = ps._buffers(pa.chunked_array([pa.array([word])]))
        assert ps._kinds_and_new(offsets, data, np.ones(1))[0].tolist() == _event_kinds([word])


def test_decisions_are_coded_as_the_search_coalesces_them() -> None:
    """A leg's decision is its order id, or its trade id where it names none; equal bytes from either column are
    one decision; codes are exact even when every hash collides."""
    trades = pa.table({
        "trade_id": ["t1", "t2", "o1", "t4", "t5"],
        "buy_order_id": pa.array(["o1", None, "o2", None, "a-much-longer-order-id-0001"]),
        "sell_order_id": pa.array(["s1", "s1", None, "o1", "a-much-longer-order-id-0002"]),
    })
    order = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 7], np.int64)
    coalesced = [*pc.coalesce(trades.column("buy_order_id"), trades.column("trade_id")).to_pylist(),
                 *pc.coalesce(trades.column("sell_order_id"), trades.column("trade_id")).to_pylist()]
    expect = pc.dictionary_encode(pa.array([coalesced[k] for k in order])).indices.to_pylist()
    b_off, b_data, b_valid = ps._buffers(trades.column("buy_order_id"))
    s_off, s_data, s_valid = ps._buffers(trades.column("sell_order_id"))
    t_off, t_data, _ = ps._buffers(trades.column("trade_id"))
    offsets, data = _decision_strings(order, trades.num_rows, b_off, b_data, b_valid, s_off, s_data, s_valid,
                                         t_off, t_data)
    assert pa.Array.from_buffers(pa.large_string(), len(order), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
                                 ).to_pylist() == [coalesced[k] for k in order]
    for mask in (ps._HASH_MASK, np.uint64(0), np.uint64(3)):
        assert _string_codes(offsets, data, mask).tolist() == expect, mask


def test_forced_decision_hash_collisions_change_no_answer(busy: Partition, monkeypatch: pytest.MonkeyPatch) -> None:
    owners = owner_map(busy, "HBX")
    answers = [ps.may_alert(busy, _config(c), owners) for c in (1e-12, 0.01)]
    assert answers == [False, True]
    monkeypatch.setattr(ps, "_HASH_MASK", np.uint64(1))  # two hashes for every decision: the bytes decide
    assert [ps.may_alert(_fresh(busy), _config(c), owners) for c in (1e-12, 0.01)] == answers


def test_quick_hashes_spread_and_read_every_byte() -> None:
    # ids that differ in one byte anywhere (first, middle of a long id, last) hash apart
    base = "1234567890123456789012"
    ids = [base[:n] for n in range(1, len(base) + 1)]
    ids += [base[:k] + "x" + base[k + 1:] for k in range(len(base))]
    h = ps._hashes(ps._buffers(pa.chunked_array([pa.array(ids)])))
    assert len(set(h.tolist())) == len(ids)


def test_tables_in_other_types_go_to_the_search(busy: Partition) -> None:
    """Tables not built by the runners (Polars' string views, large strings, times in nanoseconds) are read by the
    search, not the screen; a partition the screen would stop then goes to the search instead of failing."""
    config = _config(1e-12)
    owners = owner_map(busy, "HBX")
    assert not ps.may_alert(busy, config, owners)
    orders, trades = busy.tables["orders"], busy.tables["trades"]
    for table, column, to in (("orders", "account", pa.large_string()), ("trades", "buyer", pa.string_view()),
                              ("orders", "ts", pa.timestamp("ns", "UTC")), ("trades", "quantity", pa.float32())):
        t = {"orders": orders, "trades": trades}[table]
        assert ps.may_alert(_with(busy, table, column, t.column(column).cast(to)), config, owners), (table, column)


# The screen's old reading of the legs' decisions (copied out, then coded), the reference ``ps._decision_codes`` is
# compared with.


@njit(cache=True)
def _decision_strings(order: np.ndarray, m: int, b_off: np.ndarray, b_data: np.ndarray, b_valid: np.ndarray,
                      s_off: np.ndarray, s_data: np.ndarray, s_valid: np.ndarray, t_off: np.ndarray,
                      t_data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per leg (``order``: its number among both legs of every trade, the buys then the sells), its decision's
    string — its order id, or its trade id where it names none — copied into one string array's buffers. The screen
    codes them where they lie (``ps._decision_codes``): this copy, then ``_string_codes``, is the reference."""
    n = order.shape[0]
    start, stop, src = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int8)
    total = 0
    for j in range(n):
        r = order[j] % m
        if order[j] < m and (b_valid.shape[0] == 0 or b_valid[r]):
            src[j], start[j], stop[j] = 0, b_off[r], b_off[r + 1]
        elif order[j] >= m and (s_valid.shape[0] == 0 or s_valid[r]):
            src[j], start[j], stop[j] = 1, s_off[r], s_off[r + 1]
        else:
            src[j], start[j], stop[j] = 2, t_off[r], t_off[r + 1]
        total += stop[j] - start[j]
    offsets, data = np.zeros(n + 1, np.int64), np.empty(total, np.uint8)
    p = 0
    for j in range(n):  # a copy per source: a choice of source per byte was 0.58 ms a partition, this 0.26
        k = stop[j] - start[j]
        if src[j] == 0:
            data[p:p + k] = b_data[start[j]:stop[j]]
        elif src[j] == 1:
            data[p:p + k] = s_data[start[j]:stop[j]]
        else:
            data[p:p + k] = t_data[start[j]:stop[j]]
        p += k
        offsets[j + 1] = p
    return offsets, data


@njit(cache=True)
def _string_codes(offsets: np.ndarray, data: np.ndarray, hash_mask: np.uint64) -> np.ndarray:
    """A code per string, in order of first appearance, exact: an open-addressing table probed from the hash's
    top bits, where a match of hashes is checked byte for byte (a collision costs a probe, never merges two
    strings). ``hash_mask`` (all ones but in tests) thins the hashes to force collisions."""
    n = offsets.shape[0] - 1
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    slot_h, slot_id = np.zeros(1 << bits, np.uint64), np.full(1 << bits, -1, np.int64)
    rep, codes = np.empty(n, np.int64), np.empty(n, np.int64)
    shift, mask = np.uint64(64 - bits), (1 << bits) - 1
    n_codes = 0
    for j in range(n):
        x = ps._quick_hash(offsets, data, j) & hash_mask
        s = np.intp(x >> shift)
        while slot_id[s] >= 0 and not (slot_h[s] == x and same_string(offsets, data, j, offsets, data,
                                                                        rep[slot_id[s]])):
            s = (s + 1) & mask
        if slot_id[s] < 0:
            slot_h[s], slot_id[s], rep[n_codes] = x, n_codes, j
            n_codes += 1
        codes[j] = slot_id[s]
    return codes
