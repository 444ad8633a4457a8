"""The orders service as a real process on real Kafka and Postgres."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from laotie_common.settings import ServiceSettings
from laotie_contracts.moderation import Measure, PenaltyApplied, PenaltyRevoked
from laotie_evening.client import OrdersApi
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    header,
    keyed_records,
    live_session,
    publish,
    read_topic,
    running_service,
    session_ended,
)


@pytest.fixture(scope="module")
async def orders(infra: Infra) -> AsyncIterator[tuple[OrdersApi, ServiceProcess, str]]:
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    async with running_service(
        "laotie_orders", infra.kafka_bootstrap, infra.database_url, DB_POOL_MAX="20"
    ) as process:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=process.url, timeout=60, limits=limits) as client:
            yield OrdersApi(client, settings), process, process.env_vars["DB_SCHEMA"]


async def _events_of(infra: Infra, order_id: str, expect: int) -> list[str]:
    async def read() -> list[str] | None:
        records = await read_topic(infra.kafka_bootstrap, "orders.order", expect=0, timeout=5)
        types = [
            header(r, "ce_type").removeprefix("orders.order.")
            for r in records
            if r.key == order_id.encode()
        ]
        return types if len(types) >= expect else None

    found: list[str] = await eventually(read, timeout=30, what=f"{expect} events of {order_id}")
    return found


async def test_full_lifecycle_emits_its_events_in_order(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    api, _, _ = orders
    seller = await api.new_shop("brand")
    product = await api.new_product(seller)
    sku = product["skus"][0]["sku_id"]
    buyer = api.buyer()
    room = await live_session(infra.kafka_bootstrap, api, "anchor-1")
    placed = (await api.order(buyer, sku, quantity=2, channel="live_room", room_id=room)).json()
    oid = placed["order_id"]
    assert placed["total_fen"] == 2 * 9900
    await api.post(f"/orders/{oid}/pay", buyer, expect=200)
    await api.post(f"/orders/{oid}/ship", seller, {"tracking_number": "SF123"}, expect=200)
    await api.post(f"/orders/{oid}/deliver", api.logistics, expect=200)
    await api.post(f"/orders/{oid}/confirm", buyer, expect=200)
    await api.post(
        f"/orders/{oid}/review",
        buyer,
        {"product_stars": 5, "logistics_stars": 4, "service_stars": 5, "text": "好"},
        expect=201,
    )
    assert await _events_of(infra, oid, 6) == [
        "placed",
        "paid",
        "shipped",
        "delivered",
        "completed",
        "reviewed",
    ]

    records = [
        r
        for r in await read_topic(infra.kafka_bootstrap, "orders.order", expect=0, timeout=5)
        if r.key == oid.encode()
    ]
    paid = json.loads(records[1].value)
    assert paid["attribution"] == {
        "channel": "live_room",
        "room_id": room,
        "anchor_id": "anchor-1",
        "video_id": None,
        "creator_id": None,
        "commission_rate_bp": None,
        "plan_id": None,
        "promotion_id": None,
    }
    assert paid["shop_kind"] == "brand"
    assert header(records[1], "ce_source") == "/laotie/orders"


async def test_refunds_before_and_after_shipment(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    api, _, _ = orders
    seller = await api.new_shop()
    product = await api.new_product(seller, stock=10)
    sku = product["skus"][0]["sku_id"]
    buyer = api.buyer()

    # Before shipment: a full refund cancels the order and puts the stock back.
    first = (await api.order(buyer, sku, quantity=3)).json()["order_id"]
    await api.post(f"/orders/{first}/pay", buyer, expect=200)
    refund = (
        await api.post(
            f"/orders/{first}/refunds",
            buyer,
            {"kind": "refund_only", "reason": "changed_mind"},
            expect=201,
        )
    ).json()
    assert refund["amount_fen"] == 3 * 9900
    await api.post(f"/orders/{first}/ship", seller, {"tracking_number": "X"}, expect=409)
    await api.post(f"/refunds/{refund['refund_id']}/approve", seller, expect=200)
    order = await api.get(f"/orders/{first}", buyer)
    assert (order["status"], order["refunded_fen"]) == ("cancelled", 3 * 9900)
    assert (await api.get(f"/products/{product['product_id']}"))["skus"][0]["stock"] == 10
    assert await _events_of(infra, first, 6) == [
        "placed",
        "paid",
        "refund_requested",
        "refund_approved",
        "refunded",
        "cancelled",
    ]

    # After shipment: return and refund, rejected first, disputed, decided for the buyer.
    second = (await api.order(buyer, sku)).json()["order_id"]
    await api.post(f"/orders/{second}/pay", buyer, expect=200)
    await api.post(f"/orders/{second}/ship", seller, {"tracking_number": "Y"}, expect=200)
    too_much = await api.post(
        f"/orders/{second}/refunds",
        buyer,
        {"kind": "return_and_refund", "reason": "quality", "amount_fen": 9901},
    )
    assert too_much.status_code == 409
    assert too_much.json()["reason"] == "refund_exceeds_paid"
    rid = (
        await api.post(
            f"/orders/{second}/refunds",
            buyer,
            {"kind": "return_and_refund", "reason": "quality"},
            expect=201,
        )
    ).json()["refund_id"]
    await api.post(f"/refunds/{rid}/reject", seller, {"note": "looks fine"}, expect=200)
    await api.post(f"/refunds/{rid}/escalate", buyer, expect=200)
    await api.post(f"/refunds/{rid}/decide", seller, {"in_favour_of": "merchant"}, expect=403)
    await api.post(f"/refunds/{rid}/decide", api.reviewer, {"in_favour_of": "buyer"}, expect=200)
    stranger = await api.post(f"/refunds/{rid}/return", api.buyer(), {"tracking_number": "X"})
    assert (stranger.status_code, stranger.json()["detail"]) == (404, f"no refund {rid}")
    await api.post(f"/refunds/{rid}/return", buyer, {"tracking_number": "BACK1"}, expect=200)
    done = (await api.post(f"/refunds/{rid}/receive", seller, expect=200)).json()
    assert done["status"] == "refunded"
    assert (await api.get(f"/orders/{second}", seller))["refunded_fen"] == 9900
    assert await _events_of(infra, second, 10) == [
        "placed",
        "paid",
        "shipped",
        "refund_requested",
        "refund_rejected",
        "refund_escalated",
        "refund_dispute_decided",
        "return_shipped",
        "return_received",
        "refunded",
    ]


async def test_illegal_transitions_are_409_and_change_nothing(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    api, _, schema = orders
    seller = await api.new_shop()
    sku = (await api.new_product(seller))["skus"][0]["sku_id"]
    buyer = api.buyer()
    oid = (await api.order(buyer, sku)).json()["order_id"]
    unshipped = await api.post(f"/orders/{oid}/ship", seller, {"tracking_number": "Z"})
    assert unshipped.status_code == 409
    assert unshipped.headers["content-type"] == "application/problem+json"
    assert "cannot ship an order that is placed" in unshipped.json()["detail"]
    await api.post(f"/orders/{oid}/pay", buyer, expect=200)
    await api.post(f"/orders/{oid}/pay", buyer, expect=409)
    other_seller = await api.new_shop()
    stranger = api.buyer()
    # A command on another's order answers as a read of it does: 404, the same problem.
    shipped = await api.post(f"/orders/{oid}/ship", other_seller, {"tracking_number": "Z"})
    paid = await api.post(f"/orders/{oid}/pay", stranger)
    read = await api.client.get(f"/orders/{oid}", headers=api.headers(stranger))
    assert (shipped.status_code, paid.status_code, read.status_code) == (404, 404, 404)
    assert shipped.json()["detail"] == paid.json()["detail"] == read.json()["detail"]
    await api.post(f"/orders/{oid}/ship", buyer, {"tracking_number": "Z"}, expect=403)
    order = await api.get(f"/orders/{oid}", buyer)
    assert order["status"] == "paid"
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    try:
        types = [
            r["event_type"]
            for r in await conn.fetch(
                "SELECT event_type FROM outbox WHERE key = $1 ORDER BY id", oid
            )
        ]
    finally:
        await conn.close()
    assert types == ["orders.order.placed", "orders.order.paid"], "refused moves wrote nothing"


async def test_concurrent_buyers_never_oversell(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    api, _, _ = orders
    seller = await api.new_shop()
    product = await api.new_product(seller, stock=50)
    sku = product["skus"][0]["sku_id"]
    buyers = [api.buyer() for _ in range(200)]
    responses = await asyncio.gather(*(api.order(b, sku, expect=None) for b in buyers))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 50, 409: 150}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"out_of_stock"}
    winners = [
        (b, r.json()["order_id"])
        for b, r in zip(buyers, responses, strict=True)
        if r.status_code == 201
    ]
    await asyncio.gather(
        *(api.post(f"/orders/{oid}/pay", b, expect=200) for b, oid in winners[:25])
    )
    after = await api.get(f"/products/{product['product_id']}")
    assert after["skus"][0]["stock"] == 0
    expected = {oid: "paid" for _, oid in winners[:25]} | {oid: "placed" for _, oid in winners[25:]}
    listed = await api.get("/orders", seller)
    assert {o["order_id"]: o["status"] for o in listed} == expected, "the acknowledged orders"

    async def published() -> dict[str, list[str]] | None:
        records = await read_topic(infra.kafka_bootstrap, "orders.order", expect=0, timeout=5)
        facts: dict[str, list[str]] = {}
        for r in records:  # the orders service's own records (other tests plant garbage)
            if ("ce_source", b"/laotie/orders") in r.headers:
                body = json.loads(r.value)
                if body.get("sku_id") == sku:
                    facts.setdefault(body["order_id"], []).append(body["status"])
        return facts if sum(map(len, facts.values())) >= 75 else None

    facts = await eventually(published, what="the 50 orders' events")
    assert facts == {
        oid: ["placed", "paid"] if status == "paid" else ["placed"]
        for oid, status in expected.items()
    }, "exactly the acknowledged orders were published, none for a refused buyer"


async def test_per_buyer_limit_holds_under_concurrency(
    orders: tuple[OrdersApi, ServiceProcess, str],
) -> None:
    api, _, _ = orders
    seller = await api.new_shop()
    now = datetime.now(UTC)
    product = await api.new_product(
        seller, stock=1000, per_buyer_limit=2, sale_starts_at=now.isoformat()
    )
    sku = product["skus"][0]["sku_id"]
    greedy = api.buyer()
    responses = await asyncio.gather(*(api.order(greedy, sku, expect=None) for _ in range(20)))
    assert Counter(r.status_code for r in responses) == {201: 2, 409: 18}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"limit_exceeded"}
    # Cancelling gives the allowance back.
    oid = next(r.json()["order_id"] for r in responses if r.status_code == 201)
    await api.post(f"/orders/{oid}/cancel", greedy, expect=200)
    await api.order(greedy, sku)
    await api.order(greedy, sku, expect=409)


async def test_a_buyer_holds_at_most_five_unpaid_orders_of_a_sku_under_concurrency(
    orders: tuple[OrdersApi, ServiceProcess, str],
) -> None:
    api, _, _ = orders
    seller = await api.new_shop()
    product = await api.new_product(seller, stock=1000)  # no per-buyer limit
    sku = product["skus"][0]["sku_id"]
    hoarder = api.buyer()
    responses = await asyncio.gather(*(api.order(hoarder, sku, expect=None) for _ in range(30)))
    assert Counter(r.status_code for r in responses) == {201: 5, 409: 25}
    assert {r.json()["reason"] for r in responses if r.status_code == 409} == {"unpaid_orders_open"}
    left = (await api.get(f"/products/{product['product_id']}"))["skus"][0]["stock"]
    assert left == 1000 - 5, "a refused order holds no stock"
    await api.order(api.buyer(), sku)  # another buyer is not held back
    oid = next(r.json()["order_id"] for r in responses if r.status_code == 201)
    await api.post(f"/orders/{oid}/pay", hoarder, expect=200)
    await api.order(hoarder, sku)  # paying one frees its place
    await api.order(hoarder, sku, expect=409)


async def test_a_repeated_command_returns_the_first_answer(
    orders: tuple[OrdersApi, ServiceProcess, str],
) -> None:
    api, _, _ = orders
    seller = await api.new_shop()
    sku = (await api.new_product(seller, stock=5))["skus"][0]["sku_id"]
    buyer = api.buyer()
    body = {"sku_id": sku, "quantity": 1, "channel": "shop_page"}
    first, again = await asyncio.gather(
        api.post("/orders", buyer, body, key="checkout-1"),
        api.post("/orders", buyer, body, key="checkout-1"),
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["order_id"] == again.json()["order_id"]
    assert len(await api.get("/orders", buyer)) == 1
    assert (await api.get(f"/products/{first.json()['product_id']}"))["skus"][0]["stock"] == 4


async def test_moderation_delisting_stops_new_orders_until_revoked(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    api, _, _ = orders
    seller = await api.new_shop()
    product = await api.new_product(seller)
    pid, sku = product["product_id"], product["skus"][0]["sku_id"]
    await api.order(api.buyer(), sku)
    penalty = dict(
        penalty_id=f"pen-{uuid.uuid4().hex[:8]}",
        subject_type="shop",
        subject_id=seller.shop_id,
        shop_id=seller.shop_id,
        violation_code="false_advertising",
        occurred_at=datetime.now(UTC),
        measures=[Measure(kind="delist_products", product_ids=[pid]), Measure(kind="warning")],
    )
    await publish(infra.kafka_bootstrap, PenaltyApplied(**penalty))

    async def banned() -> bool:
        return bool((await api.get(f"/products/{pid}"))["status"] == "banned")

    await eventually(banned, timeout=30, what="the product to be banned")
    refused = await api.order(api.buyer(), sku, expect=409)
    assert refused.json()["reason"] == "product_unavailable"
    await api.post(f"/products/{pid}/relist", seller, expect=409)
    records = await keyed_records(
        infra.kafka_bootstrap, "orders.product", pid, until=lambda types: len(types) >= 2
    )
    mine = [json.loads(r.value) for r in records]
    assert [m["status"] for m in mine] == ["active", "banned"]
    assert mine[-1]["reason"] == "moderation"

    await publish(infra.kafka_bootstrap, PenaltyRevoked(**penalty, reason="appeal upheld"))

    async def active() -> bool:
        return bool((await api.get(f"/products/{pid}"))["status"] == "active")

    await eventually(active, timeout=30, what="the product to be active again")
    await api.order(api.buyer(), sku)


async def test_closing_a_shop_takes_all_its_goods_off_sale(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    """Regression (issue 19, item 9): a closed shop's products stayed active, so rooms could
    still pin them. Now the closure delists them all (``orders.product`` says so, which is
    what live unpins on)."""
    api, _, _ = orders
    seller = await api.new_shop()
    ids = [(await api.new_product(seller))["product_id"] for _ in range(2)]
    closure = PenaltyApplied(
        penalty_id=f"pen-{uuid.uuid4().hex[:8]}",
        subject_type="shop",
        subject_id=seller.shop_id,
        violation_code="points_closure",
        occurred_at=datetime.now(UTC),
        measures=[Measure(kind="close")],
    )
    await publish(infra.kafka_bootstrap, closure)

    async def off_sale() -> bool:
        return all([(await api.get(f"/products/{p}"))["status"] == "banned" for p in ids])

    await eventually(off_sale, timeout=30, what="the closed shop's products to be banned")
    shop = await api.get(f"/shops/{seller.shop_id}")
    assert "close" in shop["restrictions"], "and the shop stays closed for new listings"
    body = {
        "shop_id": seller.shop_id,
        "title": "t",
        "skus": [{"name": "n", "price_fen": 1, "stock": 1}],
    }
    assert (await api.post("/products", seller, body, expect=409)).status_code == 409
    for pid in ids:
        records = await keyed_records(
            infra.kafka_bootstrap, "orders.product", pid, until=lambda types: len(types) >= 2
        )
        delisted = json.loads(records[-1].value)
        assert (delisted["status"], delisted["penalty_id"]) == ("banned", closure.penalty_id)


async def test_a_listing_ban_stops_new_listings(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    api, _, _ = orders
    seller = await api.new_shop()
    until = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
    await publish(
        infra.kafka_bootstrap,
        PenaltyApplied(
            penalty_id=f"pen-{uuid.uuid4().hex[:8]}",
            subject_type="shop",
            subject_id=seller.shop_id,
            violation_code="diversion",
            occurred_at=datetime.now(UTC),
            measures=[Measure(kind="listing_ban", until=until)],
        ),
    )

    async def restricted() -> bool:
        shop = await api.get(f"/shops/{seller.shop_id}")
        return "listing_ban" in shop["restrictions"]

    await eventually(restricted, timeout=30, what="the listing ban to apply")
    body = {
        "shop_id": seller.shop_id,
        "title": "t",
        "skus": [{"name": "n", "price_fen": 1, "stock": 1}],
    }
    refused = await api.post("/products", seller, body, expect=409)
    assert refused.json()["reason"] == "listing_banned"


def _group_commits(text: str) -> tuple[float, float]:
    """(transactions, commands) of the orders process's place_order group commits."""
    found = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name == "laotie_command_group_size":
            for sample in family.samples:
                suffix = sample.name.rsplit("_", 1)[-1]
                if sample.labels.get("kind") == "place_order" and suffix in found:
                    found[suffix] += sample.value
    return found["count"], found["sum"]


async def test_a_flash_sale_on_two_replicas_sells_exactly_the_stock_in_group_commits(
    infra: Infra,
) -> None:
    """600 buyers rush one SKU (stock 150, one per buyer) through two orders processes on one
    schema; some buyers try twice, some resend their request with the same Idempotency-Key.
    Each request gets its own answer, the stock and the limit hold exactly, every order has one
    event, and reservations were committed in groups on both replicas."""
    schema = f"orders_{uuid.uuid4().hex[:8]}"
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    bootstrap, url = infra.kafka_bootstrap, infra.database_url
    async with (
        running_service("laotie_orders", bootstrap, url, DB_SCHEMA=schema) as first,
        running_service("laotie_orders", bootstrap, url, DB_SCHEMA=schema) as second,
        httpx.AsyncClient(base_url=first.url, timeout=60) as one,
        httpx.AsyncClient(base_url=second.url, timeout=60) as two,
    ):
        apis = (OrdersApi(one, settings), OrdersApi(two, settings))
        seller = await apis[0].new_shop()
        product = await apis[0].new_product(seller, stock=150, per_buyer_limit=1)
        sku = product["skus"][0]["sku_id"]
        buyers = [apis[0].buyer() for _ in range(600)]
        requests = []  # (buyer, replica, Idempotency-Key)
        for i, buyer in enumerate(buyers):
            key = f"rush-{i}"
            requests.append((buyer, i % 2, key))
            if i % 10 == 0:
                requests.append((buyer, (i + 1) % 2, f"again-{i}"))  # a second order: refused
            if i % 7 == 0:
                requests.append((buyer, (i + 1) % 2, key))  # the same request resent
        responses = await asyncio.gather(
            *(apis[r].order(b, sku, key=k, expect=None) for b, r, k in requests)
        )
        left = (await apis[1].get(f"/products/{product['product_id']}"))["skus"][0]["stock"]
        groups = [_group_commits(await p.metrics()) for p in (first, second)]

    answers: dict[tuple[str, str], set[tuple[int, str | None]]] = {}
    for (buyer, _, key), response in zip(requests, responses, strict=True):
        body = response.json()
        assert response.status_code in (201, 409), body
        assert response.status_code == 201 or body["reason"] in ("out_of_stock", "limit_exceeded")
        answers.setdefault((buyer.subject, key), set()).add(
            (response.status_code, body.get("order_id"))
        )
    assert all(len(a) == 1 for a in answers.values()), "a resent request got another answer"
    won = {order_id: buyer for (buyer, _), a in answers.items() for s, order_id in a if s == 201}
    assert len(won) == 150, "exactly the stock was sold"
    assert left == 0
    assert len(set(won.values())) == 150, "no buyer got two orders"

    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch("SELECT order_id, buyer_id FROM orders WHERE sku_id = $1", sku)
        held = await conn.fetchval(
            "SELECT coalesce(sum(quantity), 0) FROM buyer_purchases WHERE sku_id = $1", sku
        )
        events = await conn.fetch("SELECT key FROM outbox WHERE event_type = 'orders.order.placed'")
    finally:
        await conn.close()
    assert {r["order_id"]: r["buyer_id"] for r in rows} == won, "the acknowledged orders"
    assert held == 150
    assert Counter(r["key"] for r in events) == Counter(list(won)), "one placed event per order"
    assert all(transactions > 0 for transactions, _ in groups), "both replicas sold"
    assert sum(c for _, c in groups) > sum(t for t, _ in groups), (
        f"reservations were committed one per transaction: {groups}"
    )


async def test_a_shops_product_list_takes_two_queries_however_many_products(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    from laotie_orders.queries import shop_products

    api, _, schema = orders
    seller = await api.new_shop()
    created = [await api.new_product(seller, stock=i + 1) for i in range(12)]
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    queries: list[str] = []
    conn.add_query_logger(lambda record: queries.append(record.query))
    try:
        listed = await shop_products(conn, str(seller.shop_id), 500)
    finally:
        await conn.close()
    assert len(queries) == 2, queries
    assert sorted(p["product_id"] for p in listed) == sorted(p["product_id"] for p in created)
    assert {p["product_id"]: p["skus"][0]["stock"] for p in listed} == {
        p["product_id"]: p["skus"][0]["stock"] for p in created
    }


async def test_distribution_credits_a_creator_only_through_a_promotion_at_the_plans_rate(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    """A buyer once named any creator at any commission; now the shop's plan sets the rate, a
    creator's promotion names the creator, and anything else is refused with nothing
    written (issue 20, item 1)."""
    from laotie_common.auth import Role
    from laotie_evening.client import Actor

    api, _, _ = orders
    seller = await api.new_shop("brand")
    product = await api.new_product(seller, stock=10)
    other = await api.new_product(seller, stock=10)
    sku = product["skus"][0]["sku_id"]
    creator = f"creator-{uuid.uuid4().hex[:6]}"
    reference = await api.promotion(seller, product, creator, commission_rate_bp=1500)
    room = await live_session(infra.kafka_bootstrap, api, creator)
    elsewhere = await live_session(infra.kafka_bootstrap, api, creator)
    in_room = await api.promotion(
        seller, product, creator, placement="live_room", placement_id=room
    )
    buyer = api.buyer()

    # the buyer's own creator and commission are not accepted any more
    declared = await api.order(
        buyer,
        sku,
        channel="distribution",
        creator_id="any-creator-i-like",
        commission_rate_bp=10_000,
        expect=422,
    )
    assert "commission_rate_bp" in declared.text
    refusals = {
        "forged": {"channel": "distribution", "promotion_ref": "prm_made-up"},
        "named creator": {
            "channel": "distribution",
            "promotion_ref": reference,
            "creator_id": "any-creator-i-like",
        },
        "other product": {"channel": "distribution", "promotion_ref": reference},
        "other room": {"channel": "live_room", "room_id": elsewhere, "promotion_ref": in_room},
        "named anchor": {
            "channel": "live_room",
            "room_id": room,
            "anchor_id": "any-anchor-i-like",
            "promotion_ref": in_room,
        },
        "room not live": {"channel": "live_room", "room_id": f"room-{creator}-never-opened"},
        "video creator named": {
            "channel": "short_video",
            "video_id": "video-1",
            "creator_id": "any-creator-i-like",
        },
    }
    reasons = {
        "named anchor": "attribution_inconsistent",
        "room not live": "room_not_live",
        "video creator named": "attribution_inconsistent",
    }
    for what, attribution in refusals.items():
        target = other["skus"][0]["sku_id"] if what == "other product" else sku
        response = await api.post("/orders", buyer, {"sku_id": target, **attribution})
        assert response.status_code == 409, (what, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["reason"] == reasons.get(what, response.json()["reason"])
    assert (await api.get(f"/products/{product['product_id']}"))["skus"][0]["stock"] == 10

    placed = (
        await api.order(buyer, sku, quantity=2, channel="distribution", promotion_ref=reference)
    ).json()
    assert (placed["creator_id"], placed["commission_rate_bp"]) == (creator, 1500)
    [plan] = await api.get(f"/products/{product['product_id']}/distribution-plans", seller)
    assert placed["plan_id"] == plan["plan_id"]
    room_order = (
        await api.order(
            buyer,
            sku,
            channel="live_room",
            room_id=room,
            promotion_ref=in_room,
        )
    ).json()
    assert room_order["creator_id"] == creator
    assert room_order["promotion_id"] not in (None, placed["promotion_id"])

    async def placed_event() -> dict[str, object] | None:
        records = await read_topic(infra.kafka_bootstrap, "orders.order", expect=0, timeout=5)
        for r in records:
            if r.key == placed["order_id"].encode():
                return dict(json.loads(r.value)["attribution"])
        return None

    attribution = await eventually(placed_event, timeout=30, what="the placed event")
    assert attribution["plan_id"] == plan["plan_id"]
    assert attribution["promotion_id"] == placed["promotion_id"]

    # a new plan ends the old one: its references stop crediting at the old rate
    await api.post(
        f"/products/{product['product_id']}/distribution-plans",
        seller,
        {"commission_rate_bp": 800},
        expect=201,
    )
    ended = await api.post(
        "/orders", buyer, {"sku_id": sku, "channel": "distribution", "promotion_ref": reference}
    )
    assert ended.status_code == 409
    assert ended.json()["reason"] == "promotion_ended"
    # only a creator takes up a plan, only the shop's seller offers one
    await api.post(
        f"/distribution-plans/{plan['plan_id']}/promotions",
        buyer,
        {"placement": "shop_window"},
        expect=403,
    )
    await api.post(
        f"/products/{product['product_id']}/distribution-plans",
        Actor(Role.SELLER, "seller-x", "shop-someone-else"),
        {"commission_rate_bp": 9000},
        expect=403,
    )


async def test_a_shop_is_a_brand_only_once_an_operator_verifies_it(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    """A seller once made their shop a brand by saying so, and so eligible for Chuanliu; now
    it stays a merchant until an operator verifies it, in the audit trail (issue 20)."""
    from laotie_common.auth import Role
    from laotie_evening.client import Actor

    api, process, _ = orders
    shop_id = f"shop-{uuid.uuid4().hex[:8]}"
    seller = Actor(Role.SELLER, f"seller-{shop_id}", shop_id)
    created = await api.post(
        "/shops", seller, {"shop_id": shop_id, "name": "自称品牌", "kind": "brand"}, expect=201
    )
    assert (created.json()["kind"], created.json()["brand_requested"]) == ("merchant", True)
    product = await api.new_product(seller)
    order = (await api.order(api.buyer(), product["skus"][0]["sku_id"])).json()
    assert order["shop_kind"] == "merchant"

    decision = {"verified": True, "note": "trademark certificate checked"}
    path = f"/shops/{shop_id}/brand-verification"
    await api.post(path, seller, decision, expect=403)
    await api.post(path, api.operator, {"verified": True}, expect=422)  # the note is required
    verified = (await api.post(path, api.operator, decision, expect=200)).json()
    assert (verified["kind"], verified["brand_requested"]) == ("brand", False)
    await api.post(path, api.operator, decision, expect=409)  # decided already
    later = (await api.order(api.buyer(), product["skus"][0]["sku_id"])).json()
    assert later["shop_kind"] == "brand"

    trail = await process.audit_trail(api.operator.subject)
    assert [reason for _, _, reason, target in trail if shop_id in str(target)] == [
        "trademark certificate checked"
    ], trail
    records = await keyed_records(
        infra.kafka_bootstrap,
        "orders.shop",
        shop_id,
        until=lambda types: "orders.shop.brand_verified" in types,
    )
    [event] = [r for r in records if header(r, "ce_type") == "orders.shop.brand_verified"]
    assert json.loads(event.value)["verified_by"] == api.operator.subject


async def test_a_live_room_order_is_the_rooms_while_it_is_live(
    orders: tuple[OrdersApi, ServiceProcess, str], infra: Infra
) -> None:
    """A buyer once named any room and any anchor; now the room must be live (as live.room
    says) and the order is credited to its owner (issue 20)."""

    api, _, _ = orders
    seller = await api.new_shop("merchant")
    sku = (await api.new_product(seller, stock=10))["skus"][0]["sku_id"]
    anchor = f"anchor-{uuid.uuid4().hex[:6]}"
    room = await live_session(infra.kafka_bootstrap, api, anchor)
    placed = (await api.order(api.buyer(), sku, channel="live_room", room_id=room)).json()
    assert placed["anchor_id"] == anchor

    view = await api.get(f"/live-rooms/{room}", api.buyer())
    ended = session_ended(room, view["session_id"], anchor)
    await publish(infra.kafka_bootstrap, ended)

    async def refused() -> dict[str, object] | None:
        response = await api.post(
            "/orders", api.buyer(), {"sku_id": sku, "channel": "live_room", "room_id": room}
        )
        return response.json() if response.status_code == 409 else None

    problem = await eventually(refused, timeout=30, what="orders to hear the session ended")
    assert problem["reason"] == "room_not_live"
    assert (await api.get(f"/live-rooms/{room}", api.buyer()))["live"] is False
