"""Beneficial owners of one venue's accounts, built once per accounts table rather than once per partition.

The accounts table is broadcast: every partition of a runner's task is handed the same table object, and
turning it into a Polars frame and filtering it by venue cost as much as some kernels' own work on a small
partition. The map is remembered for the last table seen (holding a reference, so its id stays its own);
results are the same with or without it.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from harbour.detect.framework import Partition
from harbour.detect.market.frames import owner_map

_LAST: dict[tuple[int, str | None], tuple[pl.DataFrame, Any]] = {}


def venue_owners(part: Partition, venue: str | None) -> pl.DataFrame:
    """``frames.owner_map(part, venue)``, remembered for the partition's accounts table."""
    table = part.broadcast.get("accounts")
    if table is None or "accounts" in part.tables:
        return owner_map(part, venue)
    key = (id(table), venue)
    found = _LAST.get(key)
    if found is None or found[1] is not table:
        if len(_LAST) > 16:
            _LAST.clear()
        found = (owner_map(part, venue), table)
        _LAST[key] = found
    return found[0]
