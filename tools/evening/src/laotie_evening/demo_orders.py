"""The orders part of ``make run``: shops, products, a flash sale and orders through their whole
lifecycle and after-sales, driven through the real HTTP API of the running orders service."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from laotie_common.settings import ServiceSettings

from laotie_evening.client import Actor, OrdersApi

CHANNELS = ("live_room", "short_video", "shop_page", "distribution")


def _attribution(
    channel: str, rng: random.Random, rooms: list[tuple[str, str]], references: list[str]
) -> dict[str, Any]:
    if channel == "live_room":
        room_id, anchor_id = rng.choice(rooms)
        return {"room_id": room_id, "anchor_id": anchor_id}
    if channel == "short_video":  # a shop's own video: no creator is credited
        return {"video_id": f"video-{rng.randint(1, 9)}"}
    if channel == "distribution":
        return {"promotion_ref": rng.choice(references)}
    return {}


Rooms = list[tuple[str, str]]  # (room id, anchor or owner id)
Prepare = Callable[[str, list[dict[str, Any]]], Awaitable[Rooms]]
BrandLive = Callable[[], Awaitable[tuple[str, str]]]


async def refund_in_full(
    api: OrdersApi, buyer: Actor, order: dict[str, Any], seller: Actor
) -> None:
    """The buyer asks for a refund before shipment; the seller approves it."""
    refund = (
        await api.post(
            f"/orders/{order['order_id']}/refunds",
            buyer,
            {"kind": "refund_only", "reason": "changed_mind"},
            expect=201,
        )
    ).json()
    await api.post(f"/refunds/{refund['refund_id']}/approve", seller, expect=200)


async def orders_walkthrough(
    url: str, settings: ServiceSettings, seed: int, prepare: Prepare, brand_live: BrandLive
) -> dict[str, Any]:
    """``prepare(brand_shop_id, products)`` runs once shops and products exist and returns
    the creators' and anchors' live rooms to credit live-room sales to; ``brand_live()``
    runs once the regular sales are paid (so creators' distribution sales have made buyers
    fond of the brand) and returns the brand's self-broadcast room for the flash sale."""
    rng = random.Random(seed)
    tag = f"{seed}-{rng.randint(0, 10**6)}"
    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=httpx.Limits(max_connections=50)
    ) as http:
        api = OrdersApi(http, settings)
        merchant = await api.new_shop("merchant")
        brand = await api.new_shop("brand")
        # The merchant promises shipment within 2 "hours" and will not keep it.
        scarf = await api.new_product(
            merchant,
            stock=500,
            price_fen=8900,
            title="羊毛围巾",
            description="手工编织 冬季保暖",
            ship_within_hours=2,
        )
        tea = await api.new_product(
            brand,
            stock=500,
            price_fen=15800,
            title="云南普洱 礼盒",
            description="品牌直营 正品保障",
        )
        flash = await api.new_product(
            brand,
            stock=20,
            price_fen=990,
            per_buyer_limit=2,
            title="秒杀 试饮装",
            description="每人限购两件",
        )
        rooms = await prepare(str(brand.shop_id), [scarf, tea, flash])
        for room_id, _ in rooms:
            await api.until_live(room_id)
        # Distribution (达人分销): both shops offer their goods to creators at a commission;
        # each creator takes them into their shop window and gets a reference per product.
        regular_skus = [scarf["skus"][0]["sku_id"], tea["skus"][0]["sku_id"]]
        references = {
            sku["sku_id"]: [
                await api.promotion(seller, product, f"creator-{n}") for n in range(1, 5)
            ]
            for seller, product in ((merchant, scarf), (brand, tea))
            for sku in product["skus"]
        }
        forged = await api.order(
            api.buyer(f"forger-{tag}"),
            regular_skus[1],
            channel="distribution",
            promotion_ref="prm_forged-by-a-buyer",
            expect=409,
        )
        distribution = {
            "plans": len(references),
            "promotions": sum(len(r) for r in references.values()),
            "forged_reference_refused": forged.json().get("reason"),
        }
        seller_of = {
            scarf["skus"][0]["sku_id"]: merchant,
            tea["skus"][0]["sku_id"]: brand,
            flash["skus"][0]["sku_id"]: brand,
        }

        async def settle(orders: list[tuple[Actor, dict[str, Any]]]) -> None:
            """Most pay; a few cancel; the rest are left to the payment timeout."""
            for buyer, order in orders:
                roll = rng.random()
                if roll < 0.85:
                    await api.post(f"/orders/{order['order_id']}/pay", buyer, expect=200)
                    paid.append((buyer, order))
                elif roll < 0.93:
                    await api.post(f"/orders/{order['order_id']}/cancel", buyer, expect=200)

        # Regular sales across the four channels, creators' distribution (达人分销) among them.
        paid: list[tuple[Actor, dict[str, Any]]] = []
        buyers = [api.buyer(f"laotie-{tag}-{i}") for i in range(90)]
        regular: list[tuple[Actor, dict[str, Any]]] = []
        for buyer in buyers:
            channel = rng.choice(CHANNELS)
            sku = rng.choice(regular_skus)
            response = await api.order(
                buyer,
                sku,
                quantity=rng.randint(1, 3),
                channel=channel,
                **_attribution(channel, rng, rooms, references[sku]),
            )
            regular.append((buyer, response.json()))
        await settle(regular)
        fond_of_brand = [
            b for b, o in paid if o["shop_id"] == brand.shop_id and o["channel"] == "distribution"
        ]

        # The brand goes live (品牌自播): Chuanliu sends it the buyers the creators won over.
        # A flash sale (秒杀) with a per-buyer limit (限购): more buyers than stock, at once.
        flash_room = await brand_live()
        await api.until_live(flash_room[0])
        flash_sku = flash["skus"][0]["sku_id"]
        # The buyers Chuanliu sent arrive from the feed first (one unit each), then the crowd.
        early = [
            await api.order(b, flash_sku, channel="live_room", room_id=flash_room[0], expect=None)
            for b in fond_of_brand
        ]
        crowd = [api.buyer(f"fan-{tag}-{i}") for i in range(40)]
        rng.shuffle(crowd)
        rush = await asyncio.gather(
            *(
                api.order(
                    b,
                    flash_sku,
                    quantity=rng.randint(1, 3),
                    channel="live_room",
                    room_id=flash_room[0],
                    anchor_id=flash_room[1],
                    expect=None,
                )
                for b in crowd
            )
        )
        crowd, rush = fond_of_brand + crowd, early + list(rush)
        rejected = Counter(r.json().get("reason") for r in rush if r.status_code == 409)
        await settle(
            [(b, r.json()) for b, r in zip(crowd, rush, strict=True) if r.status_code == 201]
        )
        # While the brand is live, creators win over more buyers: Chuanliu's next round
        # (a top-up) reaches them during the session.
        tea_sku = tea["skus"][0]["sku_id"]
        late_wave = [
            (
                b,
                (
                    await api.order(
                        b,
                        tea_sku,
                        channel="distribution",
                        promotion_ref=rng.choice(references[tea_sku]),
                    )
                ).json(),
            )
            for b in (api.buyer(f"late-{tag}-{i}") for i in range(12))
        ]
        for buyer, order in late_wave:
            await api.post(f"/orders/{order['order_id']}/pay", buyer, expect=200)
            paid.append((buyer, order))

        # After-sales before shipment: the first paid order is refunded in full.
        refunds: Counter[str] = Counter()
        buyer0, order0 = paid[0]
        await refund_in_full(api, buyer0, order0, seller_of[order0["sku_id"]])
        refunds["refunded before shipment"] += 1
        # A buyer Chuanliu sent to the brand's room asks for a refund of a flash-sale order:
        # the creator's reward for that sale is clawed back.
        sent = next(
            ((b, o) for b, o in paid if b in fond_of_brand and o["sku_id"] == flash_sku), None
        )
        if sent is not None:
            paid.remove(sent)
            await refund_in_full(api, *sent, seller_of[flash_sku])
            refunds["refunded after Chuanliu sent the buyer (reward clawed back)"] += 1

        # Ship, deliver, and let most buyers confirm and review.
        for _buyer, order in paid[1:]:
            oid = order["order_id"]
            seller = seller_of[order["sku_id"]]
            await api.post(
                f"/orders/{oid}/ship", seller, {"tracking_number": f"SF{oid[-8:]}"}, expect=200
            )
            await api.post(f"/orders/{oid}/deliver", api.logistics, expect=200)
        # The merchant ignores a refund request: the platform approves it when the answer
        # window lapses (an automatic step moderation judges the merchant by).
        ignored = next(((b, o) for b, o in paid[3:] if o["shop_id"] == merchant.shop_id), None)
        if ignored is not None:
            buyer, order = ignored
            rid = (
                await api.post(
                    f"/orders/{order['order_id']}/refunds",
                    buyer,
                    {
                        "kind": "refund_only",
                        "reason": "not_received",
                        "amount_fen": order["total_fen"] // 3,
                    },
                    expect=201,
                )
            ).json()["refund_id"]
            for _ in range(60):
                if (await api.get(f"/refunds/{rid}", buyer))["status"] == "refunded":
                    refunds["left unanswered, approved by the platform"] += 1
                    break
                await asyncio.sleep(0.25)
        returned, disputed = paid[1], paid[2]
        for buyer, order in paid[3:]:
            oid = order["order_id"]
            if rng.random() < 0.8:
                await api.post(f"/orders/{oid}/confirm", buyer, expect=200)
                # The brand's goods please; the merchant's disappoint (it shows in the scores).
                brand_goods = order["shop_id"] == brand.shop_id
                stars = rng.choice([5, 5, 5, 5, 4] if brand_goods else [5, 4, 3, 2, 1])
                await api.post(
                    f"/orders/{oid}/review",
                    buyer,
                    {
                        "product_stars": stars,
                        "logistics_stars": rng.randint(3, 5),
                        "service_stars": rng.randint(3, 5),
                        "text": "好评" if stars > 3 else "一般",
                    },
                    expect=201,
                )

        # A return after shipment, accepted; and a refund rejected, disputed, lost by the buyer.
        buyer, order = returned
        rid = (
            await api.post(
                f"/orders/{order['order_id']}/refunds",
                buyer,
                {"kind": "return_and_refund", "reason": "quality"},
                expect=201,
            )
        ).json()["refund_id"]
        await api.post(f"/refunds/{rid}/approve", seller_of[order["sku_id"]], expect=200)
        await api.post(f"/refunds/{rid}/return", buyer, {"tracking_number": "BACK-1"}, expect=200)
        await api.post(f"/refunds/{rid}/receive", seller_of[order["sku_id"]], expect=200)
        refunds["returned and refunded"] += 1
        buyer, order = disputed
        rid = (
            await api.post(
                f"/orders/{order['order_id']}/refunds",
                buyer,
                {
                    "kind": "refund_only",
                    "reason": "not_as_described",
                    "amount_fen": order["total_fen"] // 2,
                },
                expect=201,
            )
        ).json()["refund_id"]
        await api.post(
            f"/refunds/{rid}/reject",
            seller_of[order["sku_id"]],
            {"note": "as described"},
            expect=200,
        )
        await api.post(f"/refunds/{rid}/escalate", buyer, expect=200)
        await api.post(
            f"/refunds/{rid}/decide", api.reviewer, {"in_favour_of": "merchant"}, expect=200
        )
        refunds["disputed, decided for the merchant"] += 1

        # What the service says now.
        orders = []
        for shop in (merchant, brand):
            orders += await api.get("/orders", shop, limit=500)
        flash_after = await api.get(f"/products/{flash['product_id']}")

    by_channel_status = Counter((o["channel"], o["status"]) for o in orders)
    gmv: Counter[str] = Counter()
    for o in orders:
        if o["paid_at"] is not None:
            gmv[o["channel"]] += o["total_fen"]
    flash_sold = sum(
        o["quantity"] for o in orders if o["sku_id"] == flash_sku and o["status"] != "cancelled"
    )
    paid_orders = [o for o in orders if o["paid_at"] is not None]
    sellers = Counter(
        o["creator_id"] or o["anchor_id"] for o in paid_orders if o["creator_id"] or o["anchor_id"]
    )
    return {
        "subjects": {
            "shop": dict(Counter(o["shop_id"] for o in paid_orders)),
            "product": dict(Counter(o["product_id"] for o in paid_orders)),
            "creator": dict(sellers),
        },
        "orders": len(orders),
        "by_channel_status": {f"{c}/{s}": n for (c, s), n in sorted(by_channel_status.items())},
        "gmv_fen_by_channel": dict(sorted(gmv.items())),
        "refunded_fen": sum(o["refunded_fen"] for o in orders),
        "live_room_gmv_fen": gmv["live_room"],
        "self_broadcast_paid": sum(1 for o in paid_orders if o["sku_id"] == flash_sku),
        "after_sales": dict(refunds),
        "distribution": distribution
        | {
            "paid_orders_through_a_promotion": sum(1 for o in paid_orders if o["promotion_id"]),
            "commission_fen": sum(
                o["total_fen"] * o["commission_rate_bp"] // 10_000
                for o in paid_orders
                if o["promotion_id"]
            ),
        },
        "flash_sale": {
            "stock": 20,
            "sold": flash_sold,
            "left": flash_after["skus"][0]["stock"],
            "buyers": len(crowd),
            "rejected": dict(rejected),
            "oversold": max(0, flash_sold - 20),
        },
    }


def print_orders_report(report: dict[str, Any]) -> None:
    print("\nOrders — through the real orders API")
    print("-" * 64)
    channels = sorted({k.split("/")[0] for k in report["by_channel_status"]})
    statuses = ["placed", "paid", "shipped", "delivered", "completed", "cancelled"]
    print(f"{'channel':<14}" + "".join(f"{s:>10}" for s in statuses) + f"{'GMV ¥':>12}")
    for channel in channels:
        counts = [report["by_channel_status"].get(f"{channel}/{s}", 0) for s in statuses]
        gmv = report["gmv_fen_by_channel"].get(channel, 0) / 100
        print(f"{channel:<14}" + "".join(f"{n:>10}" for n in counts) + f"{gmv:>12,.2f}")
    fs = report["flash_sale"]
    print(
        f"flash sale: {fs['buyers']} buyers for {fs['stock']} units — sold {fs['sold']}, "
        f"left {fs['left']}, oversold {fs['oversold']}, refused {fs['rejected']}"
    )
    print(f"after-sales: {report['after_sales']}; refunded ¥{report['refunded_fen'] / 100:,.2f}")
    d = report["distribution"]
    print(
        f"distribution (达人分销): {d['plans']} plans, {d['promotions']} creators' promotions, "
        f"{d['paid_orders_through_a_promotion']} paid orders through them, commission "
        f"¥{d['commission_fen'] / 100:,.2f}; a forged reference refused "
        f"({d['forged_reference_refused']})"
    )
