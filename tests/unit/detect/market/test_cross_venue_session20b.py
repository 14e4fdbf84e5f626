"""Cross-venue's screen reads each run's share of its venue's volume (``_shares``) from one compiled pass
(``_venue_volumes``) when each venue's times are in row order, and per venue in NumPy otherwise or where the hair's
rounding could turn the answer. Checked against the old ``_shares`` (session 20's, kept here as the reference: a
Python loop per venue) on random inputs: times in row order per venue and not, ties, runs of one trade, spans before
the first and after the last trade, NaN and infinite quantities, NaN run quantities, several venue counts, int32
codes, datetime times; runs placed exactly on the hair's boundary, where only the NumPy reading is exact."""

from __future__ import annotations

import numpy as np
import pytest

from harbour.detect.market import cross_venue as cv


def _old_shares(venues: np.ndarray, ts: np.ndarray, quantity: np.ndarray, q: np.ndarray, venue: np.ndarray,
                start: np.ndarray, end: np.ndarray, min_share: float) -> np.ndarray:
    """Session 20's ``_shares``: per venue, its trades sorted by time, cumulative sums, a NumPy sum for the hair."""
    ok = np.zeros(q.size, np.bool_)
    for v in np.unique(venue):
        mine = np.flatnonzero(venues == v)
        mine = mine[np.argsort(ts[mine], kind="stable")]
        cum = np.concatenate([[0.0], np.cumsum(quantity[mine])])
        at = venue == v
        vol = cum[np.searchsorted(ts[mine], end[at], side="right")] - cum[np.searchsorted(ts[mine], start[at])]
        hair = 1e-9 * float(np.nansum(np.abs(quantity[mine])))
        ok[at] = (q[at] + hair >= min_share * (vol - hair)) | np.isnan(q[at])
    return ok


def _case(rng: np.random.Generator, in_order: bool) -> tuple[np.ndarray, ...]:
    n = int(rng.integers(1, 3000))
    n_venues = int(rng.integers(1, 5))
    venues = rng.integers(0, n_venues, n)
    ts = rng.integers(0, int(rng.choice([5, 100, 10_000])), n).astype(np.int64) * 1_000_000  # many ties
    if in_order:
        ts = np.sort(ts)
    quantity = rng.random(n) * rng.choice([1.0, 100.0, 1e6])
    if rng.random() < 0.2:
        quantity[rng.integers(0, n, 3)] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -5.0])
    runs = int(rng.integers(1, 60))
    pick = rng.integers(0, n, runs)
    venue = venues[pick]
    start = ts[pick] + rng.integers(-2, 3, runs) * 1_000_000  # sometimes before any trade of the venue
    end = start + rng.integers(0, 30, runs) * 1_000_000
    q = rng.random(runs) * quantity[np.isfinite(quantity)].sum() / max(n_venues, 1) * rng.random()
    if rng.random() < 0.2:
        q[rng.integers(0, runs)] = np.nan
    return venues, ts, quantity, q, venue, start, end


@pytest.mark.parametrize("in_order", [True, False])
def test_shares_answer_as_the_old_loop_per_venue(in_order: bool) -> None:
    rng = np.random.default_rng(20 + in_order)
    for _ in range(300):
        venues, ts, quantity, q, venue, start, end = _case(rng, in_order)
        share = float(rng.choice([0.3, 0.05, 1.0]))
        with np.errstate(invalid="ignore"):  # an infinite quantity's volumes are NaN, in both readings
            _check(venues, ts, quantity, q, venue, start, end, share)


def _check(venues: np.ndarray, ts: np.ndarray, quantity: np.ndarray, q: np.ndarray, venue: np.ndarray,
           start: np.ndarray, end: np.ndarray, share: float) -> None:
    """Both readings alike, and with int32 codes (the frame path's dictionary codes) and datetime times (the
    NumPy reading)."""
    want = _old_shares(venues, ts, quantity, q, venue, start, end, share)
    assert np.array_equal(cv._shares(venues, ts, quantity, q, venue, start, end, share), want)
    assert np.array_equal(cv._shares(venues.astype(np.int32), ts, quantity, q, venue.astype(np.int32), start,
                                     end, share), want)
    assert np.array_equal(cv._shares(venues, ts.astype("datetime64[us]"), quantity, q, venue,
                                     start.astype("datetime64[us]"), end.astype("datetime64[us]"), share), want)


def test_shares_on_the_hairs_boundary_are_read_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's quantity placed on the old reading's boundary (the least that passes, and the float below it): only
    NumPy's pairwise hair decides, so such runs must be read again per venue where the plain sum's bound cannot tell;
clear runs must not."""
    rng = np.random.default_rng(7)
    again = []
    inner = cv._venue_shares

    def counted(*args: np.ndarray) -> np.ndarray:
        again.append(args[3].size)
        return inner(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cv, "_venue_shares", counted)
    boundary = read_again = 0
    for _ in range(200):
        venues, ts, quantity, _, venue, start, end = _case(rng, True)
        quantity = np.abs(np.nan_to_num(quantity, nan=1.0, posinf=1.0, neginf=1.0)) + 1e-3
        # each venue's day ends in one trade so large that the hair outweighs the runs' volumes: the hair's last
        # bits then decide, and the plain sum's bound cannot
        tail = np.unique(venues)
        venues = np.concatenate([venues, tail])
        ts = np.concatenate([ts, np.full(tail.size, ts.max() + 10**12)])
        quantity = np.concatenate([quantity, rng.random(tail.size) * 1e13 + 1e12])
        vol = np.empty(venue.size)
        hair = np.empty(venue.size)
        for v in np.unique(venue):
            mine = np.flatnonzero(venues == v)
            cum = np.concatenate([[0.0], np.cumsum(quantity[mine])])
            at = venue == v
            vol[at] = cum[np.searchsorted(ts[mine], end[at], side="right")] - cum[np.searchsorted(ts[mine], start[at])]
            hair[at] = 1e-9 * float(np.nansum(np.abs(quantity[mine])))
        # the least q with q + hair >= 0.3 * (vol - hair), found by stepping from the algebraic answer
        q = 0.3 * (vol - hair) - hair
        for _ in range(4):
            q = np.where(q + hair >= 0.3 * (vol - hair), np.nextafter(q, -np.inf), q)
        q = np.nextafter(q, np.inf)
        q = np.where(rng.random(q.size) < 0.5, q, np.nextafter(q, -np.inf))
        want = _old_shares(venues, ts, quantity, q, venue, start, end, 0.3)
        again.clear()
        assert np.array_equal(cv._shares(venues, ts, quantity, q, venue, start, end, 0.3), want)
        boundary += q.size
        read_again += sum(again)
        clear = q * 2 + 1.0
        again.clear()
        assert np.array_equal(cv._shares(venues, ts, quantity, clear, venue, start, end, 0.3),
                              _old_shares(venues, ts, quantity, clear, venue, start, end, 0.3))
        assert not again  # clear runs: the compiled pass alone
    assert read_again > boundary // 2  # most boundary runs were read again (their answers checked above)


def test_venue_volumes_refuses_times_out_of_row_order() -> None:
    venues = np.array([0, 1, 0, 1], np.int64)
    ts = np.array([1, 5, 3, 4], np.int64)  # venue 1's times go back
    in_order, _, _ = cv._venue_volumes(venues, ts, np.ones(4), 2, np.array([0]), np.array([0]), np.array([9]))
    assert not in_order
    in_order, vol, plain = cv._venue_volumes(venues, np.array([1, 4, 3, 5], np.int64), np.array([1.0, 2, 4, 8]), 2,
                                             np.array([0, 1, 1]), np.array([0, 5, 0]), np.array([9, 9, 4]))
    assert in_order and vol.tolist() == [5.0, 8.0, 2.0] and plain.tolist() == [5.0, 10.0]
