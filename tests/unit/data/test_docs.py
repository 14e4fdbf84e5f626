"""docs/data-contracts.md describes every column of every canonical table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harbour.data.schemas import ENUMS, TABLES

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-contracts.md"


def _section(table: str) -> str:
    text = DOC.read_text()
    match = re.search(rf"^## {table}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"docs/data-contracts.md has no section '## {table}'"
    return match.group(1)


@pytest.mark.parametrize("table", list(TABLES))
def test_every_column_is_documented_with_its_type(table: str) -> None:
    section = _section(table)
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", section, flags=re.M)}
    assert list(rows) == TABLES[table].schema.names
    for field in TABLES[table].schema:
        documented = rows[field.name].strip().replace("float64", "double").replace("UTC", "tz=UTC")
        assert documented == str(field.type).replace("item: ", ""), (table, field.name)


def test_every_enum_value_is_documented() -> None:
    for (table, column), values in ENUMS.items():
        if table in ("labels", "alerts"):
            continue  # typologies have their own section
        section = _section(table)
        line = next(line for line in section.splitlines() if line.startswith(f"| `{column}` |"))
        assert all(f"`{v}`" in line for v in values), (table, column)
