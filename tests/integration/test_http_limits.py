"""Load shedding at the HTTP edge of a real orders process (issue 18, rows 8 and 9): a
concurrency limit answering 503 + Retry-After past it with the probes still answered, a
bounded wait for a pooled connection, a per-caller command rate (429), and read deadlines
that close slow-loris connections."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
from laotie_common.metrics_text import total
from laotie_common.settings import ServiceSettings
from laotie_evening.client import OrdersApi

from tests.integration.infra import Infra
from tests.integration.kit import ServiceProcess, eventually, running_service


@contextlib.asynccontextmanager
async def _orders(infra: Infra, **env: str) -> AsyncIterator[tuple[OrdersApi, ServiceProcess]]:
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    async with running_service(
        "laotie_orders", infra.kafka_bootstrap, infra.database_url, **env
    ) as process:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=process.url, timeout=30, limits=limits) as client:
            yield OrdersApi(client, settings), process


@contextlib.asynccontextmanager
async def _locked(infra: Infra, schema: str, skus: list[str]) -> AsyncIterator[None]:
    """The SKUs' rows locked by a transaction of the test's own until the block ends."""
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    try:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM skus WHERE sku_id = ANY($1) FOR UPDATE", skus)
            yield
    finally:
        await conn.close()


async def _in_flight(process: ServiceProcess, n: int) -> None:
    async def reached() -> bool:
        return total(await process.metrics(), "laotie_http_in_flight_requests") >= n

    await eventually(reached, timeout=20, what=f"{n} requests in flight")


async def test_past_the_concurrency_limit_requests_are_shed_at_once_and_probes_answered(
    infra: Infra,
) -> None:
    async with _orders(infra, HTTP_MAX_IN_FLIGHT="4", DB_LOCK_TIMEOUT_MS="60000") as (
        api,
        process,
    ):
        product = await api.new_product(await api.new_shop(), stock=100)
        sku = product["skus"][0]["sku_id"]
        schema = process.env_vars["DB_SCHEMA"]
        async with _locked(infra, schema, [sku]):
            held = [asyncio.create_task(api.order(api.buyer(), sku, expect=None)) for _ in range(4)]
            await _in_flight(process, 4)
            started = time.monotonic()
            shed = await asyncio.gather(
                *(api.order(api.buyer(), sku, expect=None) for _ in range(10))
            )
            health = await api.client.get("/healthz")
            elapsed = time.monotonic() - started
            assert not any(t.done() for t in held), "the four are still waiting on the lock"
        assert [r.status_code for r in shed] == [503] * 10
        assert elapsed < 5, f"shed answers took {elapsed:.1f}s"
        assert {r.headers["retry-after"] for r in shed} == {"1"}
        assert {r.json()["type"].rsplit("/", 1)[1] for r in shed} == {"overloaded"}
        assert health.status_code == 200
        assert [r.status_code for r in await asyncio.gather(*held)] == [201] * 4
        left = await api.get(f"/products/{product['product_id']}")
        assert left["skus"][0]["stock"] == 96, "a shed request changed nothing"
        text = await process.metrics()
        assert total(text, "laotie_http_shed_total", reason="concurrency") == 10


async def test_a_full_pool_answers_503_within_the_acquire_timeout(infra: Infra) -> None:
    async with _orders(
        infra, DB_POOL_MAX="2", DB_ACQUIRE_TIMEOUT_S="0.5", DB_LOCK_TIMEOUT_MS="60000"
    ) as (api, process):
        seller = await api.new_shop()
        skus = [(await api.new_product(seller, stock=10))["skus"][0]["sku_id"] for _ in range(2)]
        buyer = api.buyer()
        async with _locked(infra, process.env_vars["DB_SCHEMA"], skus):
            # One waiting command per SKU: each holds a pooled connection, so both are taken.
            held = [asyncio.create_task(api.order(api.buyer(), s, expect=None)) for s in skus]
            await _in_flight(process, 2)
            started = time.monotonic()
            waited = await api.client.get("/orders", headers=api.headers(buyer))
            elapsed = time.monotonic() - started
        assert (waited.status_code, waited.headers.get("retry-after")) == (503, "1"), waited.text
        assert elapsed < 3, f"the read waited {elapsed:.1f}s for a connection"
        assert [r.status_code for r in await asyncio.gather(*held)] == [201, 201]


async def test_one_caller_past_its_command_rate_gets_429_and_others_go_on(infra: Infra) -> None:
    async with _orders(
        infra, COMMAND_RATE_PER_PRINCIPAL="0.1", COMMAND_BURST_PER_PRINCIPAL="3"
    ) as (api, _):
        product = await api.new_product(await api.new_shop(), stock=100)
        sku = product["skus"][0]["sku_id"]
        eager = api.buyer()
        answers = [await api.order(eager, sku, expect=None) for _ in range(8)]
        assert [r.status_code for r in answers] == [201] * 3 + [429] * 5
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        await api.order(api.buyer(), sku)  # another caller is not held back
        left = await api.get(f"/products/{product['product_id']}")
        assert left["skus"][0]["stock"] == 96, "a refused command changed nothing"


async def test_slow_loris_connections_are_closed_at_the_header_deadline(infra: Infra) -> None:
    async with _orders(infra, HTTP_HEADER_TIMEOUT_S="1.5") as (api, process):
        host, port = process.url.removeprefix("http://").split(":")
        silent = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
        dribbling = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
        started = time.monotonic()

        async def dribble(writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.2)

        dribblers = [asyncio.create_task(dribble(w)) for _, w in dribbling]

        async def closed(reader: asyncio.StreamReader) -> float:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(reader.read(), timeout=10)
            return time.monotonic() - started

        ages = await asyncio.gather(*(closed(r) for r, _ in silent + dribbling))
        for task in dribblers:
            task.cancel()
        assert max(ages) < 4, f"connections lived {max(ages):.1f}s past a 1.5 s deadline"
        assert (await api.client.get("/healthz")).status_code == 200
        text = await process.metrics()
        assert total(text, "laotie_http_shed_total", reason="slow_client") == 40
