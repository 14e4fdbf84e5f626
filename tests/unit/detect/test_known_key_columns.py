"""A lake file whose statistics give one venue and one symbol is read without decoding those columns
(local._read_file writes them out with _repeated): the tables handed on must be the ones decoding gives."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.builtin import load_detectors
from harbour.detect.runners import local, plan
from harbour.detect.runners.plan import canonical_schema, make_job, read_columns


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
        with pa.OSFile(str(path)) as source:
            file = local._open_file(job, table, str(path), source)
            single = local._single_key(file.metadata, ["venue", "symbol"])
            assert single is not None  # the generator writes a file per venue, symbol and day
            known_files += 1
            known = dict(zip(["venue", "symbol"], single, strict=True))
            written = local._read_file(job, table, str(path), file, source, cols, 1, known)
            decoded = local._read_file(job, table, str(path), file, source, cols, 1)
        assert written.schema == decoded.schema
        assert written.equals(decoded), path
        assert written.column("venue").null_count == 0
        # what Arrow's own read gives, in the contract's types: the large-text read and the dictionary columns'
        # second handle change how the file is decoded, not what it holds
        plain = pq.read_table(path, columns=cols)
        assert written.schema == canonical_schema(table, cols)
        assert written.to_pylist() == plain.to_pylist(), path
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


def test_large_text_past_32_bit_offsets_is_narrowed_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner reads text as large strings and narrows it: a chunk with more bytes than 32-bit offsets address
    (here a limit of 10 bytes) goes on as several string chunks with the same rows, nulls and slices included."""
    monkeypatch.setattr(plan, "NARROW_LIMIT", 10)
    values = ["abcd", None, "efghij", "", "k", "lmnopqrstu", "v", "wxyz12"]
    col = pa.chunked_array([pa.array(values, pa.large_string()).slice(1), pa.array(["z"], pa.large_string())])
    got = plan._as_type(col, pa.string())
    assert got.type == pa.string()
    assert got.to_pylist() == values[1:] + ["z"]
    assert got.num_chunks > 2
    for chunk in got.chunks:
        chunk.validate(full=True)
        assert sum(len(v or "") for v in chunk.to_pylist()) <= 10 or len(chunk) == 1

