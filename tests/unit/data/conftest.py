"""Fixtures for data tests: a small lake with accounts and trades of venue HBX."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # import mode is importlib: make data_samples importable

from data_samples import ACCOUNT_HEADER, TRADE_HEADER, VENUE, account_row, trade_row, write_csv  # noqa: E402

from harbour.data.ingest.service import IngestFile, ingest  # noqa: E402


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    """A lake holding accounts A1..A3 and trades T0..T4 of venue HBX."""
    root = tmp_path / "lake"
    accounts = write_csv(tmp_path / "accounts.csv", ACCOUNT_HEADER, [account_row(a) for a in ("A1", "A2", "A3")])
    trades = write_csv(tmp_path / "trades0.csv", TRADE_HEADER, [trade_row(i) for i in range(5)])
    ingest(root, [IngestFile("accounts", accounts), IngestFile("trades", trades)], VENUE)
    return root
