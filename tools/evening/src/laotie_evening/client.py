"""HTTP clients for Laotie's services, acting as a buyer, seller, operator... would.

Used by ``make run`` and by the integration tests, so both drive the real APIs the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from laotie_common.auth import Role, mint_token
from laotie_common.settings import ServiceSettings


@dataclass
class Actor:
    role: Role
    subject: str
    shop_id: str | None = None


class OrdersApi:
    def __init__(self, client: httpx.AsyncClient, settings: ServiceSettings) -> None:
        self.client = client
        self.settings = settings
        self.operator = Actor(Role.OPERATOR, "ops-1")
        self.logistics = Actor(Role.SERVICE, "logistics")
        self.reviewer = Actor(Role.REVIEWER, "rev-1")

    def headers(self, actor: Actor, key: str | None = None) -> dict[str, str]:
        token = mint_token(
            self.settings, subject=actor.subject, role=actor.role, shop_id=actor.shop_id
        )
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    async def post(
        self,
        path: str,
        actor: Actor,
        json: Any = None,
        *,
        key: str | None = None,
        expect: int | None = None,
    ) -> httpx.Response:
        return await self.send("POST", path, actor, json, key=key, expect=expect)

    async def send(
        self,
        method: str,
        path: str,
        actor: Actor,
        json: Any = None,
        *,
        key: str | None = None,
        expect: int | None = None,
    ) -> httpx.Response:
        response = await self.client.request(
            method, path, json=json, headers=self.headers(actor, key)
        )
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code, response.text)
        return response

    async def get(self, path: str, actor: Actor | None = None, **params: Any) -> Any:
        headers = self.headers(actor) if actor else {}
        response = await self.client.get(path, headers=headers, params=params)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    async def new_shop(self, kind: str = "merchant") -> Actor:
        shop_id = f"shop-{uuid.uuid4().hex[:8]}"
        await self.post(
            "/shops",
            self.operator,
            {"shop_id": shop_id, "name": f"Shop {shop_id}", "kind": kind},
            expect=201,
        )
        return Actor(Role.SELLER, f"seller-{shop_id}", shop_id)

    async def new_product(
        self,
        seller: Actor,
        *,
        stock: int = 100,
        price_fen: int = 9900,
        title: str = "Wool scarf",
        description: str = "Warm",
        ship_within_hours: int = 48,
        **sku: Any,
    ) -> dict[str, Any]:
        body = {
            "shop_id": seller.shop_id,
            "title": title,
            "description": description,
            "ship_within_hours": ship_within_hours,
            "skus": [{"name": "grey", "price_fen": price_fen, "stock": stock, **sku}],
        }
        response = await self.post("/products", seller, body, expect=201)
        product: dict[str, Any] = response.json()
        return product

    async def promotion(
        self,
        seller: Actor,
        product: dict[str, Any],
        creator: str,
        *,
        commission_rate_bp: int = 2000,
        placement: str = "shop_window",
        placement_id: str | None = None,
    ) -> str:
        """The product offered for distribution (达人分销) if it is not yet, and taken into
        ``creator``'s shop window (or video, or room): the promotion reference orders carry."""
        path = f"/products/{product['product_id']}/distribution-plans"
        plans = await self.get(path, seller)
        if not plans or plans[0]["ended_at"] is not None:
            plans = [
                (
                    await self.post(
                        path, seller, {"commission_rate_bp": commission_rate_bp}, expect=201
                    )
                ).json()
            ]
        taken = await self.post(
            f"/distribution-plans/{plans[0]['plan_id']}/promotions",
            Actor(Role.ANCHOR, creator),
            {"placement": placement, "placement_id": placement_id},
            expect=201,
        )
        reference: str = taken.json()["reference"]
        return reference

    async def until_live(self, room_id: str, timeout: float = 30.0) -> None:
        """Wait until the orders service has read that ``room_id`` is live (from
        ``live.room``): a live-room order is accepted only then."""
        deadline = asyncio.get_running_loop().time() + timeout
        headers = self.headers(self.buyer("room-watcher"))
        while True:
            response = await self.client.get(f"/live-rooms/{room_id}", headers=headers)
            if response.status_code == 200 and response.json()["live"]:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"orders did not see room {room_id} live: {response.text}")
            await asyncio.sleep(0.1)

    @staticmethod
    def buyer(name: str | None = None) -> Actor:
        return Actor(Role.BUYER, name or f"buyer-{uuid.uuid4().hex[:8]}")

    async def order(
        self,
        buyer: Actor,
        sku_id: str,
        *,
        quantity: int = 1,
        channel: str = "shop_page",
        expect: int | None = 201,
        key: str | None = None,
        **attribution: Any,
    ) -> httpx.Response:
        body = {"sku_id": sku_id, "quantity": quantity, "channel": channel, **attribution}
        return await self.post("/orders", buyer, body, key=key, expect=expect)


class LiveApi:
    def __init__(self, client: httpx.AsyncClient, settings: ServiceSettings) -> None:
        self.client, self.settings = client, settings

    def auth(self, role: Role, subject: str, shop_id: str | None = None) -> dict[str, str]:
        token = mint_token(self.settings, subject=subject, role=role, shop_id=shop_id)
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        json: Any = None,
        expect: int | None = None,
    ) -> httpx.Response:
        response = await self.client.request(method, path, json=json, headers=headers)
        if expect is not None:
            assert response.status_code == expect, (path, response.text)
        return response

    async def anchor_live(self) -> tuple[str, str, str]:
        anchor = f"anchor-{uuid.uuid4().hex[:8]}"
        me = self.auth(Role.ANCHOR, anchor)
        room = (
            await self.call(
                "POST", "/rooms", me, {"owner_type": "anchor", "title": "晚间好物"}, 201
            )
        ).json()
        session = (
            await self.call("POST", f"/rooms/{room['room_id']}/sessions", me, {}, 201)
        ).json()
        return anchor, room["room_id"], session["session_id"]
