"""Fixtures for the detector-framework tests: a small seeded lake in the lake layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from harbour.detect.runners.samplelake import write_sample_lake


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample-lake")
    write_sample_lake(root)
    return root
