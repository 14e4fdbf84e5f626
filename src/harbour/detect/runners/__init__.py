"""Runners execute detectors' kernels over the Parquet lake: in-process (:class:`LocalRunner`, DuckDB and a
process pool) or on Spark (:class:`SparkRunner`). Both follow :mod:`.plan`, so they give the same alerts.

Example::

    from harbour.detect.builtin import load_detectors
    from harbour.detect.runners import run_detectors

    result = run_detectors(Path("var/lake"), load_detectors().all(), runner="local")
    result.alerts  # pyarrow.Table in the ALERTS schema
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from harbour.core.errors import Invalid
from harbour.detect.framework import Detector, Window
from harbour.detect.runners.plan import DetectorJob, combine_alerts, make_job
from harbour.detect.runners.progress import NO_PROGRESS, Progress

RUNNERS = ("local", "spark")


class Runner(Protocol):
    name: str

    def run_job(self, job: DetectorJob, lake_root: Path, window: Window, venues: Sequence[str] | None,
                progress: Progress = NO_PROGRESS) -> tuple[pa.Table, int, int]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DetectorRun:
    """One detector's share of a run."""

    detector: str
    typology: str
    version: str
    alerts: int
    rows: int
    partitions: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunResult:
    alerts: pa.Table
    runner: str
    seconds: float
    detectors: list[DetectorRun] = field(default_factory=list)
    # CPU-seconds per detector (its kernels', and its share of the reads it shared), where the runner measures
    # them (the in-process runner running several detectors); for benchmarks.
    cpu_seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def open_runner(name: str = "local", *, workers: int | None = None, spark: Any | None = None,
                spark_master: str = "local[2]", driver_memory: str = "2g") -> Iterator[Runner]:
    """A runner by name, closed (pool shut down, own Spark session stopped) afterwards."""
    runner: Runner
    if name == "local":
        from harbour.detect.runners.local import LocalRunner

        runner = LocalRunner(workers)
    elif name == "spark":
        from harbour.detect.runners.spark import SparkRunner

        runner = SparkRunner(spark, spark_master, driver_memory)
    else:
        raise Invalid(f"unknown runner {name!r}; choose one of {', '.join(RUNNERS)}", field="runner")
    try:
        yield runner
    finally:
        runner.close()


def run_with(runner: Runner, lake_root: Path, detectors: Sequence[Detector[Any]], *, window: Window | None = None,
             venues: Sequence[str] | None = None, configs: dict[str, Any] | None = None,
             progress: Progress = NO_PROGRESS) -> RunResult:
    """Run ``detectors`` one after the other on ``runner``; alerts of all of them, one row per alert_id."""
    window = window or Window()
    if window.start and window.end and window.start >= window.end:
        raise Invalid(f"the window starts ({window.start}) at or after its end ({window.end})", field="from")
    started = time.perf_counter()
    parts, runs = [], []
    if hasattr(runner, "run_jobs"):
        # The in-process runner reads the lake once for all detectors that share tables and partitioning, and
        # measures each detector's CPU-seconds (one detector alone too: the quality harness prints them).
        jobs = [make_job(d, (configs or {}).get(d.name), Path(lake_root)) for d in detectors]
        shared = runner.run_jobs(jobs, Path(lake_root), window, venues, progress)
        cpu_seconds = {}
        for d in detectors:
            alerts, rows, partitions, seconds, cpu = shared[d.name]
            alerts = combine_alerts([alerts])
            parts.append(alerts)
            runs.append(DetectorRun(d.name, d.typology, d.version, alerts.num_rows, rows, partitions, seconds))
            cpu_seconds[d.name] = cpu
        return RunResult(combine_alerts(parts), runner.name, time.perf_counter() - started, runs, cpu_seconds)
    for detector in detectors:
        job = make_job(detector, (configs or {}).get(detector.name), Path(lake_root))
        t0 = time.perf_counter()
        alerts, rows, partitions = runner.run_job(job, Path(lake_root), window, venues, progress)
        alerts = combine_alerts([alerts])
        parts.append(alerts)
        runs.append(DetectorRun(detector.name, detector.typology, detector.version, alerts.num_rows, rows,
                                partitions, time.perf_counter() - t0))
    return RunResult(combine_alerts(parts), runner.name, time.perf_counter() - started, runs)


def run_detectors(lake_root: Path, detectors: Sequence[Detector[Any]], *, runner: str = "local",
                  window: Window | None = None, venues: Sequence[str] | None = None,
                  configs: dict[str, Any] | None = None, workers: int | None = None, spark: Any | None = None,
                  progress: Progress = NO_PROGRESS) -> RunResult:
    """Open a runner, run the detectors, close it."""
    with open_runner(runner, workers=workers, spark=spark) as r:
        return run_with(r, lake_root, detectors, window=window, venues=venues, configs=configs, progress=progress)
