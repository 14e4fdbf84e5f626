"""The owner screen of the spoofing/layering search (``cancelled_pressure._owners_who_may_alert``) drops only
owners none of whose episodes could alert: with it and with it forced open, both detectors give the same alerts,
over hand-built incidents and a generated market, at thresholds from strict to none at all; and it does drop
owners, so the comparison is not between two identical paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.cancelled_pressure as cp
import harbour.detect.market.pressure_screen as ps
from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket
from harbour.detect.runners import run_with
from harbour.detect.runners.local import LocalRunner

from .conftest import VENUES

THRESHOLDS = (1e-6, 0.0005, 0.01, 0.2, 1.0)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(episodes in, episodes kept) of each call of the screen from now on; the partition screen before the search
    (``pressure_screen``, tested on its own) is opened, so that every partition reaches this one."""
    monkeypatch.setattr(ps, "may_alert", lambda *_: True)
    calls: list[tuple[int, int]] = []
    real = cp._owners_who_may_alert

    def spy(found: pl.DataFrame, max_coincidence: float) -> pl.DataFrame:
        kept = real(found, max_coincidence)
        calls.append((found.height, kept.height))
        return kept

    monkeypatch.setattr(cp, "_owners_who_may_alert", spy)
    return calls


def _open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cp, "_owners_who_may_alert", lambda found, _: found)


def _config(name: str, max_coincidence: float) -> Any:
    # the repeat test opened too, so that the coincidence threshold alone decides which episodes alert
    return REGISTRY.get(name).default_config().model_copy(
        update={"max_coincidence": max_coincidence, "max_repeat_chance": 1.0})


def _kernels(market: ScenarioMarket, max_coincidence: float) -> dict[str, pa.Table]:
    out = {}
    for name in ("spoofing", "layering"):
        detector = REGISTRY.get(name)
        # a new partition each time: its shared memo would hand the second run the first one's episodes
        out[name] = pa.concat_tables([detector.kernel(market.partition(v), _config(name, max_coincidence))
                                      for v in VENUES])
    return out


@pytest.mark.parametrize("max_coincidence", THRESHOLDS)
def test_the_screen_never_changes_an_alert_of_the_incidents(incident_market: ScenarioMarket,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             max_coincidence: float) -> None:
    calls = _spy(monkeypatch)
    screened = _kernels(incident_market, max_coincidence)
    _open(monkeypatch)
    full = _kernels(incident_market, max_coincidence)
    for name in screened:
        assert screened[name].equals(full[name]), name
    assert calls
    if max_coincidence < 1.0:
        assert any(kept < seen for seen, kept in calls)  # some owners were screened out
    if max_coincidence == 0.01:
        assert full["spoofing"].num_rows and full["layering"].num_rows  # the incidents alert


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("pressure-lake")
    generate_market(GenerateConfig(out=lake, venues=2, days=1, accounts=400, seed=23, activity=0.3, symbols=3,
                                   incidents={"spoofing": 2, "layering": 2}), workers=1)
    return lake


@pytest.mark.parametrize("max_coincidence", (0.001, 0.01, 0.3))
def test_the_screen_never_changes_an_alert_on_a_generated_market(generated: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 max_coincidence: float) -> None:
    detectors = [REGISTRY.get("spoofing"), REGISTRY.get("layering")]
    configs = {d.name: _config(d.name, max_coincidence) for d in detectors}

    def alerts() -> pa.Table:
        with LocalRunner(workers=1) as runner:
            found = run_with(runner, generated, detectors, configs=configs).alerts
        return found.sort_by("alert_id")

    calls = _spy(monkeypatch)
    screened = alerts()
    _open(monkeypatch)
    full = alerts()
    assert screened.equals(full)
    assert any(kept < seen for seen, kept in calls)
    if max_coincidence == 0.01:
        assert full.num_rows
