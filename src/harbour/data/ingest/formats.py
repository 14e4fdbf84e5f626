"""Format adapters: each reads one file in bounded chunks and hands over Arrow tables whose columns carry
the canonical names (values may still be text; :mod:`.coerce` converts them).

Formats:

* ``parquet`` — canonical columns (other columns are ignored and reported);
* ``csv`` — canonical columns, header on line 1, UTF-8, empty field = missing value;
* ``tardis`` — the Tardis.dev trades CSV: ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``;
* ``ccxt`` — CCXT's unified trade structure, one JSON object per line.

Tardis and CCXT carry no account ids. Each trade gets two placeholder accounts, ``anon:<trade_id>:buyer``
and ``anon:<trade_id>:seller``: distinct per trade, so no detector links two anonymous trades to one party,
and the ``anon:`` prefix is reserved (reference checks accept it without an ``accounts`` row; an
``accounts`` file may not use it).
"""

from __future__ import annotations

import csv
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from harbour.data.ingest.problems import Problem
from harbour.data.layout import dictionary_columns
from harbour.data.schemas import TABLES

FORMATS = ("auto", "parquet", "csv", "tardis", "ccxt")
ANON_PREFIX = "anon:"
TARDIS_HEADER = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")
# Quote currencies recognised when splitting exchange symbols such as BTCUSDT into BTC/USDT.
QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "JPY", "HKD", "BTC", "ETH", "BNB")


class FileRejected(Exception):
    """The file as a whole cannot be read (a problem with no row)."""

    def __init__(self, reason: str, column: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column


class _RestartSlow(Exception):
    """The fast CSV reader met something it cannot locate by row; re-read with the exact reader."""


@dataclass
class Chunk:
    data: pa.Table  # canonical column names, values typed or text
    rows: np.ndarray  # int64, the human row number of each row of ``data``
    bytes_done: int
    problems: list[Problem] = field(default_factory=list)  # rows the adapter could not read at all
    restart: bool = False  # discard what this file produced so far: it is being read again


def detect_format(path: Path) -> str:
    """Guess the format from the extension and, for CSV, from the header."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "ccxt"
    if suffix in (".csv", ".txt"):
        with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            header = next(csv.reader([fh.readline()]), [])
        return "tardis" if tuple(h.strip() for h in header) == TARDIS_HEADER else "csv"
    raise FileRejected(f"cannot tell the format of {path.name} from its extension; pass --format")


def read_chunks(path: Path, fmt: str, table: str, venue: str, chunk_rows: int) -> Iterator[Chunk]:
    """The file's rows in chunks of about ``chunk_rows``; raises :class:`FileRejected`."""
    if fmt == "parquet":
        yield from prefetched(_parquet_chunks(path, table, chunk_rows))
    elif fmt == "csv":
        yield from prefetched(_csv_chunks(path, list(TABLES[table].schema.names), chunk_rows, None))
    elif fmt == "tardis":
        if table != "trades":
            raise FileRejected(f"the Tardis format holds trades, not {table}")
        yield from _csv_chunks(path, list(TARDIS_HEADER), chunk_rows, _tardis_to_canonical)
    elif fmt == "ccxt":
        if table != "trades":
            raise FileRejected(f"the CCXT trade format holds trades, not {table}")
        yield from _ccxt_chunks(path, chunk_rows)
    else:
        raise FileRejected(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def present_columns(path: Path, fmt: str, table: str) -> tuple[list[str], list[str]]:
    """(canonical columns present, other columns that will be ignored) for canonical formats."""
    if fmt == "parquet":
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except (pa.ArrowException, OSError) as exc:
            raise FileRejected(f"not a readable Parquet file: {exc}") from exc
    elif fmt == "csv":
        names = _csv_header(path)
    else:
        return list(TABLES[table].schema.names), []
    canonical = set(TABLES[table].schema.names)
    return [n for n in names if n in canonical], [n for n in names if n not in canonical]


_END = object()


def prefetched(chunks: Iterator[Chunk], depth: int = 1) -> Iterator[Chunk]:
    """The same chunks, read one ahead in a background thread: Arrow's readers and the validation's compute
    kernels release the GIL, so on two cores reading the next chunk overlaps checking this one. Errors reach
    the caller at the chunk where they happened; a caller that stops early stops the reader."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    reader = threading.Thread(target=read, name="ingest-prefetch", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=10)


# --- Parquet -------------------------------------------------------------------------------------------


def _parquet_chunks(path: Path, table: str, chunk_rows: int) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(f"not a readable Parquet file: {exc}") from exc
    wanted = [n for n in pf.schema_arrow.names if n in set(TABLES[table].schema.names)]
    # Low-cardinality text as Arrow dictionaries: decoding skips materialising every row's string
    # (Parquet usually stores these columns dictionary-encoded already), and checks run per distinct value.
    text = set(dictionary_columns(table))
    as_dictionary = [f.name for f in pf.schema_arrow if f.name in text and f.name in wanted
                     and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    if as_dictionary:
        pf = pq.ParquetFile(path, read_dictionary=as_dictionary)
    total = max(pf.metadata.num_rows, 1)
    size = path.stat().st_size
    done = 0
    try:
        # One decoding thread: this reader already runs beside the checks and the writer (``prefetched``), and
        # Arrow's column threads on top of that cost more CPU than they save time on two cores.
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=wanted, use_threads=False):
            rows = np.arange(done + 1, done + 1 + batch.num_rows, dtype=np.int64)
            done += batch.num_rows
            yield Chunk(pa.Table.from_batches([batch]), rows, int(size * done / total))
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(f"Parquet file is damaged after row {done}: {exc}") from exc


# --- CSV (canonical and Tardis) --------------------------------------------------------------------------


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise FileRejected("the header line is not UTF-8 text") from exc
    except csv.Error as exc:
        raise FileRejected(f"the header line is not valid CSV: {exc}") from exc
    if not header or not any(h.strip() for h in header):
        raise FileRejected("the file is empty or has no header line")
    names = [h.strip() for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FileRejected(f"the header names column(s) {', '.join(dupes)} more than once", column=dupes[0])
    return names


Transform = Callable[[pa.Table], pa.Table]


def _csv_chunks(path: Path, wanted: list[str], chunk_rows: int, transform: Transform | None) -> Iterator[Chunk]:
    header = _csv_header(path)
    present = [n for n in header if n in set(wanted)]
    missing = [n for n in wanted if n not in header]
    if transform is not None and missing:
        raise FileRejected(f"missing column(s) {', '.join(missing)} of the Tardis trades format", column=missing[0])
    try:
        yield from _csv_fast(path, header, present, chunk_rows, transform)
    except _RestartSlow:
        yield Chunk(pa.table({}), np.empty(0, np.int64), 0, restart=True)
        yield from _csv_exact(path, header, present, chunk_rows, transform)


def _csv_fast(path: Path, header: list[str], present: list[str], chunk_rows: int,
              transform: Transform | None) -> Iterator[Chunk]:
    """Arrow's multi-threaded reader. It cannot say where a malformed row is, so any such row sends us
    to the exact reader (which numbers every row) instead of guessing."""

    def invalid(_row: Any) -> str:
        return "error"  # Arrow then raises, and we switch readers below

    size = path.stat().st_size
    read_opts = pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 64), column_names=header, skip_rows=1)
    parse_opts = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in present}, include_columns=present,
                                   strings_can_be_null=True, quoted_strings_can_be_null=False)
    done = 0
    with path.open("rb") as raw:
        try:
            reader = pacsv.open_csv(raw, read_options=read_opts, parse_options=parse_opts, convert_options=convert)
            for batch in reader:
                data = pa.Table.from_batches([batch])
                rows = np.arange(done + 2, done + 2 + batch.num_rows, dtype=np.int64)
                done += batch.num_rows
                yield Chunk(transform(data) if transform else data, rows, min(raw.tell(), size))
        except pa.ArrowException as exc:
            raise _RestartSlow from exc


def _csv_exact(path: Path, header: list[str], present: list[str], chunk_rows: int,
               transform: Transform | None) -> Iterator[Chunk]:
    """Python's csv module: slower, but knows the line where every record starts."""
    index = [header.index(n) for n in present]
    size = max(path.stat().st_size, 1)
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            cols: list[list[str | None]] = [[] for _ in present]
            rows: list[int] = []
            problems: list[Problem] = []
            line = reader.line_num + 1
            for record in reader:
                if record and len(record) != len(header):
                    problems.append(Problem(path.name, line, None,
                                            f"expected {len(header)} fields, found {len(record)}"))
                elif record:
                    for col, i in zip(cols, index, strict=True):
                        col.append(record[i] if record[i] != "" else None)
                    rows.append(line)
                line = reader.line_num + 1
                if len(rows) >= chunk_rows:
                    yield _exact_chunk(present, cols, rows, problems, transform, 0)
                    cols, rows, problems = [[] for _ in present], [], []
            yield _exact_chunk(present, cols, rows, problems, transform, size)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not UTF-8 text (byte {exc.start} of a read block is invalid)") from exc
    except csv.Error as exc:
        raise FileRejected(f"not valid CSV near line {line}: {exc}") from exc


def _exact_chunk(present: list[str], cols: list[list[str | None]], rows: list[int], problems: list[Problem],
                 transform: Transform | None, done: int) -> Chunk:
    data = pa.table({n: pa.array(c, pa.string()) for n, c in zip(present, cols, strict=True)})
    return Chunk(transform(data) if transform else data, np.asarray(rows, dtype=np.int64), done, problems)


def tardis_symbol(symbol: str) -> str:
    """``BTCUSDT`` → ``BTC/USDT``; ``BTC-PERPETUAL`` → ``BTC/PERPETUAL``; unknown shapes are kept as given."""
    for sep in ("/", "-", "_"):
        if sep in symbol:
            base, _, quote = symbol.partition(sep)
            return f"{base.upper()}/{quote.upper()}"
    upper = symbol.upper()
    # XBTUSD ends in both TUSD and USD: prefer a split that leaves a base of three letters or more.
    for min_base in (3, 1):
        for quote in QUOTES:
            if upper.endswith(quote) and len(upper) - len(quote) >= min_base:
                return f"{upper[: -len(quote)]}/{quote}"
    return symbol


def _map_symbols(symbols: pa.ChunkedArray | pa.Array) -> pa.Array:
    uniques = pc.unique(symbols)
    mapped = pa.array([tardis_symbol(s) if s is not None else None for s in uniques.to_pylist()], pa.string())
    return pc.take(mapped, pc.index_in(symbols, value_set=uniques))


def _anon(trade_ids: pa.ChunkedArray, role: str) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(ANON_PREFIX.rstrip(":"), trade_ids, role, ":")


def _tardis_to_canonical(data: pa.Table) -> pa.Table:
    ids = data["id"]
    return pa.table({
        "symbol": _map_symbols(data["symbol"]),
        "trade_id": ids,
        "ts": data["timestamp"],  # microseconds since the epoch as digits, which coerce understands
        "price": data["price"],
        "quantity": data["amount"],
        "buyer": _anon(ids, "buyer"),
        "seller": _anon(ids, "seller"),
        "aggressor": data["side"],
    })


# --- CCXT JSON lines -------------------------------------------------------------------------------------

CCXT_COLUMNS = ("symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller", "aggressor",
                "buy_order_id", "sell_order_id")


def _ccxt_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    size = max(path.stat().st_size, 1)
    cols: dict[str, list[str | None]] = {c: [] for c in CCXT_COLUMNS}
    rows: list[int] = []
    problems: list[Problem] = []
    try:
        with path.open("r", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                reason = _ccxt_row(line, cols)
                if reason:
                    problems.append(Problem(path.name, line_no, None, reason))
                else:
                    rows.append(line_no)
                if len(rows) >= chunk_rows:
                    yield _ccxt_chunk(cols, rows, problems, 0)
                    cols, rows, problems = {c: [] for c in CCXT_COLUMNS}, [], []
    except UnicodeDecodeError as exc:
        raise FileRejected("not UTF-8 text") from exc
    yield _ccxt_chunk(cols, rows, problems, size)


def _ccxt_chunk(cols: dict[str, list[str | None]], rows: list[int], problems: list[Problem], done: int) -> Chunk:
    data = pa.table({c: pa.array(v, pa.string()) for c, v in cols.items()})
    return Chunk(data, np.asarray(rows, dtype=np.int64), done, problems)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"  # never a number: coerce rejects it
    return str(value)


def _ccxt_row(line: str, cols: dict[str, list[str | None]]) -> str | None:
    """Append one CCXT trade to ``cols``; return why it cannot be read, or None."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(obj, dict):
        return "not a JSON object (a CCXT trade is an object with id, timestamp, symbol, side, price, amount)"
    trade_id = _text(obj.get("id"))
    ts = obj.get("timestamp")
    # CCXT timestamps are milliseconds since the epoch; coerce reads digit strings as microseconds.
    if isinstance(ts, int) and not isinstance(ts, bool):
        ts_text: str | None = str(ts * 1000)
    else:
        ts_text = _text(obj.get("datetime") if ts is None else ts)
    side = _text(obj.get("side"))
    taker = obj.get("takerOrMaker")
    # ``side`` is the side of the order this record describes; a maker's counterparty was the aggressor.
    aggressor = side
    if taker == "maker" and side in ("buy", "sell"):
        aggressor = "sell" if side == "buy" else "buy"
    order = _text(obj.get("order"))
    anon = f"{ANON_PREFIX}{trade_id}"
    values = {
        "symbol": _text(obj.get("symbol")), "trade_id": trade_id, "ts": ts_text,
        "price": _text(obj.get("price")), "quantity": _text(obj.get("amount")),
        "buyer": f"{anon}:buyer", "seller": f"{anon}:seller", "aggressor": aggressor,
        "buy_order_id": order if side == "buy" else None, "sell_order_id": order if side == "sell" else None,
    }
    for c, v in values.items():
        cols[c].append(v)
    return None


