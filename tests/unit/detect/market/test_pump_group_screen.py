"""pump_and_dump's screen of the group's tests (``_group_may_pass``, the second half of ``_may_alert``): the kernel
gives the same alerts with it as with it forced open, it decides both ways on markets with planted pumps, and it
passes the events that alert at the tightest share the full path allows (its bounds are never above the full path's
volumes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import harbour.detect.market.pump_and_dump as pnd
from harbour.detect.framework import REGISTRY

from .spies import answers_of, screened_and_full
from .test_pump_and_dump_screen import _config, _part, _trades


def _market(seed: int) -> tuple[Any, pnd.PumpAndDumpConfig]:
    rng = np.random.default_rng(300 + seed)
    part = _part(_trades(rng, int(rng.integers(200, 2000))))
    return part, _config(rng).model_copy(update={"min_share": float(rng.uniform(0.01, 0.6))})


@pytest.mark.parametrize("seed", range(16))
def test_the_screened_kernel_gives_the_full_paths_alerts(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    part, config = _market(seed)
    d = REGISTRY.get("pump_and_dump")
    _, screened, full = screened_and_full(monkeypatch, pnd, "_group_may_pass", lambda: d.kernel(part, config))
    assert screened.equals(full)


def test_the_screen_decides_both_ways_and_alerts_survive(monkeypatch: pytest.MonkeyPatch) -> None:
    # over the markets above, events whose owners pass ``_campaign`` are stopped by the group's tests and passed, and
    # alerts are found
    answers = answers_of(monkeypatch, pnd, "_group_may_pass")
    d = REGISTRY.get("pump_and_dump")
    alerts = sum(d.kernel(*_market(seed)).num_rows for seed in range(16))
    assert any(answers) and not all(answers) and alerts


def _alerts(part: Any, config: pnd.PumpAndDumpConfig, share: float) -> int:
    return int(REGISTRY.get("pump_and_dump").kernel(part, config.model_copy(update={"min_share": share})).num_rows)


def test_the_screen_passes_at_the_tightest_share(monkeypatch: pytest.MonkeyPatch) -> None:
    # ``min_share`` is read only by the group's tests: the largest share at which the full path (the screen forced
    # open) still alerts is an event's own ratio of bought to the market's buying (or sold to it), to the bit found by
    # bisection. There the screen must pass that event too: a bound above the full path's volumes would stop it.
    real = pnd._group_may_pass
    tested = 0
    for seed in range(16):
        part, config = _market(seed)
        monkeypatch.setattr(pnd, "_group_may_pass", lambda *_: True)
        if not _alerts(part, config, 1e-9):
            continue
        lo, hi = 1e-9, 1.0  # alerts at lo; at hi, none or the share is whole
        if _alerts(part, config, hi):
            lo = hi
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _alerts(part, config, mid) else (lo, mid)
        full = _alerts(part, config, lo)
        monkeypatch.setattr(pnd, "_group_may_pass", real)
        assert full and _alerts(part, config, lo) == full, seed
        tested += 1
    assert tested >= 8
