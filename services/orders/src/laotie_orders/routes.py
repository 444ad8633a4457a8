"""HTTP entry points of the orders service: parse, authorise, run a use case in one
transaction (with Idempotency-Key), answer. No business rule lives here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from laotie_common import metrics
from laotie_common.auth import Principal, Role, require
from laotie_common.db import Connection
from laotie_common.group_commit import Batch, GroupCommit
from laotie_common.idempotency import keyed
from laotie_common.problems import Conflict, Forbidden, NotFound
from laotie_common.service import Service
from laotie_common.uow import CommandRunner
from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from laotie_orders import usecases
from laotie_orders.domain import IllegalTransition, RuleViolation, Windows
from laotie_orders.usecases import Tx

Id = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(max_length=2000)]
ANYONE = (Role.BUYER, Role.SELLER, Role.ANCHOR, Role.REVIEWER, Role.OPERATOR, Role.SERVICE)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateShop(Body):
    shop_id: Id | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Literal["merchant", "brand"]
    owner_id: Id = "unknown"


class NewSku(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    price_fen: StrictInt = Field(ge=0, le=10**10)
    stock: StrictInt = Field(ge=0, le=10**7)
    per_buyer_limit: StrictInt | None = Field(default=None, ge=1, le=10**4)
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None

    @model_validator(mode="after")
    def _window(self) -> NewSku:
        for t in (self.sale_starts_at, self.sale_ends_at):
            if t is not None and t.tzinfo is None:
                raise ValueError("sale times must carry a timezone")
        if self.sale_starts_at and self.sale_ends_at and self.sale_ends_at <= self.sale_starts_at:
            raise ValueError("the sale must end after it starts")
        return self


class ListProduct(Body):
    shop_id: Id
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Text = ""
    ship_within_hours: StrictInt = Field(default=48, ge=1, le=24 * 30)
    skus: list[NewSku] = Field(min_length=1, max_length=50)


class ChangeSku(Body):
    price_fen: StrictInt | None = Field(default=None, ge=0, le=10**10)
    stock: StrictInt | None = Field(default=None, ge=0, le=10**7)


class PlaceOrder(Body):
    sku_id: Id
    quantity: StrictInt = Field(default=1, ge=1, le=999)
    channel: Literal["live_room", "short_video", "shop_page", "distribution"]
    room_id: Id | None = None
    anchor_id: Id | None = None
    video_id: Id | None = None
    creator_id: Id | None = None
    commission_rate_bp: StrictInt | None = Field(default=None, ge=0, le=10_000)


class Ship(Body):
    tracking_number: Annotated[str, Field(min_length=1, max_length=100)]


class RequestRefund(Body):
    kind: Literal["refund_only", "return_and_refund"]
    reason: Literal["quality", "not_as_described", "not_received", "changed_mind"]
    amount_fen: StrictInt | None = Field(default=None, ge=1, le=10**12)


class Reject(Body):
    note: Text = ""


class Decide(Body):
    in_favour_of: Literal["buyer", "merchant"]


class Review(Body):
    product_stars: StrictInt = Field(ge=1, le=5)
    logistics_stars: StrictInt = Field(ge=1, le=5)
    service_stars: StrictInt = Field(ge=1, le=5)
    text: Text = ""


def _domain_errors(request: Request, exc: Exception) -> Exception | None:
    """Refused transitions and broken rules are conflicts (409) with a reason."""
    if isinstance(exc, IllegalTransition):
        return Conflict(str(exc))
    if isinstance(exc, RuleViolation):
        if request.url.path == "/orders":
            metrics.ORDER_REJECTIONS.labels(exc.reason).inc()
        return Conflict(exc.detail, reason=exc.reason)
    return None


def _placing(windows: Windows) -> Batch:
    """The place-order lane's batch: a SKU's waiting reservations in one unit of work."""

    async def place(
        conn: Connection, sku_id: str, wanted: list[usecases.Reservation]
    ) -> tuple[list[Any], Callable[[], None]]:
        tx = Tx(conn, datetime.now(UTC), windows)
        return await usecases.place_orders(tx, sku_id, wanted), tx.committed

    return place


def orders_router(service: Service, windows: Windows) -> APIRouter:
    router = APIRouter()

    command = CommandRunner(
        lambda: service.pool,
        lambda conn, now: Tx(conn, now, windows),
        on_error=_domain_errors,
        group=GroupCommit(
            lambda: service.pool,
            max_batch=service.settings.command_group_max,
            lanes={"place_order": keyed(_placing(windows))},
        ),
    )

    # --- shops and products ---
    @router.post("/shops", status_code=201, tags=["shops"], summary="Create a shop")
    async def create_shop(
        body: CreateShop,
        request: Request,
        who: Annotated[Principal, require(Role.OPERATOR, Role.SELLER)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.create_shop(
                tx,
                who,
                shop_id=body.shop_id,
                name=body.name,
                kind=body.kind,
                owner_id=body.owner_id,
            ),
            created=True,
        )

    @router.get("/shops/{shop_id}", tags=["shops"], summary="A shop and its restrictions")
    async def get_shop(shop_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM shops WHERE shop_id = $1", shop_id)
            if row is None:
                raise NotFound(f"no shop {shop_id}")
            blocks = await usecases.shop_restrictions(conn, shop_id, datetime.now(UTC))
        return {**dict(row), "restrictions": sorted(blocks)}

    @router.post("/products", status_code=201, tags=["products"], summary="List a product")
    async def list_product(
        body: ListProduct, request: Request, who: Annotated[Principal, require(Role.SELLER)]
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.list_product(
                tx,
                who,
                shop_id=body.shop_id,
                title=body.title,
                description=body.description,
                ship_within_hours=body.ship_within_hours,
                skus=[s.model_dump() for s in body.skus],
            ),
            created=True,
        )

    @router.get("/products/{product_id}", tags=["products"], summary="A product and its SKUs")
    async def get_product(product_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            return await usecases.product_view(conn, product_id)

    @router.get("/products", tags=["products"], summary="A shop's products")
    async def list_products(
        shop_id: Annotated[str, Query(max_length=100)],
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[dict[str, Any]]:
        async with service.pool.acquire() as conn:
            ids = await conn.fetch(
                "SELECT product_id FROM products WHERE shop_id = $1 ORDER BY product_id LIMIT $2",
                shop_id,
                limit,
            )
            return [await usecases.product_view(conn, r["product_id"]) for r in ids]

    @router.patch(
        "/products/{product_id}/skus/{sku_id}",
        tags=["products"],
        summary="Change a SKU's price or stock",
    )
    async def change_sku(
        product_id: str,
        sku_id: str,
        body: ChangeSku,
        request: Request,
        who: Annotated[Principal, require(Role.SELLER)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.update_sku(
                tx, who, product_id, sku_id, price_fen=body.price_fen, stock=body.stock
            ),
        )

    @router.post("/products/{product_id}/delist", tags=["products"], summary="Stop selling")
    async def delist(
        product_id: str, request: Request, who: Annotated[Principal, require(Role.SELLER)]
    ) -> Any:
        return await command(
            request, who, None, lambda tx: usecases.delist_product(tx, who, product_id)
        )

    @router.post("/products/{product_id}/relist", tags=["products"], summary="Sell again")
    async def relist(
        product_id: str, request: Request, who: Annotated[Principal, require(Role.SELLER)]
    ) -> Any:
        return await command(
            request, who, None, lambda tx: usecases.relist_product(tx, who, product_id)
        )

    # --- orders ---
    @router.post(
        "/orders",
        status_code=201,
        tags=["orders"],
        summary="Place an order: reserves stock atomically",
    )
    async def place(
        body: PlaceOrder, request: Request, who: Annotated[Principal, require(Role.BUYER)]
    ) -> Any:
        attribution = body.model_dump(exclude={"sku_id", "quantity"})
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.place_order(
                tx, who, sku_id=body.sku_id, quantity=body.quantity, attribution=attribution
            ),
            created=True,
            # reservations of one SKU are decided and committed together
            lane=(
                "place_order",
                body.sku_id,
                usecases.Reservation(who, body.quantity, attribution),
            ),
        )

    @router.get("/orders/{order_id}", tags=["orders"], summary="One order")
    async def get_order(
        order_id: str, who: Annotated[Principal, require(*ANYONE)]
    ) -> dict[str, Any]:
        row = await service.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", order_id)
        if row is None or not usecases.can_read_order(who, row):
            raise NotFound(f"no order {order_id}")  # not 403: do not reveal others' orders
        return usecases.order_view(row)

    @router.get("/orders", tags=["orders"], summary="Orders of a buyer or a shop, newest first")
    async def find_orders(
        who: Annotated[Principal, require(*ANYONE)],
        buyer_id: Annotated[str | None, Query(max_length=100)] = None,
        shop_id: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[dict[str, Any]]:
        if who.role is Role.BUYER:
            buyer_id, shop_id = who.subject, None
        elif who.role is Role.SELLER:
            shop_id = who.shop_id
        elif who.role not in (Role.OPERATOR, Role.SERVICE, Role.REVIEWER):
            raise Forbidden("only buyers, sellers and platform staff list orders")
        rows = await service.pool.fetch(
            "SELECT * FROM orders WHERE ($1::text IS NULL OR buyer_id = $1)"
            " AND ($2::text IS NULL OR shop_id = $2) ORDER BY placed_at DESC LIMIT $3",
            buyer_id,
            shop_id,
            limit,
        )
        return [usecases.order_view(r) for r in rows]

    def order_step(
        path: str,
        summary: str,
        roles: tuple[Role, ...],
        step: Callable[[Tx, Principal, str], Awaitable[Any]],
    ) -> None:
        allowed = require(*roles)

        @router.post(
            f"/orders/{{order_id}}/{path}", tags=["orders"], summary=summary, name=f"order_{path}"
        )
        # A default, not Annotated: string annotations cannot see this closure's `roles`.
        async def handler(order_id: str, request: Request, who: Principal = allowed) -> Any:
            return await command(request, who, None, lambda tx: step(tx, who, order_id))

    order_step("pay", "Pay (buyer)", (Role.BUYER,), usecases.pay)
    order_step("cancel", "Cancel before payment (buyer)", (Role.BUYER,), usecases.cancel)
    order_step(
        "deliver",
        "Delivery reported (logistics service, operator)",
        (Role.SERVICE, Role.OPERATOR),
        usecases.deliver,
    )
    order_step("confirm", "Confirm receipt (buyer)", (Role.BUYER,), usecases.confirm)

    @router.post("/orders/{order_id}/ship", tags=["orders"], summary="Ship (seller)")
    async def ship(
        order_id: str, body: Ship, request: Request, who: Annotated[Principal, require(Role.SELLER)]
    ) -> Any:
        return await command(
            request, who, body, lambda tx: usecases.ship(tx, who, order_id, body.tracking_number)
        )

    @router.post(
        "/orders/{order_id}/review",
        status_code=201,
        tags=["orders"],
        summary="Review a completed order (buyer)",
    )
    async def review(
        order_id: str,
        body: Review,
        request: Request,
        who: Annotated[Principal, require(Role.BUYER)],
    ) -> Any:
        stars = body.model_dump(exclude={"text"})
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.review(tx, who, order_id, stars, body.text),
            created=True,
        )

    # --- after-sales ---
    @router.post(
        "/orders/{order_id}/refunds",
        status_code=201,
        tags=["after-sales"],
        summary="Ask for a refund, or a return and refund (buyer)",
    )
    async def request_refund(
        order_id: str,
        body: RequestRefund,
        request: Request,
        who: Annotated[Principal, require(Role.BUYER)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.request_refund(
                tx, who, order_id, kind=body.kind, reason=body.reason, amount_fen=body.amount_fen
            ),
            created=True,
        )

    @router.get("/orders/{order_id}/refunds", tags=["after-sales"], summary="An order's refunds")
    async def order_refunds(
        order_id: str, who: Annotated[Principal, require(*ANYONE)]
    ) -> list[dict[str, Any]]:
        order = await service.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", order_id)
        if order is None or not usecases.can_read_order(who, order):
            raise NotFound(f"no order {order_id}")
        rows = await service.pool.fetch(
            "SELECT * FROM refunds WHERE order_id = $1 ORDER BY requested_at", order_id
        )
        return [usecases.refund_view(r) for r in rows]

    @router.get("/refunds/{refund_id}", tags=["after-sales"], summary="One refund")
    async def get_refund(
        refund_id: str, who: Annotated[Principal, require(*ANYONE)]
    ) -> dict[str, Any]:
        row = await service.pool.fetchrow(
            "SELECT r.*, o.buyer_id, o.shop_id FROM refunds r JOIN orders o USING (order_id)"
            " WHERE refund_id = $1",
            refund_id,
        )
        if row is None or not usecases.can_read_order(who, row):
            raise NotFound(f"no refund {refund_id}")
        return dict(row)

    def refund_step(
        path: str,
        summary: str,
        roles: tuple[Role, ...],
        step: Callable[[Tx, Principal, str], Awaitable[Any]],
    ) -> None:
        allowed = require(*roles)

        @router.post(
            f"/refunds/{{refund_id}}/{path}",
            tags=["after-sales"],
            summary=summary,
            name=f"refund_{path}",
        )
        async def handler(refund_id: str, request: Request, who: Principal = allowed) -> Any:
            return await command(request, who, None, lambda tx: step(tx, who, refund_id))

    refund_step("approve", "Approve (seller)", (Role.SELLER,), usecases.approve_refund)
    refund_step(
        "receive", "Confirm the returned parcel (seller)", (Role.SELLER,), usecases.confirm_return
    )
    refund_step("escalate", "Dispute a rejection (buyer)", (Role.BUYER,), usecases.escalate_refund)

    @router.post("/refunds/{refund_id}/reject", tags=["after-sales"], summary="Reject (seller)")
    async def reject(
        refund_id: str,
        body: Reject,
        request: Request,
        who: Annotated[Principal, require(Role.SELLER)],
    ) -> Any:
        return await command(
            request, who, body, lambda tx: usecases.reject_refund(tx, who, refund_id, body.note)
        )

    @router.post(
        "/refunds/{refund_id}/return", tags=["after-sales"], summary="Ship the goods back (buyer)"
    )
    async def ship_return(
        refund_id: str, body: Ship, request: Request, who: Annotated[Principal, require(Role.BUYER)]
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.ship_return(tx, who, refund_id, body.tracking_number),
        )

    @router.post(
        "/refunds/{refund_id}/decide",
        tags=["after-sales"],
        summary="Decide a dispute (reviewer, operator)",
    )
    async def decide(
        refund_id: str,
        body: Decide,
        request: Request,
        who: Annotated[Principal, require(Role.REVIEWER, Role.OPERATOR)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.decide_dispute(tx, who, refund_id, body.in_favour_of),
        )

    return router
