"""Fixtures for surveillance integration tests: ONE local[2] Spark session for the whole run, a seeded
sample lake, and a small market from ``harbour generate`` with labelled incidents of every typology."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harbour.detect.runners.samplelake import write_sample_lake


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from harbour.detect.runners.spark import make_spark

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JVM start-up chatter (pandas-version notices) is not ours to fix
        session = make_spark("local[2]", driver_memory="1g", app_name="harbour-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample-lake")
    write_sample_lake(root)
    return root


@pytest.fixture(scope="session")
def generated_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two venues, two days, three symbols, one incident of every typology the options allow."""
    from harbour.data.generate import GenerateConfig, generate_market

    root = tmp_path_factory.mktemp("generated-lake")
    generate_market(GenerateConfig(out=root, venues=2, days=2, accounts=150, seed=3, activity=0.2, symbols=3,
                                   incidents={"all": 1}))
    return root
