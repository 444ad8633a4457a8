"""``make run``'s evening: the delivery path, then the services doing their jobs."""

from __future__ import annotations

import asyncio
import sys
from typing import Any


async def run_evening(env: dict[str, str], seed: int) -> dict[str, Any]:
    import httpx
    from laotie_common.settings import ServiceSettings

    from laotie_evening import demo_chuanliu, demo_moderation
    from laotie_evening.client import LiveApi
    from laotie_evening.demo_live import LiveEvening
    from laotie_evening.demo_moderation import appeal, decisions
    from laotie_evening.demo_orders import orders_walkthrough
    from laotie_evening.demo_scoring import scores
    from laotie_evening.reconcile import reconcile

    settings = ServiceSettings()
    chuanliu_url = env["CHUANLIU_URL"]
    orders_url, moderation_url = env["ORDERS_URL"], env["MODERATION_URL"]

    def step(what: str) -> None:
        print(f"▸ {what}", file=sys.stderr, flush=True)

    # Started first so that its appeal window (APPEAL_WINDOW_S in `make run`) lapses while
    # the evening goes on; awaited before the report.
    step("a shop lists a product with a WeChat id, is penalised, and stays silent")
    silent = asyncio.create_task(demo_moderation.silent_shop(orders_url, moderation_url, settings))
    granted_before = await demo_chuanliu.granted_so_far(chuanliu_url)
    brand: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=env["LIVE_URL"], timeout=60) as http:
        evening = LiveEvening(LiveApi(http, settings), seed)

        async def prepare(
            brand_shop_id: str, products: list[dict[str, Any]]
        ) -> list[tuple[str, str]]:
            step("anchors and creators go live, pin products; viewers arrive")
            brand["id"] = brand_shop_id
            brand["products"] = ",".join(p["product_id"] for p in products)
            await evening.open_rooms()
            await evening.pin(products)
            await evening.crowd()
            return evening.rooms("anchor") + evening.rooms("creator")

        async def brand_live() -> tuple[str, str]:
            step("the brand goes live (品牌自播); Chuanliu grants it traffic; flash sale")
            await evening.open_brand_room(brand["id"])
            await evening.pin([{"product_id": p} for p in brand["products"].split(",")])
            await evening.crowd(owner_type="brand")
            brand_session = next(s for s in evening.sessions if s["owner_type"] == "brand")
            decision = await demo_chuanliu.wait_for_decision(
                chuanliu_url, brand_session["session_id"]
            )
            brand["decision"] = f"{decision['outcome']} ({decision['grants']} buyers)"
            brand["session_id"] = brand_session["session_id"]
            return evening.rooms("brand")[0]

        orders = await orders_walkthrough(orders_url, settings, seed, prepare, brand_live)
        step("Chuanliu tops the brand's session up with the buyers won over meanwhile")
        session_rounds = await demo_chuanliu.rounds(chuanliu_url, brand["session_id"])
        step("crediting live-room sales to the sessions")
        await evening.wait_for_sales(orders["live_room_gmv_fen"])
        step("an anchor and a viewer post contact details; moderation steps in")
        await evening.misbehave()
        live = await evening.close()
    anchor_id = next(s["owner"] for s in evening.sessions if s["owner_type"] == "anchor")
    step("the banned anchor appeals; a reviewer rejects the appeal")
    appealed = await appeal(moderation_url, settings, anchor_id)
    step("a shop banned for a 'WeChat id' appeals in time; a reviewer upholds the appeal")
    upheld = await demo_moderation.appeal_upheld(orders_url, moderation_url, settings)
    step("a product banned for 全网最低价 is edited, resubmitted, re-scanned and relisted (整改)")
    fixed = await demo_moderation.rectified(orders_url, moderation_url, settings)
    step("the silent shop: its points are booked once its appeal window lapsed")
    cases = {"appeal_upheld": upheld, "silent": await silent, "rectified": fixed}
    step("waiting for every consumer to catch up")
    reconciliation = await reconcile(
        {
            k.removesuffix("_URL").lower(): v
            for k, v in env.items()
            if k.endswith("_URL") and k != "DATABASE_URL"
        }
    )
    found = await decisions(moderation_url, settings)
    scored = await scores(env["SCORING_URL"], orders["subjects"])
    creators = sorted(orders["subjects"]["creator"])
    chuanliu = await demo_chuanliu.report(
        chuanliu_url, brand["id"], creators, orders["self_broadcast_paid"]
    )
    chuanliu["session_decision"] = brand.get("decision")
    chuanliu["session_rounds"] = session_rounds
    chuanliu["impressions_this_evening"] = (
        await demo_chuanliu.granted_so_far(chuanliu_url) - granted_before
    )
    return {
        "orders": orders,
        "live": live,
        "moderation": found,
        "appeal": appealed,
        "cases": cases,
        "scores": scored,
        "chuanliu": chuanliu,
        "reconciliation": reconciliation,
    }
