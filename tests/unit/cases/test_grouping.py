"""The grouping rule: union-find over shared accounts (or customers) within a venue and near in time."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.cases.grouping import AlertSpan, group_alerts, merge, split
from harbour.core.errors import Invalid

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def span(aid, accounts, start_h, end_h, venue="HBX", priority=10.0):
    return AlertSpan(aid, venue, tuple(accounts), T0 + start_h * H, T0 + end_h * H, priority, "wash_trade")


def ids(groups):
    return sorted(tuple(g.alert_ids) for g in groups)


def test_shared_account_and_overlap_group_transitively():
    alerts = [span("a", ["x"], 0, 2), span("b", ["x", "y"], 1, 3), span("c", ["y"], 2, 4), span("d", ["z"], 0, 1)]
    assert ids(group_alerts(alerts)) == [("a", "b", "c")]


def test_other_venue_or_far_in_time_is_not_related():
    alerts = [span("a", ["x"], 0, 1), span("b", ["x"], 0, 1, venue="OKQ"), span("c", ["x"], 100, 101)]
    assert group_alerts(alerts, gap=24 * H) == []
    assert ids(group_alerts(alerts, gap=200 * H)) == [("a", "c")]


def test_same_customer_links_different_accounts():
    alerts = [span("a", ["x1"], 0, 1), span("b", ["x2"], 0, 1)]
    assert group_alerts(alerts) == []
    grouped = group_alerts(alerts, customer_of={("HBX", "x1"): "cust", ("HBX", "x2"): "cust"})
    assert ids(grouped) == [("a", "b")] and "customer:cust" in grouped[0].keys


def test_split_and_merge():
    g1, g2 = group_alerts(
        [
            span("a", ["x"], 0, 1),
            span("b", ["x"], 0, 1),
            span("c", ["y"], 50, 51),
            span("d", ["y"], 50, 51, priority=90),
        ]
    )
    assert g1.alert_ids == ["c", "d"]  # highest priority first
    kept, rest = split(g1, ["d"])
    assert kept.alert_ids == ["d"] and rest.alert_ids == ["c"]
    assert merge([g1, g2]).alert_ids == ["a", "b", "c", "d"]
    with pytest.raises(Invalid):
        split(g1, ["c", "d"])
    with pytest.raises(Invalid):
        split(g1, ["zz"])
    with pytest.raises(Invalid):
        merge([g1])


alert_strategy = st.lists(
    st.tuples(
        st.sampled_from(["HBX", "OKQ"]),
        st.lists(st.sampled_from("pqrstu"), min_size=1, max_size=3),
        st.integers(0, 200),
        st.integers(0, 30),
    ),
    max_size=40,
)


def _related(a: AlertSpan, b: AlertSpan, gap: dt.timedelta) -> bool:
    return (
        a.venue == b.venue
        and bool(set(a.accounts) & set(b.accounts))
        and a.start <= b.end + gap
        and b.start <= a.end + gap
    )


@settings(max_examples=150, deadline=None)
@given(alert_strategy)
def test_groups_are_exactly_the_connected_components(raw):
    """Every directly related pair lands in one group, and every group is connected by related pairs."""
    alerts = [span(f"a{i}", accs, s, s + d, venue=v) for i, (v, accs, s, d) in enumerate(raw)]
    gap = 24 * H
    groups = group_alerts(alerts, gap=gap, min_size=1)
    where = {a: n for n, g in enumerate(groups) for a in g.alert_ids}
    assert sorted(where) == sorted(a.alert_id for a in alerts)  # a partition
    for a in alerts:
        for b in alerts:
            if _related(a, b, gap):
                assert where[a.alert_id] == where[b.alert_id]
    for g in groups:  # connected through related pairs
        members = {a.alert_id: a for a in g.alerts}
        seen, todo = set(), [next(iter(members))]
        while todo:
            cur = todo.pop()
            if cur in seen:
                continue
            seen.add(cur)
            todo.extend(o for o in members if o not in seen and _related(members[cur], members[o], gap))
        assert seen == set(members)
