"""Real-time scoring: in-process rate against a naive history scan, then HTTP load on loopback.

    .venv/bin/python bench/bench_realtime.py [--accounts 20000] [--history 150000] [--requests 30000]

1. Generates a lake (one venue, accounts, 24 h of transfers) and a SQLite database with a supervisor.
2. In-process: scores a stream of new transfers with the rolling-window state, and the same rules over
   a naive state that rescans the whole history for every transfer (the baseline), and prints the ratio.
3. HTTP: starts the app under uvicorn (httptools, uvloop) in a subprocess, and a load generator in
   another process (raw asyncio HTTP/1.1 keep-alive, ``--connections`` in flight) sends ``--requests``
   unique transfers to ``POST /api/transfers/score``; prints transfers/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

VENUE = "BEN"
END = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)


# --- data ------------------------------------------------------------------------------------------------


def make_transfer(rng: random.Random, i: int, ts: dt.datetime, accounts: int, prefix: str) -> dict:
    acc = f"{VENUE}:acc{rng.randrange(accounts)}"
    other = f"{VENUE}:acc{rng.randrange(accounts)}"
    wallet = "eth:0x" + f"{rng.randrange(16**12):012x}" * 3 + "abcd"
    kind = rng.choice(("deposit", "withdrawal", "internal", "internal"))
    src, dst = {"deposit": (wallet, acc), "withdrawal": (acc, wallet), "internal": (acc, other)}[kind]
    usd = round(min(5e6, rng.lognormvariate(6.5, 1.6)), 2)
    vasp = rng.random() < 0.2
    return {"venue": VENUE, "transfer_id": f"{prefix}{i}", "ts": ts, "asset": "USDT", "amount": usd,
            "usd_value": usd, "kind": kind, "from_party": src, "to_party": dst, "tx_hash": None,
            "originator_name": "A Person" if vasp else None, "originator_account": "x" if vasp else None,
            "beneficiary_name": "B Person" if vasp and rng.random() < 0.7 else None,
            "beneficiary_account": "y" if vasp else None, "counterparty_vasp": "OtherVASP" if vasp else None}


def write_lake(root: Path, accounts: int, history: int, rng: random.Random) -> None:
    from harbour.data.layout import partition_dir
    from harbour.data.schemas import ACCOUNTS, TRANSFERS

    folder = partition_dir(root, "accounts", venue=VENUE)
    folder.mkdir(parents=True)
    rows = [{"venue": VENUE, "account": f"acc{i}", "customer_id": f"c{i}", "name": f"Customer {i}", "country": "HK",
             "account_type": "individual", "opened_at": END - dt.timedelta(days=90)} for i in range(accounts)]
    pq.write_table(pa.Table.from_pylist(rows, schema=ACCOUNTS), folder / "part-0.parquet")
    start = END - dt.timedelta(hours=24)
    step = dt.timedelta(hours=24) / history
    transfers = [make_transfer(rng, i, start + i * step, accounts, "h") for i in range(history)]
    by_day: dict[dt.date, list[dict]] = {}
    for t in transfers:
        by_day.setdefault(t["ts"].date(), []).append(t)
    for day, part in by_day.items():
        folder = partition_dir(root, "transfers", venue=VENUE, date=day)
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(part, schema=TRANSFERS), folder / "part-0.parquet")


def make_database(url: str) -> str:
    from harbour.core.auth import Role, create_user, issue_token
    from harbour.core.db import make_engine, make_session_factory, transaction
    from harbour.core.migrate import upgrade
    from harbour.core.tenancy import Platform

    upgrade(url)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        session.add(Platform(code=VENUE, legal_name="Bench Ltd", brand="Bench"))
        user = create_user(session, username="bench", password="bench-password", role=Role.SUPERVISOR)
        token = issue_token(session, user, "api", 12)
    engine.dispose()
    return token


def stream(n: int, accounts: int, rng: random.Random) -> list[dict]:
    step = dt.timedelta(milliseconds=5)
    return [make_transfer(rng, i, END + i * step, accounts, "n") for i in range(n)]


# --- in-process: rolling windows against a naive scan ----------------------------------------------------------


class NaiveState:
    """The same reading methods as TransferState, answered by scanning the whole history every time."""

    def __init__(self, real: object) -> None:
        from harbour.detect.realtime.state import PartyWindow

        self._window_cls = PartyWindow
        self.real = real
        self.history: list[tuple[float, float, str, str]] = []

    def is_listed(self, party: str) -> bool:
        return self.real.is_listed(party)  # type: ignore[attr-defined]

    def add(self, ts: float, usd: float, src: str, dst: str) -> None:
        self.history.append((ts, usd, src, dst))

    def party(self, key: str):  # type: ignore[no-untyped-def]
        from harbour.detect.realtime.state import Event

        window = self._window_cls()
        newest = self.history[-1][0] if self.history else 0.0
        for ts, usd, src, dst in self.history:  # the naive part: every event, every time
            if ts < newest - 24 * 3600:
                continue
            if src == key:
                window.add(Event(ts, usd, True, dst, self.is_listed(dst)), 24 * 3600, 10**9)
            elif dst == key:
                window.add(Event(ts, usd, False, src, self.is_listed(src)), 24 * 3600, 10**9)
        return window if window.events else None


def in_process(lake_root: Path, transfers: list[dict], naive_sample: int) -> dict[str, float]:
    from harbour.detect.realtime.scoring import RealtimeConfig, Transfer, score
    from harbour.detect.realtime.state import TransferState

    started = time.perf_counter()
    state = TransferState.from_lake(lake_root)
    build = time.perf_counter() - started
    config = RealtimeConfig()
    items = [Transfer(t["venue"], t["transfer_id"], t["ts"].timestamp(), t["usd_value"], t["kind"], t["from_party"],
                      t["to_party"], t["originator_name"], t["originator_account"], t["beneficiary_name"],
                      t["beneficiary_account"], t["counterparty_vasp"]) for t in transfers]
    decisions: dict[str, int] = {}
    started, cpu_started = time.perf_counter(), time.process_time()
    for t in items:
        result = score(state, t, config)
        state.add(t.venue, t.transfer_id, t.ts, t.usd_value, t.from_party, t.to_party)
        decisions[result.decision] = decisions.get(result.decision, 0) + 1
    rate = len(items) / (time.perf_counter() - started)
    cpu_rate = len(items) / (time.process_time() - cpu_started)

    naive = NaiveState(TransferState())
    fresh = TransferState.from_lake(lake_root)  # only to replay the same history into the naive list
    for key, window in fresh.parties.items():
        for e in window.events:
            if e.outgoing:
                naive.add(e.ts, e.usd, key, e.counterparty)
    naive.history.sort()
    agree = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for t in items[:naive_sample]:
        naive_result = score(naive, t, config)
        real_result = score(fresh, t, config)
        agree += naive_result.decision == real_result.decision
        naive.add(t.ts, t.usd_value, t.from_party, t.to_party)
        fresh.add(t.venue, t.transfer_id, t.ts, t.usd_value, t.from_party, t.to_party)
    naive_rate = naive_sample / (time.perf_counter() - started)
    # The naive loop also scores with the real state (to compare decisions): that share is negligible.
    naive_cpu_rate = naive_sample / (time.process_time() - cpu_started)
    return {"build_s": build, "parties": len(state.parties), "rate": rate, "naive_rate": naive_rate,
            "cpu_rate": cpu_rate, "naive_cpu_rate": naive_cpu_rate,
            "agree": agree / naive_sample, "decisions": decisions}  # type: ignore[dict-item]


# --- HTTP ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    code = ("import uvicorn; from harbour.web.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning', access_log=False, "
            "http='httptools', loop='uvloop')")
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), so figures can be read per CPU-second on a busy
    machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start within {timeout:.0f} s")


def request_bytes(body: dict | list[dict], token: str, port: int) -> bytes:
    if isinstance(body, list):
        path = "/api/transfers/score/batch"
        payload = json.dumps({"transfers": [{**b, "ts": b["ts"].isoformat()} for b in body]}).encode()
    else:
        path = "/api/transfers/score"
        payload = json.dumps({**body, "ts": body["ts"].isoformat()}).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def _connection(reader_writer, requests: list[bytes], latencies: list[float], statuses: dict, deadline: float):  # type: ignore[no-untyped-def]
    reader, writer = reader_writer
    for raw in requests:
        if time.monotonic() > deadline:
            break
        sent = time.perf_counter()
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - sent)
        status = int(head[9:12])
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


async def _load(port: int, requests: list[bytes], connections: int, seconds: float) -> dict:
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    shares = [requests[i::connections] for i in range(connections)]
    started = time.perf_counter()
    deadline = time.monotonic() + seconds
    tasks = [_connection(c, s, latencies, statuses, deadline) for c, s in zip(conns, shares, strict=True)]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"count": len(latencies), "seconds": elapsed, "rate": len(latencies) / elapsed, "p50_ms": pct(0.5),
            "p99_ms": pct(0.99), "max_ms": latencies[-1] * 1000, "statuses": statuses}


def load_generator_main(path: str, port: int, connections: int, seconds: float) -> None:
    lines = Path(path).read_text("latin-1").splitlines()
    requests = [line.encode("latin-1").replace(b"\\r\\n", b"\r\n") for line in lines]
    print(json.dumps(asyncio.run(_load(port, requests, connections, seconds))))


def http_load(env: dict[str, str], token: str, transfers: list[dict], connections: int, seconds: float,
              batch: int = 1) -> dict:
    """One server per run (fresh state), ``batch`` transfers per request."""
    port = free_port()
    server = serve(env, port)
    try:
        wait_ready(port)
        warm = request_bytes({**transfers[0], "transfer_id": "warm-up"}, token, port)
        with socket.create_connection(("127.0.0.1", port)) as s:  # first request builds the state
            s.sendall(warm)
            s.settimeout(120)
            s.recv(65536)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="latin-1") as fh:
            units: list = transfers if batch == 1 else [transfers[i:i + batch] for i in range(0, len(transfers), batch)]
            for t in units:
                fh.write(request_bytes(t, token, port).decode("latin-1").replace("\r\n", "\\r\\n") + "\n")
        cpu_before = cpu_seconds(server.pid)
        out = subprocess.run([sys.executable, __file__, "--load-generator", fh.name, "--port", str(port),
                              "--connections", str(connections), "--seconds", str(seconds)],
                             capture_output=True, text=True, timeout=seconds + 120, check=True)
        os.unlink(fh.name)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["server_cpu_s"] = cpu_seconds(server.pid) - cpu_before
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--history", type=int, default=150_000)
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100, help="transfers per request in the batched run")
    parser.add_argument("--load-generator")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.load_generator:
        load_generator_main(args.load_generator, args.port, args.connections, args.seconds)
        return

    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="harbour-bench-rt-") as tmp:
        root = Path(tmp)
        write_lake(root / "lake", args.accounts, args.history, rng)
        url = f"sqlite:///{root / 'harbour.db'}"
        token = make_database(url)
        transfers = stream(args.requests, args.accounts, rng)
        ip = in_process(root / "lake", transfers, args.naive_sample)
        print(f"history: {args.history:,} transfers over 24 h, {args.accounts:,} accounts; state built in "
              f"{ip['build_s']:.1f} s ({ip['parties']:,} parties)")
        print(f"in-process scoring: {ip['rate']:,.0f} transfers/s on one core ({ip['cpu_rate']:,.0f} per "
              f"CPU-second); decisions {ip['decisions']}")
        print(f"baseline (same rules, naive scan of history): {ip['naive_rate']:,.1f} transfers/s "
              f"({ip['naive_cpu_rate']:,.1f} per CPU-second); same decision on {ip['agree']:.0%} "
              f"of {args.naive_sample}")
        print(f"ratio: {ip['rate'] / ip['naive_rate']:,.0f}x "
              f"({ip['cpu_rate'] / ip['naive_cpu_rate']:,.0f}x per CPU-second)")
        env = {**os.environ, "HARBOUR_DATABASE_URL": url, "HARBOUR_LAKE_ROOT": str(root / "lake"),
               "HARBOUR_SECRET_KEY": "bench-secret-key-0123456789"}
        print(f"machine load average before HTTP runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for connections, batch in ((args.connections, 1), (4, args.batch)):
            http = http_load(env, token, transfers, connections, args.seconds, batch)
            print(f"HTTP, {batch} transfer(s) per request, {connections} connections (uvicorn, 1 worker; load "
                  f"generator in another process): {http['rate'] * batch:,.0f} transfers/s "
                  f"({http['rate']:,.0f} requests/s), p50 {http['p50_ms']:.1f} ms, p99 {http['p99_ms']:.1f} ms, "
                  f"max {http['max_ms']:.1f} ms over {http['count']:,} requests; statuses {http['statuses']}")
            per_cpu = http["count"] * batch / max(http["server_cpu_s"], 1e-9)
            print(f"    server CPU {http['server_cpu_s']:.1f} s over {http['seconds']:.1f} s wall: "
                  f"{per_cpu:,.0f} transfers per server CPU-second")


if __name__ == "__main__":
    main()
