"""Row checks of one chunk, vectorised with Arrow compute (and DuckDB for parsing text), never a Python
loop over rows: only the rows at fault are turned into :class:`Problem` objects.

Checks: required values present, values of the right type (text parsed as numbers and timestamps), ranges
(prices and quantities > 0, values >= 0, finite), enums (``schemas.ENUMS``), timestamps after 2009-01-03
and not in the future, the venue column equal to the venue being ingested, and a few table rules (a limit
order has a price, a transfer party is ``venue:account`` or ``chain:address``, an account id does not use
the reserved ``anon:`` prefix, a country is two capital letters).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harbour.data.ingest.formats import ANON_PREFIX, FileRejected
from harbour.data.ingest.problems import MAX_DETAILED_PROBLEMS, Problem
from harbour.data.schemas import ENUMS, TABLES, TS

EARLIEST = dt.datetime(2009, 1, 3, tzinfo=dt.UTC)  # the first bitcoin block: nothing in a VATP is older
FUTURE_SKEW = dt.timedelta(minutes=5)  # clocks differ a little; beyond this a timestamp is in the future

# (table, column) -> "gt0" (> 0) or "ge0" (>= 0); every float column is also checked to be finite.
RANGES: dict[tuple[str, str], str] = {
    ("trades", "price"): "gt0",
    ("trades", "quantity"): "gt0",
    ("orders", "price"): "gt0",
    ("orders", "quantity"): "ge0",  # open quantity after the event: 0 once filled or cancelled
    ("transfers", "amount"): "gt0",
    ("transfers", "usd_value"): "ge0",
}

PARTY_RE = r"^[^:\s]+:\S+$"
TEXT_DICT = pa.dictionary(pa.int32(), pa.string())  # how low-cardinality text columns travel from Parquet

_TS_SQL = (
    "coalesce(try_cast(v AS TIMESTAMPTZ), CASE WHEN regexp_full_match(trim(v), '-?[0-9]{1,18}') "
    "THEN make_timestamp(try_cast(trim(v) AS BIGINT))::TIMESTAMPTZ END)"
)


def new_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the CLI draws its own; DuckDB's would garble it
    return con


@dataclass
class ChunkResult:
    table: pa.Table  # the canonical schema, every row (bad ones included; filter with ``bad``)
    bad: np.ndarray  # bool per row
    problems: list[Problem] = field(default_factory=list)
    unlisted: int = 0  # problems counted but not listed (beyond MAX_DETAILED_PROBLEMS in this chunk)


class _Collector:
    def __init__(self, file: str, rows: np.ndarray) -> None:
        self.file, self.rows = file, rows
        self.bad = np.zeros(len(rows), dtype=bool)
        self.problems: list[Problem] = []
        self.unlisted = 0
        self.unparsed: dict[str, pa.Array | pa.ChunkedArray] = {}  # column -> rows whose text did not parse

    def flag(self, mask: pa.Array | pa.ChunkedArray | np.ndarray, column: str, reason: str,
             values: pa.Array | pa.ChunkedArray | None = None) -> None:
        """Mark rows where ``mask`` is true; ``reason`` may hold ``{value}``, taken from ``values``."""
        if not isinstance(mask, np.ndarray) and not pc.any(mask).as_py():
            return  # the usual case, a clean column: skip unpacking the mask
        m = mask if isinstance(mask, np.ndarray) else _to_numpy_bool(mask)
        idx = np.flatnonzero(m)
        if not len(idx):
            return
        self.bad[idx] = True
        room = max(MAX_DETAILED_PROBLEMS - len(self.problems), 0)
        shown, self.unlisted = idx[:room], self.unlisted + max(len(idx) - room, 0)
        texts = values.take(pa.array(shown)).to_pylist() if values is not None and len(shown) else [None] * len(shown)
        for i, v in zip(shown.tolist(), texts, strict=True):
            self.problems.append(Problem(self.file, int(self.rows[i]), column, reason.format(value=_show(v))))


def _to_numpy_bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    filled = pc.fill_null(mask, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks() if filled.num_chunks != 1 else filled.chunk(0)
    return filled.to_numpy(zero_copy_only=False)


def _show(value: object) -> str:
    text = repr(value) if not isinstance(value, dt.datetime) else value.isoformat()
    return text if len(text) <= 60 else text[:57] + "..."


def check_columns(table: str, present: list[str]) -> None:
    """Raise :class:`FileRejected` naming the first required column that is missing."""
    missing = [f.name for f in TABLES[table].schema if not f.nullable and f.name != "venue" and f.name not in present]
    if missing:
        raise FileRejected(f"required column(s) missing: {', '.join(missing)}; the {table} table needs "
                           f"{', '.join(TABLES[table].schema.names)} (see docs/data-contracts.md)", column=missing[0])


def validate_chunk(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table, rows: np.ndarray, venue: str,
                   file: str, now: dt.datetime, known: dict[str, pa.Array] | None = None) -> ChunkResult:
    """Coerce ``data`` to the canonical schema of ``table`` and flag every bad row. ``known`` holds, per
    referenced table (``accounts``), the ids that exist: in the lake for this venue or in this ingest."""
    out = _Collector(file, rows)
    n = data.num_rows
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    for f in TABLES[table].schema:
        if f.name not in data.column_names:
            columns[f.name] = pa.array([venue] * n, pa.string()) if f.name == "venue" else pa.nulls(n, f.type)
            continue
        columns[f.name] = _coerce(con, data[f.name], f, out)
    _check_values(table, columns, venue, now, out)
    _check_references(table, columns, venue, known or {}, out)
    canonical = TABLES[table].schema
    schema = pa.schema([f.with_type(columns[f.name].type) for f in canonical])  # text columns may be dictionaries
    result = pa.table(columns, schema=schema) if n else canonical.empty_table()
    return ChunkResult(result, out.bad, out.problems, out.unlisted)


def _coerce(con: duckdb.DuckDBPyConnection, src: pa.ChunkedArray, f: pa.Field, out: _Collector) -> pa.ChunkedArray:
    t = src.type
    if pa.types.is_dictionary(t):
        if pa.types.is_string(f.type) and _is_text(t.value_type):
            # Kept as a dictionary: the checks then run once per distinct value, and the Parquet writer
            # reuses the dictionary instead of hashing every row's string again.
            return src.cast(TEXT_DICT)
        src, t = src.cast(t.value_type), t.value_type
    if t == f.type:
        return src
    if pa.types.is_null(t):
        return pa.nulls(len(src), f.type)
    text = _is_text(t)
    if pa.types.is_string(f.type):
        if text or pa.types.is_integer(t) or pa.types.is_decimal(t):
            return src.cast(pa.string())
    elif pa.types.is_floating(f.type):
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            return src.cast(f.type)
        if text:
            return _parse(con, src, "try_cast(v AS DOUBLE)", f, out, "not a number: {value}")
    elif pa.types.is_timestamp(f.type):
        if pa.types.is_timestamp(t):
            # A timestamp without a zone is read as UTC; finer units than microseconds are truncated.
            naive = src.cast(pa.timestamp(t.unit)) if t.tz is None else src
            return naive.cast(pa.timestamp("us"), safe=False).cast(TS)
        if pa.types.is_date(t):
            return src.cast(pa.timestamp("us")).cast(TS)
        if pa.types.is_integer(t):  # microseconds since the epoch
            return src.cast(pa.int64()).cast(pa.timestamp("us")).cast(TS)
        if text:
            return _parse(con, src, _TS_SQL, f, out, "not a timestamp (ISO 8601 or microseconds since the "
                                                     "epoch): {value}")
    raise FileRejected(f"column {f.name} has type {t}, which cannot hold {f.type}", column=f.name)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def per_value(col: pa.ChunkedArray | pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.ChunkedArray | pa.Array:
    """``fn`` (a per-row string check giving booleans) applied to ``col``. For a dictionary column it runs
    once per distinct value and is spread to the rows through the indices; a row whose index is null gets
    null (``flag`` treats that as false)."""
    if not pa.types.is_dictionary(col.type):
        return fn(col)
    spread = []
    for c in col.chunks if isinstance(col, pa.ChunkedArray) else [col]:
        hit = fn(c.dictionary)
        # the usual case: no distinct value fails, so no row does, and nothing needs spreading
        spread.append(pc.take(hit, c.indices) if pc.any(hit).as_py() else pa.repeat(pa.scalar(False), len(c)))
    return pa.chunked_array(spread, pa.bool_())


def _parse(con: duckdb.DuckDBPyConnection, src: pa.ChunkedArray, expr: str, f: pa.Field, out: _Collector,
           reason: str) -> pa.ChunkedArray:
    source = pa.table({"v": src.cast(pa.string())})  # noqa: F841 - read by DuckDB through its name
    parsed = con.sql(f"SELECT {expr} AS v FROM source").to_arrow_table()["v"].cast(f.type)
    failed = pc.and_(pc.is_valid(src), pc.is_null(parsed))
    out.flag(failed, f.name, reason, src)
    out.unparsed[f.name] = failed
    return parsed


def _check_values(table: str, cols: dict[str, pa.ChunkedArray | pa.Array], venue: str, now: dt.datetime,
                  out: _Collector) -> None:
    schema = TABLES[table].schema
    for f in schema:
        col = cols[f.name]
        if not f.nullable:
            missing = pc.is_null(col)
            if pa.types.is_string(f.type):
                missing = pc.or_kleene(missing, per_value(col, _blank))
            if f.name in out.unparsed:  # already reported as unreadable
                missing = pc.and_(missing, pc.invert(out.unparsed[f.name]))
            out.flag(missing, f.name, "missing value (the column is required)")
        if pa.types.is_floating(f.type):
            out.flag(pc.invert(pc.is_finite(col)), f.name, "not a finite number: {value}", col)
            rule = RANGES.get((table, f.name))
            if rule == "gt0":
                out.flag(pc.less_equal(col, 0), f.name, "must be greater than 0, got {value}", col)
            elif rule == "ge0":
                out.flag(pc.less(col, 0), f.name, "must not be negative, got {value}", col)
        if pa.types.is_timestamp(f.type):
            out.flag(pc.less(col, pa.scalar(EARLIEST, TS)), f.name,
                     "before 2009-01-03, not plausible (are epoch numbers in microseconds?): {value}", col)
            out.flag(pc.greater(col, pa.scalar(now + FUTURE_SKEW, TS)), f.name, "in the future: {value}", col)
        allowed = ENUMS.get((table, f.name))
        if allowed:
            out.flag(per_value(col, _outside(pa.array(sorted(allowed)))), f.name,
                     "{value} is not one of " + ", ".join(sorted(allowed)), col)
    out.flag(per_value(cols["venue"], lambda v: pc.not_equal(v, venue)), "venue",
             f"venue {{value}} differs from the venue being ingested ({venue})", cols["venue"])
    _table_rules(table, cols, out)


def _blank(v: pa.Array) -> pa.Array:
    """Null, empty or only whitespace (a dictionary may hold a null value too)."""
    # utf8_is_space: non-empty and only whitespace; unlike trimming it allocates no new strings
    return pc.or_kleene(pc.is_null(v), pc.or_(pc.equal(pc.binary_length(v), 0), pc.utf8_is_space(v)))


def _outside(value_set: pa.Array) -> Callable[[pa.Array], pa.Array]:
    """A check: present and not one of ``value_set``."""
    return lambda v: pc.and_(pc.invert(pc.is_in(v, value_set=value_set)), pc.is_valid(v))


def _unlike(regex: str) -> Callable[[pa.Array], pa.Array]:
    """A check: present and not matching ``regex``."""
    return lambda v: pc.and_(pc.invert(pc.match_substring_regex(v, regex)), pc.is_valid(v))


def _check_references(table: str, cols: dict[str, pa.ChunkedArray | pa.Array], venue: str,
                      known: dict[str, pa.Array], out: _Collector) -> None:
    for column, target in TABLES[table].references.items():
        ref_table, ref_column = target.split(".")
        values = cols[column]
        outside = _outside(known.get(ref_table, pa.array([], pa.string())))

        def unresolved(v: pa.Array, outside: Callable[[pa.Array], pa.Array] = outside) -> pa.Array:
            # anon: needs no account; a blank value is already reported as missing
            return pc.and_kleene(pc.and_kleene(outside(v), pc.invert(pc.starts_with(v, ANON_PREFIX))),
                                 pc.invert(_blank(v)))

        out.flag(per_value(values, unresolved), column,
                 f"{ref_column} {{value}} is not in {ref_table} for venue {venue}; ingest that {ref_table} file "
                 "first or in the same run", values)


def _table_rules(table: str, cols: dict[str, pa.ChunkedArray | pa.Array], out: _Collector) -> None:
    if table == "orders":
        limit = per_value(cols["order_type"], lambda v: pc.equal(v, "limit"))
        limit_without_price = pc.and_(limit, pc.is_null(cols["price"]))
        out.flag(limit_without_price, "price", "a limit order needs a price")
    elif table == "transfers":
        for name in ("from_party", "to_party"):
            out.flag(per_value(cols[name], _unlike(PARTY_RE)), name,
                     "must be venue:account or chain:address, got {value}", cols[name])
    elif table == "accounts":
        out.flag(per_value(cols["account"], lambda v: pc.starts_with(v, ANON_PREFIX)), "account",
                 f"account ids starting with {ANON_PREFIX!r} are reserved for anonymous trade data: {{value}}",
                 cols["account"])
        out.flag(per_value(cols["country"], _unlike(r"^[A-Z]{2}$")), "country",
                 "must be an ISO 3166-1 alpha-2 code such as HK, got {value}", cols["country"])
