"""The in-process runner on a small seeded lake: alerts equal a brute-force reading of the whole lake,
windows and venues are honoured, look-back crosses midnight, and two workers give what one gives."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from multiprocessing import Manager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from harbour.core.errors import Invalid
from harbour.detect.framework import Window
from harbour.detect.runners import run_detectors
from harbour.detect.runners.reference import (
    REFERENCE_DETECTORS,
    RefAccountActivity,
    RefBigWithdrawal,
    RefCancelBurst,
    RefSelfTrade,
)

D0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def whole(lake: Path, table: str) -> list[dict]:
    return ds.dataset(lake / table, format="parquet").to_table().to_pylist()


def test_self_trades_match_a_brute_force_count(sample_lake: Path) -> None:
    groups: dict[tuple, list[str]] = defaultdict(list)
    for t in whole(sample_lake, "trades"):
        if t["buyer"] == t["seller"]:
            groups[(t["venue"], t["symbol"], t["ts"].date(), t["buyer"])].append(t["trade_id"])
    expected = {(k[0], k[3], tuple(sorted(v))) for k, v in groups.items() if len(v) >= 2}
    alerts = run_detectors(sample_lake, [RefSelfTrade()], workers=1).alerts.to_pylist()
    assert expected and {(a["venue"], a["accounts"][0], tuple(a["evidence_ids"])) for a in alerts} == expected


def test_look_back_reaches_into_the_previous_day(sample_lake: Path) -> None:
    """Cancels of the evening before count for a trade just after midnight; nothing is raised twice."""
    orders, trades = whole(sample_lake, "orders"), whole(sample_lake, "trades")
    reach = dt.timedelta(minutes=90)
    cancels: dict[tuple, list[tuple]] = defaultdict(list)
    for o in orders:
        if o["event"] == "cancel":
            cancels[(o["venue"], o["symbol"], o["account"])].append((o["ts"], o["order_id"]))
    expected = set()
    for t in trades:
        for acct in {t["buyer"], t["seller"]}:
            recent = [c for c in cancels[(t["venue"], t["symbol"], acct)] if t["ts"] - reach <= c[0] <= t["ts"]]
            if len(recent) >= 3:
                expected.add((acct, t["trade_id"], len(recent)))
    result = run_detectors(sample_lake, [RefCancelBurst()], workers=1).alerts.to_pylist()
    got = {(a["accounts"][0], next(i for i in a["evidence_ids"] if "-T" in i and "-c" not in i),
            len(a["evidence_ids"]) - 1) for a in result}
    assert got == expected
    assert len(result) == len({a["alert_id"] for a in result})


def test_window_and_venue_limit_the_alerts(sample_lake: Path) -> None:
    full = run_detectors(sample_lake, [RefCancelBurst()], workers=1).alerts
    window = Window(D0 + dt.timedelta(days=1), D0 + dt.timedelta(days=2))
    part = run_detectors(sample_lake, [RefCancelBurst()], window=window, venues=["KBT"], workers=1).alerts
    rows = full.to_pylist()
    expected = {a["alert_id"] for a in rows if a["venue"] == "KBT" and window.start <= a["end"] < window.end}
    assert expected and set(part.column("alert_id").to_pylist()) == expected


def test_account_partitions_and_whole_window_partition_with_broadcast(sample_lake: Path) -> None:
    result = run_detectors(sample_lake, [RefAccountActivity(), RefBigWithdrawal()], workers=1)
    by_detector = {d.detector: d for d in result.detectors}
    assert by_detector["ref_account_activity"].partitions == 80  # 40 accounts on each of 2 venues
    news = defaultdict(int)
    for o in whole(sample_lake, "orders"):
        news[(o["venue"], o["account"])] += o["event"] == "new"
    expected_busy = {k for k, n in news.items() if n >= 5}
    got = {(a["venue"], a["accounts"][0]) for a in result.alerts.to_pylist() if a["detector"] == "ref_account_activity"}
    assert got == expected_busy
    kinds = {(a["venue"], a["account"]): a["account_type"] for a in whole(sample_lake, "accounts")}
    big = {t["transfer_id"] for t in whole(sample_lake, "transfers") if t["kind"] == "withdrawal"
           and t["usd_value"] >= 10_000 and kinds[(t["venue"], t["from_party"].split(":")[1])] == "individual"}
    assert {a["evidence_ids"][0] for a in result.alerts.to_pylist() if a["detector"] == "ref_big_withdrawal"} == big


@pytest.mark.slow
def test_two_workers_give_the_same_alerts_as_one(sample_lake: Path) -> None:
    one = run_detectors(sample_lake, REFERENCE_DETECTORS, workers=1).alerts
    two = run_detectors(sample_lake, REFERENCE_DETECTORS, workers=2).alerts
    assert one.num_rows > 50 and one.equals(two)


def test_an_empty_or_missing_lake_gives_no_alerts(tmp_path: Path) -> None:
    result = run_detectors(tmp_path, REFERENCE_DETECTORS, workers=1)
    assert result.alerts.num_rows == 0 and len(result.detectors) == 4


def test_a_window_that_ends_before_it_starts_is_refused(sample_lake: Path) -> None:
    with pytest.raises(Invalid, match="starts .* at or after its end"):
        run_detectors(sample_lake, [RefSelfTrade()], window=Window(D0, D0), workers=1)
    with pytest.raises(Invalid, match="unknown runner 'dask'"):
        run_detectors(sample_lake, [RefSelfTrade()], runner="dask")


def test_results_are_in_the_alert_contract(sample_lake: Path) -> None:
    from harbour.data.schemas import ALERTS

    alerts = run_detectors(sample_lake, REFERENCE_DETECTORS, workers=1).alerts
    assert alerts.schema == ALERTS
    assert isinstance(alerts, pa.Table) and alerts.column("alert_id").to_pylist() == \
        alerts.sort_by([("detector", "ascending"), ("start", "ascending"), ("alert_id", "ascending")]).column(
            "alert_id").to_pylist()


class ShortCancelBurst(RefCancelBurst):
    """Same tables and partitioning as RefCancelBurst, a shorter look-back and a narrower projection: the two
    share one read, and each must still see exactly its own rows."""

    name = "ref_cancel_burst_short"

    def describe(self, config):  # type: ignore[no-untyped-def]
        from harbour.detect.framework import WorkSpec

        spec = super().describe(config)
        return WorkSpec(tables=spec.tables, partition_by=spec.partition_by, lookback=dt.timedelta(minutes=20),
                        columns={"orders": ("order_id", "account", "ts", "event"),
                                 "trades": ("trade_id", "ts", "buyer", "seller")})

    def kernel(self, part, config):  # type: ignore[no-untyped-def]
        from harbour.detect.runners.reference import CancelBurstConfig

        assert part.tables["orders"].column_names == ["venue", "symbol", "order_id", "account", "ts", "event",
                                                      "quantity"]
        oldest = part.window.start - dt.timedelta(minutes=20)
        assert all(t >= oldest for t in part.tables["orders"].column("ts").to_pylist())
        return super().kernel(part, CancelBurstConfig(min_cancels=2, lookback_minutes=20))


def test_detectors_sharing_a_read_get_what_they_would_get_alone(sample_lake: Path) -> None:
    window = Window(D0 + dt.timedelta(hours=6), None)
    together = run_detectors(sample_lake, [RefCancelBurst(), ShortCancelBurst()], window=window, workers=1)
    alone = [run_detectors(sample_lake, [d], window=window, workers=1) for d in (RefCancelBurst(),
                                                                                 ShortCancelBurst())]
    for i, name in enumerate(("ref_cancel_burst", "ref_cancel_burst_short")):
        mine = together.alerts.filter(pa.compute.equal(together.alerts.column("detector"), name))
        assert mine.num_rows > 0 and mine.equals(alone[i].alerts), name
    assert [d.partitions for d in together.detectors] == [d.detectors[0].partitions for d in alone]


def test_file_layout_and_row_order_do_not_change_the_alerts(sample_lake: Path, tmp_path: Path) -> None:
    """The sample lake holds one file per venue-day with every symbol; the same rows split into one file per
    symbol (the generator's layout, whose statistics name the symbol) in reverse time order give the same alerts."""
    import shutil

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    relaid = tmp_path / "lake"
    shutil.copytree(sample_lake, relaid)
    for table in ("trades", "orders"):
        for path in sorted((relaid / table).rglob("*.parquet")):
            data = pq.read_table(path)
            path.unlink()
            for i, symbol in enumerate(pc.unique(data.column("symbol")).to_pylist()):
                rows = data.filter(pc.equal(data.column("symbol"), symbol))
                pq.write_table(rows.take(pa.array(range(rows.num_rows - 1, -1, -1))), path.parent / f"part-{i}.parquet")
    detectors = list(REFERENCE_DETECTORS)
    assert run_detectors(relaid, detectors, workers=1).alerts.equals(
        run_detectors(sample_lake, detectors, workers=1).alerts)


def test_an_unreadable_lake_file_fails_the_run_naming_detector_table_and_file(sample_lake: Path,
                                                                                tmp_path: Path) -> None:
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(sample_lake, lake)
    broken = sorted((lake / "trades").rglob("*.parquet"))[0]
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(RuntimeError) as err:
        run_detectors(lake, [RefSelfTrade()], workers=1)
    message = str(err.value)
    assert RefSelfTrade().name in message and "trades" in message and str(broken) in message


def _worker_setup(both: Any) -> tuple[frozenset[int], str]:
    import os

    both.wait(timeout=60)  # returns once the other worker holds the other task: one task per worker
    return frozenset(os.sched_getaffinity(0)), pa.default_memory_pool().backend_name


@pytest.mark.parametrize("pin", ["1", "0"])
def test_pool_workers_are_pinned_one_per_core_unless_turned_off(pin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from harbour.detect.runners.local import LocalRunner

    cores = frozenset(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("pinning needs a core per worker")
    monkeypatch.setenv("HARBOUR_PIN_WORKERS", pin)
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    with LocalRunner(workers=2) as runner, Manager() as manager:
        both = manager.Barrier(2)
        seen = list(runner._executor().map(_worker_setup, [both, both]))
    affinities = {a for a, _ in seen}
    if pin == "1":
        assert all(len(a) == 1 and a <= cores for a in affinities) and len(affinities) == 2  # a core each
    else:
        assert affinities == {cores}
    assert {pool for _, pool in seen} <= {"jemalloc", "system"}  # not mimalloc (see use_steady_allocator)


def test_a_coarser_partitioning_is_served_by_the_finer_read(sample_lake: Path) -> None:
    """A detector by symbol and day beside one by venue, symbol and day: one read serves both, the coarser one's
    partitions made of the finer ones, and each gets exactly the rows, order and values it gets alone — with one
    worker and with two, whose one-day tasks are cut into buckets (by symbol, so a symbol's venues stay together)."""
    from harbour.detect.runners.local import read_groups
    from harbour.detect.runners.plan import make_job
    from harbour.detect.runners.reference import RefSymbolDay

    coarse, fine = RefSymbolDay(), RefCancelBurst()
    groups = read_groups([make_job(fine), make_job(coarse), make_job(RefAccountActivity())])
    assert [[m.name for m in g.members] for g in groups] == [["ref_cancel_burst", "ref_symbol_day"],
                                                             ["ref_account_activity"]]
    assert groups[0].task_keys == ("symbol", "date") and groups[0].job.spec.partition_by == ("venue", "symbol", "date")
    for window in (Window(), Window(D0 + dt.timedelta(days=1), D0 + dt.timedelta(days=2))):
        alone = run_detectors(sample_lake, [coarse], window=window, workers=1)
        assert alone.alerts.num_rows >= 2 and len({a["venue"] for a in alone.alerts.to_pylist()}) == 1  # both venues
        for workers in (1, 2):
            together = run_detectors(sample_lake, [fine, coarse], window=window, workers=workers)
            mine = together.alerts.filter(pa.compute.equal(together.alerts.column("detector"), coarse.name))
            assert mine.equals(alone.alerts), (window, workers)
            theirs = together.alerts.filter(pa.compute.equal(together.alerts.column("detector"), fine.name))
            assert theirs.equals(run_detectors(sample_lake, [fine], window=window, workers=1).alerts)


def test_partitionings_that_cannot_share_a_read_keep_their_own() -> None:
    """No date (a task would span the whole window), or a table the finer read lacks: read on their own."""
    from harbour.detect.runners.local import coarser, read_groups
    from harbour.detect.runners.plan import make_job
    from harbour.detect.runners.reference import RefSymbolDay

    by_day = [make_job(RefSelfTrade())]
    assert coarser(make_job(RefSymbolDay()), by_day)
    assert not coarser(make_job(RefAccountActivity()), by_day)  # venue + account: not a part of its keys
    assert not coarser(make_job(RefBigWithdrawal()), by_day)  # whole window, transfers
    assert not coarser(make_job(RefSymbolDay()), [make_job(RefAccountActivity())])  # orders only, no date
    assert len(read_groups([make_job(RefSelfTrade()), make_job(RefBigWithdrawal())])) == 2


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_rows_since_a_time_keep_the_rows_at_that_time(unit: str) -> None:
    """The look-back trim of a partition in canonical order: a slice from the first row at or after the time, in
    any time unit (a time between two whole units rounds up), and by a filter where times are missing."""
    from harbour.detect.runners.local import _since

    base = D0.replace(tzinfo=None)
    times = [base - dt.timedelta(seconds=2), base - dt.timedelta(seconds=1), base, base, base + dt.timedelta(seconds=1)]
    kind = pa.timestamp(unit, tz="UTC")
    part = pa.table({"ts": pa.array(times, kind), "i": range(5)})
    assert _since(part, "ts", D0).column("i").to_pylist() == [2, 3, 4]
    assert _since(part, "ts", D0 - dt.timedelta(seconds=1)).column("i").to_pylist() == [1, 2, 3, 4]
    assert _since(part, "ts", D0 - dt.timedelta(microseconds=1500)).column("i").to_pylist() == [2, 3, 4]
    assert _since(part, "ts", D0 - dt.timedelta(seconds=9)).num_rows == 5
    assert _since(part, "ts", D0 + dt.timedelta(seconds=9)).num_rows == 0
    holes = pa.table({"ts": pa.array([*times, None], kind), "i": range(6)})
    assert _since(holes, "ts", D0).column("i").to_pylist() == [2, 3, 4]


@pytest.mark.parametrize("days", [2, 3])
def test_tasks_of_several_days_give_what_tasks_of_one_give(sample_lake: Path, days: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With a look-back, a task owns consecutive days and reads each day's file once for that day and the next one's
    look-back: the same partitions and alerts as one day a task, in fewer tasks and fewer file reads."""
    from harbour.detect.runners import local
    from harbour.detect.runners.plan import make_job
    from harbour.detect.runners.reference import RefSymbolDay

    detectors = [RefCancelBurst(), RefSelfTrade(), RefSymbolDay()]
    one = run_detectors(sample_lake, detectors, workers=1)
    job = make_job(RefCancelBurst())
    single = local.plan_tasks(job, sample_lake, Window(), None, workers=1)
    monkeypatch.setattr(local, "days_per_task", lambda *_: days)
    several = local.plan_tasks(job, sample_lake, Window(), None, workers=1)
    assert {d for t in several for d in t.dates or ()} == {d for t in single for d in t.dates or ()}
    assert len(several) < len(single) and max(len(t.dates or ()) for t in several) == days
    reads = sum(len(fs) for t in several for fs in t.files.values())
    assert reads < sum(len(fs) for t in single for fs in t.files.values())
    got = run_detectors(sample_lake, detectors, workers=1)
    assert got.alerts.equals(one.alerts) and one.alerts.num_rows > 10
    assert [d.partitions for d in got.detectors] == [d.partitions for d in one.detectors]


def test_days_per_task_only_with_a_look_back_and_enough_tasks_for_every_worker() -> None:
    from harbour.detect.runners.local import MAX_DAYS_PER_TASK, days_per_task

    hour, none = dt.timedelta(hours=1), dt.timedelta(0)
    assert days_per_task(240, 2, [none, none]) == 1
    assert days_per_task(240, 2, [hour, none]) == MAX_DAYS_PER_TASK
    assert days_per_task(16, 2, [hour]) == 2 and days_per_task(7, 2, [hour]) == 1


def test_a_task_hands_back_each_members_alerts_in_one_chunk(sample_lake: Path) -> None:
    """Most partitions raise nothing: a task's result carries each member's alerts as one chunk per column (not a
    chunk per partition, which the parent unpickled chunk by chunk), the same rows in the same order."""
    from dataclasses import replace

    from harbour.detect.runners import local
    from harbour.detect.runners.plan import make_job

    jobs = [make_job(RefCancelBurst()), make_job(RefSelfTrade())]
    group = local.read_groups(jobs)[0]
    for task in local.plan_tasks(group.job, sample_lake, Window(), None, workers=1, threads=1,
                                 lookbacks=group.lookbacks, task_keys=group.task_keys):
        task = replace(task, members=group.members)
        per_partition: dict[str, list[pa.Table]] = defaultdict(list)

        def record(member: Any, alerts: pa.Table | None, *_: Any, into: dict = per_partition) -> None:
            if alerts is not None:
                into[member.name].append(alerts)

        sliced, side = local.read_task(task)
        local.run_members(task, sliced, side, record)
        result = local.run_task(task)
        assert result.by_member is not None
        for name, (alerts, ran, _) in result.by_member.items():
            assert all(c.num_chunks <= 1 for c in alerts.columns), name
            assert ran == len(per_partition[name]) > 1
            assert alerts.equals(pa.concat_tables(per_partition[name]))


def test_a_coarser_partition_is_sorted_only_for_a_kernel_that_asks_for_its_tables(
        sample_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A coarser member's partition is handed as its pieces put together (``Partition.pieces``) and sorted when its
    kernel first asks ``Partition.tables``: never for one that reads only the pieces, once a partition otherwise, and
    the rows it then sees are those it gets alone."""
    from harbour.detect.runners import local
    from harbour.detect.runners.reference import RefSymbolDay

    class PiecesOnly(RefSymbolDay):
        name = "ref_symbol_day_pieces"

        def kernel(self, part: Any, config: Any) -> pa.Table:
            assert part.unordered("trades").num_rows == sum(p.num_rows for p in part.pieces.values())
            return _no_alerts(self)

    sorts: list[Any] = []
    inner = local.sort_rows

    def counted(data: pa.Table, table: str, constant: Any = ()) -> pa.Table:
        sorts.append(tuple(constant))
        return inner(data, table, constant)

    monkeypatch.setattr(local, "sort_rows", counted)
    run_detectors(sample_lake, [RefCancelBurst(), PiecesOnly()], workers=1)
    assert sorts and ("symbol",) not in sorts  # only the read's sorts (venue and symbol constant)
    sorts.clear()
    together = run_detectors(sample_lake, [RefCancelBurst(), RefSymbolDay()], workers=1)
    assert sorts.count(("symbol",)) == together.detectors[1].partitions > 0
    mine = together.alerts.filter(pa.compute.equal(together.alerts.column("detector"), "ref_symbol_day"))
    assert mine.equals(run_detectors(sample_lake, [RefSymbolDay()], workers=1).alerts)


def _no_alerts(detector: Any) -> pa.Table:
    from harbour.detect.framework import AlertBuilder

    return AlertBuilder(detector).to_table()


def test_buckets_only_when_the_other_reads_leave_a_worker_idle(sample_lake: Path) -> None:
    """A read by venue and account has fewer venue groups than twice the workers: alone it is cut into buckets (each
    opens every file of its venue), beside enough tasks of other reads it is not; the alerts are the same."""
    from harbour.detect.runners import local
    from harbour.detect.runners.plan import make_job

    job = make_job(RefAccountActivity())
    alone = local.plan_tasks(job, sample_lake, Window(), None, workers=2)
    assert alone and all(t.bucket is not None for t in alone)
    beside = local.plan_tasks(job, sample_lake, Window(), None, workers=2, alongside=4)
    assert len(beside) < len(alone) and all(t.bucket is None for t in beside)
    assert local.plan_tasks(job, sample_lake, Window(), None, workers=2, alongside=1) == alone  # 2 + 1 < 4
    detectors = [RefAccountActivity(), RefCancelBurst()]
    assert run_detectors(sample_lake, detectors, workers=2).alerts.equals(
        run_detectors(sample_lake, detectors, workers=1).alerts)
