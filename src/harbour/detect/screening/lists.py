"""Reading watch-list files: OpenSanctions ``targets.simple.csv``, plain name CSVs and address lists.

Each parser returns :class:`ParsedEntry` rows or raises ``Invalid`` naming the file, row and column::

    entries = parse_list(Path("targets.simple.csv").read_bytes(), "targets.simple.csv")
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from harbour.core.errors import Invalid
from harbour.detect.screening.addresses import normalise_address

OPENSANCTIONS_COLUMNS = (
    "id", "schema", "name", "aliases", "birth_date", "countries", "addresses", "identifiers", "sanctions",
    "phones", "emails", "dataset", "first_seen", "last_seen", "last_change",
)
FORMATS = ("opensanctions", "names", "addresses")
MAX_NAME = 400


@dataclass
class ParsedEntry:
    entry_key: str
    name: str
    schema: str = "Person"
    aliases: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    birth_date: str = ""
    programme: str = ""
    address: str | None = None  # chain:address in normal form, for crypto entries


def _split_multi(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def guess_chain(address: str) -> str | None:
    """The chain an address belongs to, from its shape alone (``None`` if it is ambiguous)."""
    value = address.strip()
    if re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
        return "eth"
    if re.fullmatch(r"(bc1|BC1)[0-9a-zA-Z]{8,87}", value) or re.fullmatch(r"[13][1-9A-HJ-NP-Za-km-z]{25,34}", value):
        return "btc"
    if re.fullmatch(r"T[1-9A-HJ-NP-Za-km-z]{33}", value):
        return "trx"
    return None


def detect_format(header: list[str]) -> str:
    lowered = [h.strip().lower() for h in header]
    if lowered[:3] == ["id", "schema", "name"]:
        return "opensanctions"
    if "address" in lowered or (lowered and lowered[0] in ("chain", "address")):
        return "addresses"
    return "names"


def parse_list(data: bytes, source_name: str, fmt: str | None = None) -> list[ParsedEntry]:
    """Parse a list file; ``fmt`` is detected from the header when not given."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{source_name} is not UTF-8 text; save the list as UTF-8 CSV", field="file") from exc
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise Invalid(f"{source_name} has no rows", field="file")
    fmt = fmt or detect_format(rows[0])
    if fmt not in FORMATS:
        raise Invalid(f"unknown list format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")
    parser = {"opensanctions": _parse_opensanctions, "names": _parse_names, "addresses": _parse_addresses}[fmt]
    entries = parser(rows, source_name)
    if not entries:
        raise Invalid(f"{source_name} has a header but no entries", field="file")
    return entries


def _parse_opensanctions(rows: list[list[str]], source: str) -> list[ParsedEntry]:
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in ("id", "schema", "name") if c not in header]
    if missing:
        raise Invalid(f"{source}: the header lacks the column(s) {', '.join(missing)} of targets.simple.csv",
                      field="file", details={"missing": missing})
    col = {name: header.index(name) for name in OPENSANCTIONS_COLUMNS if name in header}
    out = []
    for number, row in enumerate(rows[1:], start=2):
        def get(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        entry_id, schema, name = get("id"), get("schema") or "Person", get("name")
        if not entry_id or not name:
            raise Invalid(f"{source} row {number}: column {'id' if not entry_id else 'name'} is empty",
                          field="file", details={"row": number})
        entry = ParsedEntry(entry_id, name[:MAX_NAME], schema, _split_multi(get("aliases")),
                            _split_multi(get("countries")), get("birth_date"), get("sanctions")[:2000])
        if schema == "CryptoWallet":
            entry.address = _wallet_address(name, get("identifiers"))
        out.append(entry)
    return out


def _wallet_address(name: str, identifiers: str) -> str | None:
    for candidate in [name, *_split_multi(identifiers)]:
        chain = guess_chain(candidate)
        if chain:
            return normalise_address(chain, candidate)
    return None


def _parse_names(rows: list[list[str]], source: str) -> list[ParsedEntry]:
    has_header = rows[0] and rows[0][0].strip().lower() == "name"
    out = []
    for number, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        name = row[0].strip() if row else ""
        if not name:
            raise Invalid(f"{source} row {number}: the name (first column) is empty", field="file",
                          details={"row": number})
        country = row[1].strip() if len(row) > 1 else ""
        key = row[2].strip() if len(row) > 2 and row[2].strip() else f"row-{number}"
        out.append(ParsedEntry(key, name[:MAX_NAME], "Person", [], [country] if country else []))
    return out


def _parse_addresses(rows: list[list[str]], source: str) -> list[ParsedEntry]:
    """``chain,address[,label]`` rows (header optional), or one ``chain:address`` per row."""
    first = [h.strip().lower() for h in rows[0]]
    has_header = first and first[0] in ("chain", "address")
    out = []
    for number, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        cells = [c.strip() for c in row]
        if len(cells) >= 2 and ":" not in cells[0]:
            chain, address, label = cells[0], cells[1], cells[2] if len(cells) > 2 else ""
        elif cells and ":" in cells[0]:
            chain, address = cells[0].split(":", 1)
            label = cells[1] if len(cells) > 1 else ""
        else:
            raise Invalid(f"{source} row {number}: expected chain,address or chain:address", field="file",
                          details={"row": number})
        try:
            normal = normalise_address(chain, address)
        except Invalid as exc:
            raise Invalid(f"{source} row {number}: {exc.message}", field="file", details={"row": number}) from exc
        out.append(ParsedEntry(normal, label or normal, "CryptoWallet", address=normal))
    return out
