"""Faults under load, one at a time, with all five services as real processes; then a
reconciliation: every order fact the orders service committed reached every consumer
exactly once in effect, nothing was dead-lettered, nothing was oversold."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
from laotie_common.settings import ServiceSettings
from laotie_contracts import dead_letter_topic
from laotie_contracts.orders import ORDER_EVENT_TYPES
from laotie_dev.client import OrdersApi

from tests.integration.infra import Infra
from tests.integration.kit import ServiceProcess, eventually, header, read_topic, running_service

SERVICES = ("orders", "live", "moderation", "scoring", "chuanliu")
CONSUMERS_OF_ORDERS = ("live", "moderation", "scoring", "chuanliu")


async def _ids(url: str, schema: str, sql: str) -> set[str]:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        return {r[0] for r in await conn.fetch(sql)}
    finally:
        await conn.close()


async def test_faults_under_load_lose_nothing_and_double_nothing(infra: Infra) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    report: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        procs: dict[str, ServiceProcess] = {
            name: await stack.enter_async_context(
                running_service(
                    f"laotie_{name}",
                    infra.kafka_bootstrap,
                    infra.database_url,
                    CONSUMER_MAX_POLL_INTERVAL_MS="10000",
                )
            )
            for name in SERVICES
        }
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=procs["orders"].url, timeout=10)
        )
        api = OrdersApi(client, settings)
        seller = await api.new_shop("brand")
        sku = (await api.new_product(seller, stock=100_000, price_fen=500))["skus"][0]["sku_id"]
        stop = asyncio.Event()
        done: list[str] = []
        errors: list[str] = []

        async def persist(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
            """Retry through outages with the same Idempotency-Key (bounded)."""
            for _ in range(200):
                try:
                    response = await call()
                    if response.status_code < 500:
                        return response
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                errors.append(last)
                await asyncio.sleep(0.1)
            raise AssertionError(f"the orders service did not come back: {errors[-3:]}")

        async def shopper(n: int) -> None:
            i = 0
            deadline = asyncio.get_running_loop().time() + 300  # bounded in time and count
            while not stop.is_set() and i < 2000 and asyncio.get_running_loop().time() < deadline:
                buyer, key = api.buyer(f"fault-{n}-{i}"), uuid.uuid4().hex
                body = {
                    "sku_id": sku,
                    "quantity": 1,
                    "channel": "distribution",
                    "creator_id": "c-1",
                    "commission_rate_bp": 1000,
                }
                placed = await persist(
                    functools.partial(api.post, "/orders", buyer, body, key=f"place-{key}")
                )
                oid = placed.json()["order_id"]
                await persist(
                    functools.partial(api.post, f"/orders/{oid}/pay", buyer, key=f"pay-{key}")
                )
                done.append(oid)
                i += 1
                await asyncio.sleep(0.2)  # a steady load, not a flood

        load = [asyncio.create_task(shopper(n)) for n in range(4)]

        async def progressed(by: int) -> None:
            target = len(done) + by

            async def enough() -> bool:
                for task in load:
                    if task.done() and task.exception():
                        raise AssertionError("the load failed") from task.exception()
                return len(done) >= target

            await eventually(
                enough,
                timeout=60,
                what=f"{by} more orders (done {len(done)}, errors {len(errors)}: {errors[-2:]})",
            )

        for name in SERVICES:  # kill -9 each service mid-load, then restart it
            await progressed(10)
            procs[name].kill()
            await asyncio.sleep(0.5)
            procs[name].start()
            await procs[name].wait_ready()
            report.append(f"kill -9 {name}: restarted")
        await progressed(10)
        procs["scoring"].pause()  # past max.poll.interval: its group rebalances under load
        await asyncio.sleep(12)
        procs["scoring"].resume()
        report.append("scoring paused 12 s (> max.poll.interval 10 s), resumed")
        if infra.kafka_node is not None:
            await progressed(10)
            infra.kafka_node.stop()
            await asyncio.sleep(1)
            infra.kafka_node.start()
            report.append("Kafka broker stopped and restarted")
        if infra.postgres_node is not None:
            await progressed(10)
            infra.postgres_node.stop(mode="immediate")
            await asyncio.sleep(1)
            infra.postgres_node.start()
            report.append("Postgres stopped (immediate) and restarted")
        await progressed(10)
        stop.set()
        await asyncio.gather(*load)

        schema = {n: p.env_vars["DB_SCHEMA"] for n, p in procs.items()}
        published = {
            t: await _ids(
                infra.database_url,
                schema["orders"],
                f"SELECT event_id FROM outbox WHERE topic = 'orders.order' AND event_type = '{t}'",
            )
            for t in ORDER_EVENT_TYPES
        }

        missing: dict[str, int] = {}
        handled = {name: set(_handlers(name)) for name in CONSUMERS_OF_ORDERS}

        async def reconciled() -> bool:
            for consumer in CONSUMERS_OF_ORDERS:
                applied = await _ids(
                    infra.database_url,
                    schema[consumer],
                    "SELECT event_id FROM processed_events WHERE topic = 'orders.order'",
                )
                wanted = set().union(
                    *(ids for t, ids in published.items() if t in handled[consumer])
                )
                missing[consumer] = len(wanted - applied)
            return not any(missing.values())

        try:
            await eventually(
                reconciled,
                timeout=180,
                interval=1,
                what="every order fact applied by every consumer",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; missing per consumer {missing}; {report}") from None
        for name in CONSUMERS_OF_ORDERS:
            group = procs[name].env_vars["CONSUMER_GROUP"]
            letters = [
                r
                for r in await read_topic(
                    infra.kafka_bootstrap, dead_letter_topic(name).name, expect=0, timeout=3
                )
                if header(r, "dlq_consumer") == group
            ]
            assert letters == [], f"{name} dead-lettered {len(letters)} record(s)"
        orders = await _ids(
            infra.database_url,
            schema["orders"],
            "SELECT order_id FROM orders WHERE status = 'paid'",
        )
        stock = await _ids(
            infra.database_url,
            schema["orders"],
            f"SELECT (100000 - stock)::text FROM skus WHERE sku_id = '{sku}'",
        )
    assert set(done) <= orders, "every order the load finished is paid"
    assert stock == {str(len(orders))}, "stock moved exactly once per order"
    report.append(
        f"reconciled: {sum(len(ids) for ids in published.values())} order facts applied "
        "once by each consumer that uses them: "
        f"{', '.join(CONSUMERS_OF_ORDERS)}; 0 dead letters; {len(orders)} paid "
        f"orders, stock moved {stock}"
    )
    print("\n".join(["", "fault injection:", *report]))


def _handlers(name: str) -> list[str]:
    """The event types a service applies (records it ignores leave no processed row)."""
    import importlib

    bootstrap = importlib.import_module(f"laotie_{name}.bootstrap")
    service = bootstrap.build(
        bootstrap.Settings(database_url="postgresql://unused", kafka_bootstrap_servers="unused")
    )
    return [t for c in service.consumers for t in c.handlers]
