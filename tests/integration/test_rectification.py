"""Rectification (整改), issue 19 item 10, with orders and moderation as real processes: a
product banned for its words is edited and resubmitted by its seller, re-scanned by
moderation, and relisted, or queued for a reviewer who decides; every step is audited."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from laotie_common.settings import ServiceSettings
from laotie_evening.client import Actor, OrdersApi

from tests.integration.infra import Infra
from tests.integration.kit import ServiceProcess, eventually, running_service

CLAIM = "全网最低价 羊毛围巾"


@dataclass
class Stack:
    api: OrdersApi
    orders: ServiceProcess
    moderation: ServiceProcess
    moderation_http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    async with (
        running_service("laotie_orders", infra.kafka_bootstrap, infra.database_url) as orders,
        running_service("laotie_moderation", infra.kafka_bootstrap, infra.database_url) as mod,
        httpx.AsyncClient(base_url=orders.url, timeout=30) as orders_http,
        httpx.AsyncClient(base_url=mod.url, timeout=30) as mod_http,
    ):
        yield Stack(OrdersApi(orders_http, settings), orders, mod, mod_http)


async def _status(api: OrdersApi, product_id: str, wanted: str) -> None:
    async def reached() -> bool:
        return bool((await api.get(f"/products/{product_id}"))["status"] == wanted)

    await eventually(reached, timeout=30, what=f"product {product_id} {wanted}")


async def _banned_product(stack: Stack) -> tuple[Actor, str]:
    seller = await stack.api.new_shop()
    product = await stack.api.new_product(seller, title=CLAIM)
    await _status(stack.api, product["product_id"], "banned")
    return seller, product["product_id"]


async def _rectification(stack: Stack, rectification_id: str, who: Actor) -> dict[str, Any]:
    """The resubmission once moderation has decided on it (as ``who`` sees it)."""

    async def decided() -> dict[str, Any] | None:
        response = await stack.moderation_http.get(
            f"/rectifications/{rectification_id}", headers=stack.api.headers(who)
        )
        return response.json() if response.status_code == 200 else None

    return await eventually(decided, timeout=30, what="moderation's re-scan")


async def _resubmit(stack: Stack, seller: Actor, product_id: str) -> dict[str, Any]:
    answer = await stack.api.post(f"/products/{product_id}/resubmit", seller, expect=200)
    return await _rectification(stack, answer.json()["resubmission_id"], seller)


async def test_an_edited_product_passes_the_rescan_and_is_relisted_with_its_penalty_standing(
    stack: Stack,
) -> None:
    """Before: no route changed a product's words and a moderation ban could not be lifted
    but by an appeal, so a product delisted for a claim could never be sold again. Now the
    seller edits the title (the ban stands until resubmitted), resubmits, the re-scan passes,
    the ban by that penalty ends and the product is relisted (``rectified``); the penalty and
    its warning stand, and the seller's two steps are in orders' audit trail."""
    api = stack.api
    seller, pid = await _banned_product(stack)
    await api.send("PATCH", f"/products/{pid}", seller, {"title": "羊毛围巾 加厚"}, expect=200)
    assert (await api.get(f"/products/{pid}"))["status"] == "banned", "an edit alone lifts nothing"
    decided = await _resubmit(stack, seller, pid)
    assert (decided["status"], decided["decided_by"]) == ("accepted", "rule:rescan")
    await _status(api, pid, "active")
    penalties = await stack.moderation.fetch(
        "SELECT status, code FROM penalties WHERE subject_id = $1", seller.shop_id
    )
    assert [(p["status"], p["code"]) for p in penalties] == [("active", "false_advertising")]
    trail = await stack.orders.fetch(
        "SELECT action, actor_id FROM audit_log WHERE target->>'product_id' = $1 ORDER BY"
        " recorded_at",
        pid,
    )
    assert [(t["action"], t["actor_id"]) for t in trail] == [
        ("PATCH /products/{product_id}", seller.subject),
        ("POST /products/{product_id}/resubmit", seller.subject),
    ]
    # The old words back after the rectification offend anew: a repeat, on the second step.
    await api.send("PATCH", f"/products/{pid}", seller, {"title": CLAIM}, expect=200)
    await _status(api, pid, "banned")
    steps = await stack.moderation.fetch(
        "SELECT severity FROM violations WHERE subject_id = $1 ORDER BY occurred_at",
        seller.shop_id,
    )
    assert [v["severity"] for v in steps] == ["general", "serious"]


async def test_words_still_tripping_a_detector_wait_for_a_reviewer_who_decides_with_a_reason(
    stack: Stack,
) -> None:
    """The same words resubmitted go to the reviewers' queue; a rejection keeps the ban, an
    acceptance lifts it, and the passed words, relisted, decide nothing again."""
    api = stack.api
    seller, pid = await _banned_product(stack)
    queued = await _resubmit(stack, seller, pid)
    assert queued["status"] == "in_review"
    assert "false_advertising" in queued["reason"]
    flood = await _resubmit(stack, seller, pid)
    assert flood["status"] == "rejected", "one resubmission of a product in review at a time"
    assert queued["rectification_id"] in flood["reason"]
    reviewer = stack.api.headers(api.reviewer)
    queue = await stack.moderation_http.get("/rectifications", headers=reviewer)
    assert queued["rectification_id"] in [r["rectification_id"] for r in queue.json()]
    denied = await stack.moderation_http.get("/rectifications", headers=api.headers(seller))
    assert denied.status_code == 403, "the queue is for staff"
    rejected = await stack.moderation_http.post(
        f"/rectifications/{queued['rectification_id']}/decide",
        json={"accepted": False, "note": "still an absolute claim"},
        headers=reviewer,
    )
    assert rejected.json()["status"] == "rejected"
    again = await _resubmit(stack, seller, pid)
    accepted = await stack.moderation_http.post(
        f"/rectifications/{again['rectification_id']}/decide",
        json={"accepted": True, "note": "the shop proved the price"},
        headers=reviewer,
    )
    assert accepted.json()["status"] == "accepted"
    twice = await stack.moderation_http.post(
        f"/rectifications/{again['rectification_id']}/decide",
        json={"accepted": True, "note": "again"},
        headers=reviewer,
    )
    assert twice.status_code == 409
    no_reason = await stack.moderation_http.post(
        f"/rectifications/{again['rectification_id']}/decide",
        json={"accepted": True},
        headers=reviewer,
    )
    assert no_reason.status_code == 422, "a reviewer decides with a reason"
    await _status(api, pid, "active")
    violations = await stack.moderation.fetch(
        "SELECT count(*) AS n FROM violations WHERE subject_id = $1", seller.shop_id
    )
    assert violations[0]["n"] == 1, "the accepted words, relisted, decided nothing again"
    trail = await stack.moderation.fetch(
        "SELECT reason FROM audit_log WHERE target->>'rectification_id' = ANY($1::text[])"
        " ORDER BY recorded_at",
        [queued["rectification_id"], again["rectification_id"]],
    )
    assert [t["reason"] for t in trail] == ["still an absolute claim", "the shop proved the price"]


async def test_only_the_shops_seller_rectifies_and_only_a_banned_product(stack: Stack) -> None:
    api = stack.api
    seller, pid = await _banned_product(stack)
    stranger = await api.new_shop()
    edit = {"description": "mine now"}
    assert (await api.send("PATCH", f"/products/{pid}", stranger, edit)).status_code in (403, 404)
    assert (await api.post(f"/products/{pid}/resubmit", stranger)).status_code in (403, 404)
    assert (await api.send("PATCH", f"/products/{pid}", seller, {})).status_code == 422
    fine = await api.new_product(seller, title="羊毛围巾")
    refused = await api.post(f"/products/{fine['product_id']}/resubmit", seller, expect=409)
    assert "banned" in json.dumps(refused.json())


async def test_a_shop_profile_with_a_contact_is_hidden_and_the_shop_penalised(
    stack: Stack,
) -> None:
    """Issue 19, item 10: a shop's own profile text (店铺简介) is scanned like a title: a
    WeChat id there is a diversion by the shop, that revision is hidden, a clean one shows."""
    api = stack.api
    seller = await api.new_shop()
    path = f"/shops/{seller.shop_id}/profile"
    await api.send("PUT", path, seller, {"text": "源头工厂 加V：factory_888 拿批发价"}, expect=200)
    stranger = await api.new_shop()
    await api.send("PUT", path, stranger, {"text": "hijacked"}, expect=403)

    async def hidden() -> bool:
        return bool((await api.get(f"/shops/{seller.shop_id}"))["profile_hidden"])

    await eventually(hidden, timeout=30, what="the profile hidden")
    assert (await api.get(f"/shops/{seller.shop_id}"))["profile"] == ""
    codes = await stack.moderation.fetch(
        "SELECT code FROM violations WHERE subject_id = $1", seller.shop_id
    )
    assert [c["code"] for c in codes] == ["diversion"]
    await api.send("PUT", path, seller, {"text": "源头工厂 平台下单 48小时发货"}, expect=200)
    shop = await api.get(f"/shops/{seller.shop_id}")
    assert (shop["profile_hidden"], shop["profile"]) == (False, "源头工厂 平台下单 48小时发货")


async def test_a_product_rectified_while_its_shop_may_not_list_waits_delisted(
    stack: Stack, infra: Infra
) -> None:
    """A rectified product of a shop under a listing ban is not sold at once (the seller's
    own relisting is refused then too): it waits delisted, and its seller relists it once
    the ban is over."""
    from datetime import UTC, datetime, timedelta

    from laotie_contracts.moderation import DelistingLifted, Measure, PenaltyApplied

    from tests.integration.kit import publish

    api = stack.api
    seller = await api.new_shop()
    pid = (await api.new_product(seller))["product_id"]
    soon = datetime.now(UTC) + timedelta(seconds=5)
    penalty = dict(
        penalty_id=f"pen-{uuid.uuid4().hex[:8]}",
        subject_type="shop",
        subject_id=seller.shop_id,
        shop_id=seller.shop_id,
        violation_code="false_advertising",
        occurred_at=datetime.now(UTC),
        measures=[
            Measure(kind="delist_products", product_ids=[pid]),
            Measure(kind="listing_ban", until=soon),
        ],
    )
    await publish(infra.kafka_bootstrap, PenaltyApplied(**penalty))
    await _status(api, pid, "banned")
    lifted = DelistingLifted(
        **penalty, product_id=pid, rectification_id="r-1", decided_by="rule:rescan"
    )
    await publish(infra.kafka_bootstrap, lifted)
    await _status(api, pid, "delisted")
    refused = await api.post(f"/products/{pid}/relist", seller, expect=409)
    assert refused.json()["reason"] == "listing_banned"

    async def relisted() -> bool:
        return (await api.post(f"/products/{pid}/relist", seller)).status_code == 200

    await eventually(relisted, timeout=30, what="the relisting once the ban is over")
