"""The moderation part of ``make run``: what the Thunder Plan decided during the evening, and
three shops' cases through the real APIs: an appeal won, a party staying silent until its
points are booked, and a product rectified (整改) and relisted."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from laotie_common.auth import Role, mint_token
from laotie_common.settings import ServiceSettings

from laotie_evening.client import Actor, OrdersApi
from laotie_evening.poll import eventually

HOP = 30.0  # seconds allowed for a decision to travel over Kafka and be applied


async def decisions(url: str, settings: ServiceSettings) -> list[dict[str, Any]]:
    token = mint_token(settings, subject="make-run", role=Role.REVIEWER)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.get(
            "/violations", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
    return found


def print_moderation_report(
    found: list[dict[str, Any]], appealed: dict[str, Any], cases: dict[str, Any]
) -> None:
    print("\nThunder Plan (雷霆计划) — violations and penalties of the evening")
    print("-" * 96)
    if not found:
        print("(none)")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for v in reversed(found):  # oldest first
        groups.setdefault((v["code"], f"{v['subject_type']}:{v['subject_id']}"), []).append(v)
    for (code, subject), items in groups.items():
        last = items[-1]
        severities = Counter(v["severity"] for v in items)
        measures = (
            ", ".join(
                m["kind"] + (f" until {m['until'][:16]}" if m.get("until") else "")
                for m in last["measures"]
            )
            or "no penalty (content hidden)"
        )
        points = sum(v.get("points") or 0 for v in items)
        text = (last.get("text") or "").replace("\n", " / ")[:30]
        print(
            f"{code:<20} {subject[:32]:<32} ×{len(items):<3} "
            f"{', '.join(f'{n} {s}' for s, n in severities.items())}"
        )
        print(
            f"{'':<20} latest «{text}» → {measures}"
            + (f"; {points} points ({last['points_status']})" if points else "")
        )
    print(
        f"appeal (申诉) by {appealed['anchor']}, {appealed['appealed_after_s']:.1f} s into its"
        f" {appealed['window_s']:.0f} s window: {appealed['appeal']}; points booked now:"
        f" {appealed['points_booked']}"
    )
    print_cases(cases["appeal_upheld"], cases["silent"], cases["rectified"])


async def appeal(url: str, settings: ServiceSettings, anchor_id: str) -> dict[str, Any]:
    """The banned anchor appeals (申诉) within the window; a reviewer rejects it, so the points
    are booked now instead of when the window lapses."""
    anchor = {
        "Authorization": "Bearer " + mint_token(settings, subject=anchor_id, role=Role.ANCHOR)
    }
    reviewer = {
        "Authorization": "Bearer " + mint_token(settings, subject="reviewer-1", role=Role.REVIEWER)
    }
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        subject = (await http.get(f"/subjects/anchor/{anchor_id}", headers=anchor)).json()
        penalty_id = subject["penalties"][0]["penalty_id"]
        filed = await http.post(
            "/appeals",
            headers=anchor,
            json={"penalty_id": penalty_id, "reason": "我只是在说别人的账号，不是我的"},
        )
        filed.raise_for_status()
        decided = await http.post(
            f"/appeals/{filed.json()['appeal_id']}/decide",
            headers=reviewer,
            json={"upheld": False, "note": "the id is the anchor's own"},
        )
        decided.raise_for_status()
        after = (await http.get(f"/subjects/anchor/{anchor_id}", headers=anchor)).json()
    penalty = subject["penalties"][0]
    return {
        "anchor": anchor_id,
        "penalty_id": penalty_id,
        "window_s": _seconds(penalty["appeal_deadline"], penalty["applied_at"]),
        "appealed_after_s": _seconds(filed.json()["filed_at"], penalty["applied_at"]),
        "appeal": decided.json()["status"],
        "points_booked": after["points"]["booked"],
    }


# --- three shops' cases ----------------------------------------------------------------------
@asynccontextmanager
async def _clients(
    orders_url: str, moderation_url: str, settings: ServiceSettings
) -> AsyncIterator[tuple[OrdersApi, httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=orders_url, timeout=30) as orders,
        httpx.AsyncClient(base_url=moderation_url, timeout=30) as moderation,
    ):
        yield OrdersApi(orders, settings), moderation


async def _standing(api: OrdersApi, mod: httpx.AsyncClient, seller: Actor) -> dict[str, Any] | None:
    """The shop's standing at moderation, as its seller sees it (None: nothing known yet)."""
    response = await mod.get(f"/subjects/shop/{seller.shop_id}", headers=api.headers(seller))
    return response.json() if response.status_code == 200 else None


async def _penalty(
    api: OrdersApi, mod: httpx.AsyncClient, seller: Actor, penalty_id: str | None = None
) -> dict[str, Any] | None:
    """The shop's penalty ``penalty_id`` (else its first), as its seller sees it."""
    view = await _standing(api, mod, seller)
    penalties = view["penalties"] if view else []
    return next((p for p in penalties if penalty_id in (None, p["penalty_id"])), None)


async def _product(api: OrdersApi, product_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        product: dict[str, Any] = await api.get(f"/products/{product_id}")
        return product if product["status"] == status else None

    return await eventually(reached, timeout=HOP, what=f"product {product_id} {status}")


async def _banned(
    api: OrdersApi, mod: httpx.AsyncClient, seller: Actor, title: str, description: str
) -> tuple[str, dict[str, Any]]:
    """A new product with these words, once moderation penalised the shop for them and orders
    banned the product: (its id, the penalty)."""
    product = await api.new_product(seller, title=title, description=description)
    product_id = product["product_id"]
    await _product(api, product_id, "banned")
    penalty = await eventually(
        lambda: _penalty(api, mod, seller), timeout=HOP, what=f"a penalty of {seller.shop_id}"
    )
    return product_id, penalty


def _listing(seller: Actor, title: str) -> dict[str, Any]:
    return {
        "shop_id": seller.shop_id,
        "title": title,
        "description": "手工编织",
        "skus": [{"name": "grey", "price_fen": 5900, "stock": 10}],
    }


def _seconds(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


async def appeal_upheld(
    orders_url: str, moderation_url: str, settings: ServiceSettings
) -> dict[str, Any]:
    """A shop's product is banned for «加我薇信 abc12345», a WeChat id to the detector
    (diversion, step 1: delisted, listing ban, fee, 5 points pending); the seller appeals in
    time that 薇信 is its brand and abc12345 an article number; a reviewer upholds the appeal:
    the penalty is revoked, the product relisted, the listing ban lifted, the points cancelled."""
    async with _clients(orders_url, moderation_url, settings) as (api, mod):
        seller = await api.new_shop()
        product_id, penalty = await _banned(
            api, mod, seller, "薇信牌 羊毛围巾", "加我薇信 abc12345 详聊"
        )
        blocked = await api.post("/products", seller, _listing(seller, "薇信牌 手套"))
        filed = await mod.post(
            "/appeals",
            headers=api.headers(seller),
            json={
                "penalty_id": penalty["penalty_id"],
                "reason": "薇信是我们的注册品牌，abc12345 是货号，不是联系方式",
            },
        )
        filed.raise_for_status()
        appeal = filed.json()
        decided = await mod.post(
            f"/appeals/{appeal['appeal_id']}/decide",
            headers=api.headers(api.reviewer),
            json={"upheld": True, "note": "a brand name and an article number, not a contact"},
        )
        decided.raise_for_status()
        relisted = await _product(api, product_id, "active")
        listed = await api.post("/products", seller, _listing(seller, "薇信牌 手套"))
        after = await _penalty(api, mod, seller, penalty["penalty_id"])
        view = await _standing(api, mod, seller)
    assert after is not None
    assert view is not None
    in_force = [m for m in view["current_measures"] if m["penalty_id"] == penalty["penalty_id"]]
    result = {
        "shop": seller.shop_id,
        "product_id": product_id,
        "penalty_id": penalty["penalty_id"],
        "code": penalty["code"],
        "measures": [m["kind"] for m in penalty["measures"]],
        "points": penalty["points"],
        "window_s": _seconds(penalty["appeal_deadline"], penalty["applied_at"]),
        "appealed_after_s": _seconds(appeal["filed_at"], penalty["applied_at"]),
        "appeal_id": appeal["appeal_id"],
        "appeal": decided.json()["status"],
        "decided_by": decided.json()["decided_by"],
        "penalty_status": after["status"],
        "points_status": after["points_status"],
        "measures_in_force": len(in_force),
        "product_status": relisted["status"],
        "listing_while_banned": blocked.json().get("reason") or blocked.status_code,
        "listing_after": listed.status_code,
        "year_points": view["points"]["booked"],
    }
    result["ok"] = (
        result["appeal"] == "upheld"
        and after["status"] == "revoked"
        and after["points_status"] == "cancelled"
        and not in_force
        and relisted["status"] == "active"
        and blocked.status_code == 409
        and listed.status_code == 201
    )
    return result


async def silent_shop(
    orders_url: str, moderation_url: str, settings: ServiceSettings
) -> dict[str, Any]:
    """A shop's product gives a WeChat id (diversion, step 1: 5 points pending) and the shop
    never appeals: the sweeper books the points once the appeal window lapses
    (``moderation.penalty.points_booked``). The window is APPEAL_WINDOW_S in `make run`."""
    async with _clients(orders_url, moderation_url, settings) as (api, mod):
        seller = await api.new_shop()
        product_id, penalty = await _banned(
            api, mod, seller, "真丝围巾 冬季新款", "要优惠的 加V❤信 silk_2024 私聊"
        )
        deadline = datetime.fromisoformat(penalty["appeal_deadline"])
        lapse = max(0.0, (deadline - datetime.now(UTC)).total_seconds())

        async def booked() -> dict[str, Any] | None:
            now = await _penalty(api, mod, seller, penalty["penalty_id"])
            return now if now and now["points_status"] != "pending" else None

        after = await eventually(
            booked,
            timeout=lapse + HOP,
            what=f"the points of {penalty['penalty_id']} at the window's lapse",
            every=0.5,
        )
        seen = datetime.now(UTC)
        view = await _standing(api, mod, seller)
    assert view is not None
    result = {
        "shop": seller.shop_id,
        "product_id": product_id,
        "penalty_id": penalty["penalty_id"],
        "code": penalty["code"],
        "points": penalty["points"],
        "window_s": _seconds(penalty["appeal_deadline"], penalty["applied_at"]),
        "appeal_deadline": penalty["appeal_deadline"],
        "points_status_before": penalty["points_status"],
        "points_status": after["points_status"],
        "seen_booked_after_deadline_s": round((seen - deadline).total_seconds(), 1),
        "appealed": after["appeal_id"] is not None,
        "year_total": view["points"]["booked"],
    }
    result["ok"] = (
        penalty["points_status"] == "pending"
        and after["points_status"] == "booked"
        and after["appeal_id"] is None
        and seen >= deadline
        and view["points"]["booked"] == penalty["points"] > 0
    )
    return result


async def rectified(
    orders_url: str, moderation_url: str, settings: ServiceSettings
) -> dict[str, Any]:
    """Rectification (整改): a product titled «全网最低价» is banned (false_advertising, step 1
    delists it); its seller edits the title (PATCH /products/{id}), resubmits it; moderation
    re-scans the new words (rule:rescan), lifts the delisting, and orders relists it. The
    penalty's other measures stand."""
    async with _clients(orders_url, moderation_url, settings) as (api, mod):
        seller = await api.new_shop()
        claim, title = "全网最低价 羊毛围巾", "羊毛围巾 手工编织"
        product_id, penalty = await _banned(api, mod, seller, claim, "冬季保暖")
        await api.send("PATCH", f"/products/{product_id}", seller, {"title": title}, expect=200)
        answer = (await api.post(f"/products/{product_id}/resubmit", seller, expect=200)).json()
        resubmission_id = answer["resubmission_id"]

        async def decided() -> dict[str, Any] | None:
            response = await mod.get(
                f"/rectifications/{resubmission_id}", headers=api.headers(seller)
            )
            return response.json() if response.status_code == 200 else None

        outcome = await eventually(decided, timeout=HOP, what=f"the re-scan of {product_id}")
        product = await _product(api, product_id, "active")
        after = await _penalty(api, mod, seller, penalty["penalty_id"])
    assert after is not None
    result = {
        "shop": seller.shop_id,
        "product_id": product_id,
        "code": penalty["code"],
        "penalty_id": penalty["penalty_id"],
        "measures": [m["kind"] for m in penalty["measures"]],
        "claim": claim,
        "title": product["title"],
        "resubmission_id": resubmission_id,
        "status_while_resubmitted": answer["product"]["status"],
        "rectification": outcome["status"],
        "decided_by": outcome["decided_by"],
        "product_status": product["status"],
        "penalty_status": after["status"],
    }
    result["ok"] = (
        outcome["status"] == "accepted"
        and outcome["decided_by"] == "rule:rescan"
        and product["status"] == "active"
        and product["title"] == title
    )
    return result


def print_cases(upheld: dict[str, Any], silent: dict[str, Any], fixed: dict[str, Any]) -> None:
    """(a) an appeal won, (b) a silent party's points booked, (c) a product rectified."""

    def mark(case: dict[str, Any]) -> str:
        return "" if case["ok"] else "  ← NOT AS EXPECTED"

    print(
        f"appeal upheld (申诉成功) by {upheld['decided_by']}: shop {upheld['shop']} appealed"
        f" penalty {upheld['penalty_id']} ({upheld['code']}:"
        f" {', '.join(upheld['measures'])}) {upheld['appealed_after_s']:.1f} s into its"
        f" {upheld['window_s']:.0f} s window → penalty {upheld['penalty_status']}, product"
        f" {upheld['product_id']} relisted ({upheld['product_status']}), listing ban lifted"
        f" ({upheld['listing_while_banned']} → listed {upheld['listing_after']}),"
        f" {upheld['points']} points {upheld['points_status']}" + mark(upheld)
    )
    print(
        f"silent (未申诉) shop {silent['shop']}: penalty {silent['penalty_id']} ({silent['code']}),"
        f" points {silent['points_status_before']}, no appeal in its {silent['window_s']:.0f} s"
        f" window → {silent['points']} points {silent['points_status']} at the window's lapse"
        f" (seen {silent['seen_booked_after_deadline_s']:.1f} s after it;"
        f" moderation.penalty.points_booked; year total {silent['year_total']})" + mark(silent)
    )
    stand = ", ".join(k for k in fixed["measures"] if k != "delist_products")
    print(
        f"rectified (整改): product {fixed['product_id']} of shop {fixed['shop']} banned for"
        f" «{fixed['claim']}» ({fixed['code']}) → title edited to «{fixed['title']}» →"
        f" resubmitted {fixed['resubmission_id']} → {fixed['rectification']} by"
        f" {fixed['decided_by']} → {fixed['product_status']}; penalty {fixed['penalty_id']}"
        f" {fixed['penalty_status']} ({stand} stand)" + mark(fixed)
    )
