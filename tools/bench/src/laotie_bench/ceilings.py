"""What this machine's parts can do on their own, measured in the same ``make bench`` run as
the pipeline, so the pipeline's figures are read as ratios of them.

- ``http_rps``: a bare FastAPI route on the services' server stack (uvicorn on uvloop and
  httptools, as :mod:`laotie_common.service` runs them),
  driven by the same load client (:mod:`laotie_bench.loadgen`) as the pipeline;
- ``pg_commit_tps``: one-row transactions (commit and fsync each) from asyncpg, 8 connections;
- ``pg_batch_rows_per_s``: rows written 500 per transaction (``INSERT … SELECT unnest``);
- ``kafka_produce_per_s`` / ``kafka_consume_per_s``: a bare aiokafka producer (idempotent,
  acks=all) and consumer, records of the size of an order event.

Every loop is bounded by a count or a few seconds; only loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI
from laotie_common.service import SERVER_HTTP, SERVER_LOOP
from laotie_stack.procs import free_port, port_open, wait_until

from laotie_bench.loadgen import LoadClient

SECONDS = 3.0


async def timed(
    workers: int, seconds: float, one: Callable[[int], Awaitable[int]]
) -> tuple[int, float]:
    """Run ``one(worker)`` in ``workers`` loops for ``seconds``; (units done, elapsed)."""
    deadline = time.perf_counter() + seconds
    done = [0] * workers

    async def loop(worker: int) -> None:
        while time.perf_counter() < deadline:
            done[worker] += await one(worker)

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    return sum(done), time.perf_counter() - started


async def postgres(database_url: str) -> dict[str, float]:
    schema = f"bench_{uuid.uuid4().hex[:6]}"
    conns = [await asyncpg.connect(database_url) for _ in range(8)]
    try:
        await conns[0].execute(
            f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (id text PRIMARY KEY, v text)"
        )
        one_row = f"INSERT INTO {schema}.t VALUES ($1, 'x')"  # noqa: S608 - our own name
        batch = f"INSERT INTO {schema}.t SELECT unnest($1::text[]), 'x'"

        async def commit(worker: int) -> int:
            await conns[worker].execute(one_row, uuid.uuid4().hex)
            return 1

        async def rows(worker: int) -> int:
            ids = [uuid.uuid4().hex for _ in range(500)]
            async with conns[worker].transaction():
                await conns[worker].execute(batch, ids)
            return len(ids)

        commits, commit_s = await timed(8, SECONDS, commit)
        written, rows_s = await timed(2, SECONDS, rows)
        await conns[0].execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        for conn in conns:
            await conn.close()
    return {
        "pg_commit_tps": round(commits / commit_s),
        "pg_batch_rows_per_s": round(written / rows_s),
    }


def bare_app() -> FastAPI:
    """Two routes shaped like placing and paying an order, doing nothing."""
    app = FastAPI()

    @app.post("/orders", status_code=201)
    async def place(body: dict[str, Any]) -> dict[str, Any]:
        return {"order_id": uuid.uuid4().hex, **body}

    @app.post("/orders/{order_id}/pay")
    async def pay(order_id: str) -> dict[str, Any]:
        return {"order_id": order_id, "status": "paid"}

    return app


def http(root: Path, workers: int, seconds: float = SECONDS) -> dict[str, float]:
    """Requests/s of the bare app: each worker places and pays, like the pipeline's clients."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "laotie_bench.ceilings:bare_app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            SERVER_LOOP,
            "--http",
            SERVER_HTTP,
        ],
        cwd=root,
    )
    try:
        wait_until(lambda: port_open("127.0.0.1", port), timeout=30, what="the bare HTTP app")
        requests, elapsed = asyncio.run(_drive(f"http://127.0.0.1:{port}", workers, seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"http_rps": round(requests / elapsed)}


async def _drive(url: str, workers: int, seconds: float) -> tuple[int, float]:
    async with LoadClient(url, workers * 2) as client:
        headers = {"Authorization": "Bearer " + "x" * 200}

        async def place_and_pay(worker: int) -> int:
            body = {"sku_id": "s", "quantity": 1, "channel": "live_room"}
            _, placed = await client.post("/orders", headers, body)
            await client.post(f"/orders/{placed['order_id']}/pay", headers)
            return 2

        return await timed(workers, seconds, place_and_pay)


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
