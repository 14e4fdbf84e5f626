"""A lake file whose statistics give one venue and one symbol is read without decoding those columns
(local._read_file writes them out with _repeated): the tables handed on must be the ones decoding gives."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.builtin import load_detectors
from harbour.detect.runners import local
from harbour.detect.runners.plan import make_job, read_columns


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("known-keys")
    generate_market(GenerateConfig(out=root, venues=2, days=2, accounts=120, seed=5, activity=0.1, symbols=2),
                    workers=1)
    return root


@pytest.mark.parametrize("table", ["trades", "orders"])
def test_written_key_columns_equal_the_decoded_ones(market: Path, table: str) -> None:
    job = make_job(load_detectors().get("layering"), None, market)
    cols = read_columns(job, table)
    files = sorted(market.glob(f"{table}/**/*.parquet"))
    assert files
    known_files = 0
    for path in files:
        file = local._open_file(job, table, str(path), cols)
        single = local._single_key(file.metadata, ["venue", "symbol"])
        assert single is not None  # the generator writes a file per venue, symbol and day
        known_files += 1
        known = dict(zip(["venue", "symbol"], single, strict=True))
        written = local._read_file(job, table, str(path), file, cols, 1, known)
        decoded = local._read_file(job, table, str(path), local._open_file(job, table, str(path), cols), cols, 1)
        assert written.schema == decoded.schema
        assert written.equals(decoded), path
        assert written.column("venue").null_count == 0
    assert known_files == len(files)


@pytest.mark.parametrize(("value", "n"), [("HBX", 5), ("", 4), ("BTC/USD", 0), ("币安-Ω", 3), ("X", 1)])
def test_repeated_is_the_value_n_times(value: str, n: int) -> None:
    got = local._repeated(value, n)
    got.validate(full=True)
    assert got.type == pa.string()
    assert got.to_pylist() == [value] * n


def test_a_file_whose_key_columns_vary_is_decoded(tmp_path: Path) -> None:
    """Statistics that do not give one value (two venues in a file) leave the columns to the decoder."""
    path = tmp_path / "two.parquet"
    pq.write_table(pa.table({"venue": ["A", "B"], "symbol": ["S", "S"]}), path)
    assert local._single_key(pq.ParquetFile(path).metadata, ["venue", "symbol"]) is None


def test_repeated_columns_are_slices_of_one_kept_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each value's column is written out once and sliced for each file (grown when a file needs more rows), and
    only the values used last are kept."""
    monkeypatch.setattr(local, "_REPEATS", {})
    monkeypatch.setattr(local, "_MAX_REPEATS", 3)
    first, second = local._repeated("HBX", 10), local._repeated("HBX", 7)
    assert first.buffers()[2].address == second.buffers()[2].address  # the same bytes, sliced
    assert second.to_pylist() == ["HBX"] * 7
    big = local._repeated("HBX", 300_000)
    big.validate(full=True)
    assert big.to_pylist()[-1] == "HBX" and len(big) == 300_000
    for value in ("A", "B", "C"):
        assert local._repeated(value, 2).to_pylist() == [value, value]
    assert list(local._REPEATS) == ["A", "B", "C"]
