"""Every automatic deadline fires exactly once, with several sweepers running at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from laotie_common.auth import Principal, Role
from laotie_common.uow import Units
from laotie_orders.bootstrap import Settings, build
from laotie_orders.jobs import sweep_once
from laotie_orders.usecases import Tx, after_sales, catalogue, orders

from tests.integration.infra import Infra


async def test_each_deadline_fires_once_with_four_sweepers(infra: Infra) -> None:
    schema = f"orders_dl_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        db_schema=schema,
    )
    await build(settings).migrate()
    windows = settings.windows()
    pool = await asyncpg.create_pool(
        infra.database_url, min_size=1, max_size=12, server_settings={"search_path": schema}
    )

    units = Units(lambda: pool, lambda conn, now: Tx(conn, now, windows))

    async def run(step: Callable[[Tx], Awaitable[Any]]) -> Any:
        async with units() as tx:
            return await step(tx)

    operator = Principal("ops", Role.OPERATOR)
    seller = Principal("s", Role.SELLER, shop_id="dl-shop")
    buyer = Principal("b", Role.BUYER)
    logistics = Principal("l", Role.SERVICE)
    try:
        await run(
            lambda tx: catalogue.create_shop(
                tx, operator, shop_id="dl-shop", name="n", kind="merchant", owner_id="s"
            )
        )
        product = await run(
            lambda tx: catalogue.list_product(
                tx,
                seller,
                shop_id="dl-shop",
                title="t",
                description="",
                ship_within_hours=48,
                skus=[{"name": "n", "price_fen": 500, "stock": 100}],
            )
        )
        sku = product["skus"][0]["sku_id"]

        async def order() -> str:
            placed = await run(
                lambda tx: orders.place_order(
                    tx, buyer, sku_id=sku, quantity=1, attribution={"channel": "shop_page"}
                )
            )
            return str(placed["order_id"])

        async def step(fn: Any, *args: Any) -> Any:
            return await run(lambda tx: fn(tx, *args))

        unpaid = await order()
        paid = await order()
        await step(orders.pay, buyer, paid)
        delivered = await order()
        await step(orders.pay, buyer, delivered)
        await step(orders.ship, seller, delivered, "T1")
        await step(orders.deliver, logistics, delivered)
        unanswered = await order()
        await step(orders.pay, buyer, unanswered)
        await run(
            lambda tx: after_sales.request_refund(
                tx, buyer, unanswered, kind="refund_only", reason="changed_mind", amount_fen=None
            )
        )
        not_returned = await order()
        returned = await order()
        for oid in (not_returned, returned):
            await step(orders.pay, buyer, oid)
            await step(orders.ship, seller, oid, "T")
            refund = await step(
                lambda tx, who, order_id: after_sales.request_refund(
                    tx, who, order_id, kind="return_and_refund", reason="quality", amount_fen=None
                ),
                buyer,
                oid,
            )
            await step(after_sales.approve_refund, seller, refund["refund_id"])
            if oid == returned:
                await step(after_sales.ship_return, buyer, refund["refund_id"], "BACK")

        later = datetime.now(UTC) + timedelta(days=60)
        rounds = await asyncio.gather(*(sweep_once(units, now=later, batch=2) for _ in range(4)))
        again = await sweep_once(units, now=later)
        fired: Counter[str] = Counter()
        for result in rounds:
            fired.update(result)

        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT key, event_type, payload FROM outbox ORDER BY id")
            final = {
                r["order_id"]: r["status"]
                for r in await conn.fetch("SELECT order_id, status FROM orders")
            }
    finally:
        await pool.close()

    assert again == {}, "a second sweep finds nothing left to do"
    assert fired == {
        "payment_timeout": 1,
        "shipment_overdue": 2,
        "auto_complete": 1,
        "refund_auto_approve": 1,
        "return_window_lapsed": 1,
        "return_auto_received": 1,
    }
    events = Counter((r["key"], r["event_type"].removeprefix("orders.order.")) for r in rows)
    assert all(n == 1 for (_, t), n in events.items() if t != "refunded"), events
    automatic = {
        unpaid: "cancelled",
        paid: "shipment_overdue",
        delivered: "completed",
        unanswered: "refund_approved",
        not_returned: "refund_closed",
        returned: "return_received",
    }
    for oid, event_type in automatic.items():
        assert events[(oid, event_type)] == 1, (oid, event_type)
    assert final[unpaid] == "cancelled"
    assert final[delivered] == "completed"
    assert final[unanswered] == "cancelled", "auto-approved full refund before shipment"
