"""Malformed CSV never crashes ingestion and never half-writes; the writer's journal undoes a publish that
was cut short."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

from data_samples import TRADE_HEADER, VENUE, snapshot, trade_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harbour.core.errors import Invalid
from harbour.data.ingest.service import IngestFile, ingest
from harbour.data.ingest.writer import STAGING_PREFIX, LakeWriter, recover
from harbour.data.lake import Lake

cell = st.one_of(
    st.sampled_from(["", "0", "-1", "1e309", "nan", "buy", "sell", "A1", "A2", "BTC/USD", "HBX", "2026-01-05T10:00:00Z",
                     "2099-01-01", "1767607200000000", '"', "a,b", "x\ny", "\u00e9", " "]),
    st.text(max_size=12),
)
header = st.one_of(
    st.just(TRADE_HEADER),
    st.permutations(TRADE_HEADER),
    st.lists(st.sampled_from([*TRADE_HEADER, "junk", ""]), min_size=1, max_size=13),
)


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    names = draw(header)
    rows = draw(st.lists(st.one_of(
        st.lists(cell, min_size=len(names), max_size=len(names)),
        st.lists(cell, max_size=len(names) + 2),
        st.builds(lambda i: trade_row(i), st.integers(10, 10_000)),
    ), max_size=8))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    if draw(st.booleans()):  # damage it: cut it, or drop raw bytes in
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=6)) + data[cut:]
    return data


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=csv_bytes(), skip_bad=st.booleans())
def test_malformed_csv_gives_invalid_or_a_whole_write(lake_root: Path, content: bytes, skip_bad: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lake"
        shutil.copytree(lake_root, root)
        before = snapshot(root)
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(content)
        rows_before = Lake(root).table("trades").count()
        try:
            report = ingest(root, [IngestFile("trades", path)], VENUE, skip_bad=skip_bad)
        except Invalid as exc:
            assert exc.details is None or exc.details["problems"], "a rejection must say why"
            assert snapshot(root) == before
        else:
            assert report.committed
            assert Lake(root).table("trades").count() == rows_before + report.rows_written
        assert not list(root.glob(f"{STAGING_PREFIX}*"))


def test_interrupted_publish_is_rolled_back(lake_root: Path, tmp_path: Path) -> None:
    """A writer that renamed its files but died before COMMITTED leaves a journal; recovery removes them."""
    before = snapshot(lake_root)
    lake_table = Lake(lake_root).table("trades").to_arrow()
    writer = LakeWriter(lake_root).__enter__()
    stage = writer.new_file(0)
    import numpy as np
    import pyarrow as pa

    from harbour.data.schemas import TRADES

    fresh = lake_table.select(TRADES.names).cast(TRADES).slice(0, 2)
    fresh = fresh.set_column(2, TRADES.field("trade_id"), pa.array(["N1", "N2"]))
    writer.write(stage, "trades", fresh, np.array([2, 3]))
    writer.close_file(stage)
    published = writer.publish()
    assert published and all(p.exists() for p in published)
    # The process "dies" here: the lock goes with it, the staging folder and journal stay.
    import os

    os.close(writer._lock_fd)  # noqa: SLF001 - simulating the kernel releasing a dead process's lock
    assert Lake(lake_root).table("trades").count() == 5  # a reader's Lake() rolls the dead ingest back
    assert snapshot(lake_root) == before
    assert recover(lake_root) == 0
