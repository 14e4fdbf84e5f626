"""Cross-venue's screen reads its partition's pieces (``Partition.pieces``: each venue's trades in canonical order, one
venue after another, as the in-process runner puts a symbol-day together) and the runner sorts the table only for the
partitions that pass (``framework.OrderedOnUse``). Checked on random markets: the screen's verdict on the pieces, in
any venue order, is its verdict on the sorted table, and the kernel's alerts are the same whether it is handed the
pieces and an unsorted-until-asked table or the sorted table alone; a partition the screen stops is never sorted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import harbour.detect.market.cross_venue as cv
from harbour.data.row_order import sort_rows
from harbour.detect.framework import REGISTRY, OrderedOnUse, Partition

from .test_cross_venue_cheaper_screen import _config, _partition, _venues


def _in_pieces(part: Partition, rng: np.random.Generator) -> tuple[Partition, list[int]]:
    """``part`` as the runner hands a coarser partition: its trades cut by venue (each piece in canonical order), the
    pieces in a random venue order, and a table sorted only when asked (the count of sorts in the list)."""
    trades = part.tables["trades"]
    venues = sorted(set(trades.column("venue").to_pylist()))
    pieces = [trades.filter(pc.equal(trades.column("venue"), v)) for v in rng.permutation(venues)]
    together = pa.concat_tables(pieces) if pieces else trades
    sorts: list[int] = []

    def sort() -> pa.Table:
        sorts.append(1)
        return sort_rows(together, "trades", constant=["symbol"])

    tables = OrderedOnUse({"trades": sort})
    return Partition(part.key, tables, part.window, part.broadcast, {}, {"trades": together}), sorts


def test_the_screen_reads_the_pieces_as_it_reads_the_sorted_table() -> None:
    d = REGISTRY.get("cross_venue")
    rng = np.random.default_rng(7)
    verdicts: dict[Any, int] = {False: 0, True: 0, None: 0}
    alerts = 0
    for case in range(200):
        part = _partition(rng, int(rng.integers(10, 400)), _venues(rng), colons=rng.random() < 0.1)
        config = _config(rng)
        pieced, sorts = _in_pieces(part, rng)
        verdict = cv._may_alert(part, config)
        assert cv._may_alert(pieced, config) == verdict, case
        assert not sorts, case  # the screen never asked for the sorted table
        got = d.kernel(pieced, config)
        assert got.equals(d.kernel(part, config)), case
        assert len(sorts) == (0 if verdict is False else 1), case
        verdicts[verdict] += 1
        alerts += got.num_rows
    assert verdicts[False] >= 20 and verdicts[True] >= 20 and alerts > 0, (verdicts, alerts)


def test_tables_are_made_once_when_first_asked_for() -> None:
    made: list[str] = []

    def maker(name: str) -> Any:
        return lambda: made.append(name) or pa.table({"x": [name]})

    tables = OrderedOnUse({"trades": maker("trades"), "orders": maker("orders")})
    assert "trades" in tables and "accounts" not in tables and len(tables) == 2 and sorted(tables) == ["orders",
                                                                                                       "trades"]
    assert tables.get("accounts") is None and made == []
    assert tables.get("trades").column("x").to_pylist() == ["trades"] and made == ["trades"]
    assert tables["trades"] is tables.get("trades") and made == ["trades"]
    assert sorted(dict(tables.items())) == ["orders", "trades"] and made == ["trades", "orders"]
    part = Partition({}, {"trades": pa.table({"x": [1]})})
    assert part.unordered("trades") is part.tables["trades"] and part.unordered("orders") is None
