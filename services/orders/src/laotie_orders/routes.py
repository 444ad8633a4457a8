"""HTTP entry points of the orders service: each parses its input and calls a use case
(commands, in one transaction with the Idempotency-Key honoured) or a query (reads). No
business rule lives here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from laotie_common import metrics
from laotie_common.auth import Principal, Role, require
from laotie_common.entry import Commands, Reading
from laotie_common.problems import Conflict
from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from laotie_orders import queries
from laotie_orders.access import orders_in_view
from laotie_orders.domain import IllegalTransition, RuleViolation
from laotie_orders.usecases import after_sales, catalogue, distribution, orders
from laotie_orders.usecases.orders import Reservation

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


class BrandDecision(Body):
    verified: bool
    note: Annotated[str, Field(min_length=1, max_length=2000, description="Why: audited.")]


class Profile(Body):
    text: Text


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


Title = Annotated[str, Field(min_length=1, max_length=200)]


class EditText(Body):
    """A product's words (rectification, 整改, starts here); at least one is given."""

    model_config = ConfigDict(
        json_schema_extra={  # "at least one", in the document too (clients, fuzzers)
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "string"}}}
                for name in ("title", "description")
            ]
        }
    )

    title: Title | None = None
    description: Text | None = None

    @model_validator(mode="after")
    def _something(self) -> EditText:
        if self.title is None and self.description is None:
            raise ValueError("give a title, a description or both")
        return self


class ChangeSku(Body):
    price_fen: StrictInt | None = Field(default=None, ge=0, le=10**10)
    stock: StrictInt | None = Field(default=None, ge=0, le=10**7)


class PlaceOrder(Body):
    sku_id: Id
    quantity: StrictInt = Field(default=1, ge=1, le=999)
    channel: Literal["live_room", "short_video", "shop_page", "distribution"]
    room_id: Id | None = Field(
        default=None, description="A live-room order's room: it must have a live session."
    )
    anchor_id: Id | None = Field(
        default=None,
        description="Optional: a live-room order's anchor is the room's owner; if given, it"
        " must be that owner.",
    )
    video_id: Id | None = None
    creator_id: Id | None = Field(
        default=None,
        description="Optional, with a promotion reference only: it must be the reference's"
        " creator (no order credits a creator the buyer names).",
    )
    promotion_ref: Id | None = Field(
        default=None,
        description="A creator's promotion reference (POST /distribution-plans/{id}/promotions):"
        " the only way an order credits a creator for distribution, at the plan's commission.",
    )


class OfferDistribution(Body):
    commission_rate_bp: StrictInt = Field(ge=1, le=9000, description="Basis points of the order.")
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> OfferDistribution:
        if any(t is not None and t.tzinfo is None for t in (self.starts_at, self.ends_at)):
            raise ValueError("plan times must carry a timezone")
        return self


class Promote(Body):
    placement: Literal["short_video", "live_room", "shop_window"]
    placement_id: Id | None = Field(
        default=None, description="The video's or the room's id (a shop window is the creator's)."
    )


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
    reason: Text = Field(default="", description="Why: kept in the audit trail.")


class Review(Body):
    product_stars: StrictInt = Field(ge=1, le=5)
    logistics_stars: StrictInt = Field(ge=1, le=5)
    service_stars: StrictInt = Field(ge=1, le=5)
    text: Text = ""


def domain_errors(request: Request, exc: Exception) -> Exception | None:
    """Refused transitions and broken rules are conflicts (409) with a reason."""
    if isinstance(exc, IllegalTransition):
        return Conflict(str(exc))
    if isinstance(exc, RuleViolation):
        if request.url.path == "/orders":
            metrics.ORDER_REJECTIONS.labels(exc.reason).inc()
        return Conflict(exc.detail, reason=exc.reason)
    return None


Seller = Annotated[Principal, require(Role.SELLER)]
Creator = Annotated[Principal, require(Role.ANCHOR)]
Buyer = Annotated[Principal, require(Role.BUYER)]
Anyone = Annotated[Principal, require(*ANYONE)]
Staff = Annotated[Principal, require(Role.REVIEWER, Role.OPERATOR)]
Delivery = Annotated[Principal, require(Role.SERVICE, Role.OPERATOR)]
ShopMaker = Annotated[Principal, require(Role.OPERATOR, Role.SELLER)]
Operator = Annotated[Principal, require(Role.OPERATOR)]

shops = APIRouter(tags=["shops"])
products = APIRouter(tags=["products"])
ordering = APIRouter(tags=["orders"])
refunds = APIRouter(tags=["after-sales"])


# --- shops and products ----------------------------------------------------------------------
@shops.post("/shops", status_code=201, summary="Create a shop")
async def create_shop(body: CreateShop, command: Commands, who: ShopMaker) -> Any:
    return await command(
        who,
        body,
        lambda tx: catalogue.create_shop(
            tx, who, shop_id=body.shop_id, name=body.name, kind=body.kind, owner_id=body.owner_id
        ),
    )


@shops.post(
    "/shops/{shop_id}/brand-verification",
    summary="Decide a shop's request to be a brand (operators; audited with the note)",
)
async def verify_brand(shop_id: str, body: BrandDecision, command: Commands, who: Operator) -> Any:
    return await command(
        who,
        body,
        lambda tx: catalogue.verify_brand(tx, who, shop_id, verified=body.verified, note=body.note),
        audited=True,
    )


@shops.put(
    "/shops/{shop_id}/profile",
    summary="Write the shop's profile text (店铺简介), scanned by moderation like a title",
)
async def write_profile(shop_id: str, body: Profile, command: Commands, who: Seller) -> Any:
    return await command(who, body, lambda tx: catalogue.write_profile(tx, who, shop_id, body.text))


@shops.get("/shops/{shop_id}", summary="A shop and its restrictions")
async def get_shop(shop_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.shop(conn, shop_id, datetime.now(UTC))


@products.post("/products", status_code=201, summary="List a product")
async def list_product(body: ListProduct, command: Commands, who: Seller) -> Any:
    return await command(
        who,
        body,
        lambda tx: catalogue.list_product(
            tx,
            who,
            shop_id=body.shop_id,
            title=body.title,
            description=body.description,
            ship_within_hours=body.ship_within_hours,
            skus=[s.model_dump() for s in body.skus],
        ),
    )


@products.get("/products/{product_id}", summary="A product and its SKUs")
async def get_product(product_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.product_view(conn, product_id)


@products.get("/products", summary="A shop's products")
async def list_products(
    shop_id: Annotated[str, Query(max_length=100)],
    conn: Reading,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return await queries.shop_products(conn, shop_id, limit)


@products.patch("/products/{product_id}/skus/{sku_id}", summary="Change a SKU's price or stock")
async def change_sku(
    product_id: str, sku_id: str, body: ChangeSku, command: Commands, who: Seller
) -> Any:
    return await command(
        who,
        body,
        lambda tx: catalogue.update_sku(
            tx, who, product_id, sku_id, price_fen=body.price_fen, stock=body.stock
        ),
    )


@products.patch("/products/{product_id}", summary="Change a product's title or description")
async def edit_text(product_id: str, body: EditText, command: Commands, who: Seller) -> Any:
    return await command(
        who,
        body,
        lambda tx: catalogue.edit_text(
            tx, who, product_id, title=body.title, description=body.description
        ),
        audited=True,
    )


@products.post(
    "/products/{product_id}/resubmit",
    summary="Ask for a product banned for its content to be sold again with its edited text"
    " (rectification, 整改): moderation re-scans it",
)
async def resubmit(product_id: str, command: Commands, who: Seller) -> Any:
    return await command(
        who, None, lambda tx: catalogue.resubmit_product(tx, who, product_id), audited=True
    )


@products.post("/products/{product_id}/delist", summary="Stop selling")
async def delist(product_id: str, command: Commands, who: Seller) -> Any:
    return await command(who, None, lambda tx: catalogue.delist_product(tx, who, product_id))


@products.post("/products/{product_id}/relist", summary="Sell again")
async def relist(product_id: str, command: Commands, who: Seller) -> Any:
    return await command(who, None, lambda tx: catalogue.relist_product(tx, who, product_id))


# --- distribution (达人分销) -------------------------------------------------------------------
@products.post(
    "/products/{product_id}/distribution-plans",
    status_code=201,
    summary="Offer a product to creators at a commission (replaces the open plan)",
)
async def offer_distribution(
    product_id: str, body: OfferDistribution, command: Commands, who: Seller
) -> Any:
    return await command(
        who,
        body,
        lambda tx: distribution.offer_distribution(
            tx,
            who,
            product_id,
            commission_rate_bp=body.commission_rate_bp,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
        ),
        audited=True,
    )


@products.get("/products/{product_id}/distribution-plans", summary="A product's plans")
async def product_plans(product_id: str, who: Anyone, conn: Reading) -> list[dict[str, Any]]:
    return await queries.product_plans(conn, product_id)


@products.post(
    "/distribution-plans/{plan_id}/promotions",
    status_code=201,
    summary="A creator takes a product into a video, a room or their shop window: its reference",
)
async def promote(plan_id: str, body: Promote, command: Commands, who: Creator) -> Any:
    return await command(
        who,
        body,
        lambda tx: distribution.promote(
            tx, who, plan_id, placement=body.placement, placement_id=body.placement_id
        ),
    )


# --- orders ----------------------------------------------------------------------------------
@ordering.post("/orders", status_code=201, summary="Place an order: reserves stock atomically")
async def place(body: PlaceOrder, command: Commands, who: Buyer) -> Any:
    attribution = body.model_dump(exclude={"sku_id", "quantity"})
    return await command(
        who,
        body,
        lambda tx: orders.place_order(
            tx, who, sku_id=body.sku_id, quantity=body.quantity, attribution=attribution
        ),
        # reservations of one SKU are decided and committed together
        lane=("place_order", body.sku_id, Reservation(who, body.quantity, attribution)),
    )


@ordering.get(
    "/live-rooms/{room_id}", summary="A live room as orders knows it: its owner, whether it is live"
)
async def live_room(room_id: str, who: Anyone, conn: Reading) -> dict[str, Any]:
    return await queries.live_room_view(conn, room_id)


@ordering.get("/orders/{order_id}", summary="One order")
async def get_order(order_id: str, who: Anyone, conn: Reading) -> dict[str, Any]:
    return await queries.order(conn, who, order_id)


@dataclass(frozen=True)
class Listing:
    buyer_id: str | None
    shop_id: str | None
    limit: int


async def _listing(
    who: Anyone,
    buyer_id: Annotated[str | None, Query(max_length=100)] = None,
    shop_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Listing:
    """What an order listing shows ``who``, decided before a connection is taken: a caller
    who may not list orders is refused without one."""
    return Listing(*orders_in_view(who, buyer_id, shop_id), limit)


@ordering.get("/orders", summary="Orders of a buyer or a shop, newest first")
async def find_orders(
    listing: Annotated[Listing, Depends(_listing)], conn: Reading
) -> list[dict[str, Any]]:
    return await queries.orders(conn, listing.buyer_id, listing.shop_id, listing.limit)


@ordering.post("/orders/{order_id}/pay", summary="Pay (buyer)", name="order_pay")
async def pay(order_id: str, command: Commands, who: Buyer) -> Any:
    return await command(who, None, lambda tx: orders.pay(tx, who, order_id))


@ordering.post(
    "/orders/{order_id}/cancel", summary="Cancel before payment (buyer)", name="order_cancel"
)
async def cancel(order_id: str, command: Commands, who: Buyer) -> Any:
    return await command(who, None, lambda tx: orders.cancel(tx, who, order_id))


@ordering.post(
    "/orders/{order_id}/deliver",
    summary="Delivery reported (logistics service, operator)",
    name="order_deliver",
)
async def deliver(order_id: str, command: Commands, who: Delivery) -> Any:
    return await command(who, None, lambda tx: orders.deliver(tx, who, order_id))


@ordering.post(
    "/orders/{order_id}/confirm", summary="Confirm receipt (buyer)", name="order_confirm"
)
async def confirm(order_id: str, command: Commands, who: Buyer) -> Any:
    return await command(who, None, lambda tx: orders.confirm(tx, who, order_id))


@ordering.post("/orders/{order_id}/ship", summary="Ship (seller)")
async def ship(order_id: str, body: Ship, command: Commands, who: Seller) -> Any:
    return await command(who, body, lambda tx: orders.ship(tx, who, order_id, body.tracking_number))


@ordering.post(
    "/orders/{order_id}/review", status_code=201, summary="Review a completed order (buyer)"
)
async def review(order_id: str, body: Review, command: Commands, who: Buyer) -> Any:
    stars = body.model_dump(exclude={"text"})
    return await command(
        who, body, lambda tx: after_sales.review(tx, who, order_id, stars, body.text)
    )


# --- after-sales -----------------------------------------------------------------------------
@refunds.post(
    "/orders/{order_id}/refunds",
    status_code=201,
    summary="Ask for a refund, or a return and refund (buyer)",
)
async def request_refund(order_id: str, body: RequestRefund, command: Commands, who: Buyer) -> Any:
    return await command(
        who,
        body,
        lambda tx: after_sales.request_refund(
            tx, who, order_id, kind=body.kind, reason=body.reason, amount_fen=body.amount_fen
        ),
    )


@refunds.get("/orders/{order_id}/refunds", summary="An order's refunds")
async def order_refunds(order_id: str, who: Anyone, conn: Reading) -> list[dict[str, Any]]:
    return await queries.order_refunds(conn, who, order_id)


@refunds.get("/refunds/{refund_id}", summary="One refund")
async def get_refund(refund_id: str, who: Anyone, conn: Reading) -> dict[str, Any]:
    return await queries.refund(conn, who, refund_id)


@refunds.post("/refunds/{refund_id}/approve", summary="Approve (seller)", name="refund_approve")
async def approve(refund_id: str, command: Commands, who: Seller) -> Any:
    return await command(who, None, lambda tx: after_sales.approve_refund(tx, who, refund_id))


@refunds.post(
    "/refunds/{refund_id}/receive",
    summary="Confirm the returned parcel (seller)",
    name="refund_receive",
)
async def receive(refund_id: str, command: Commands, who: Seller) -> Any:
    return await command(who, None, lambda tx: after_sales.confirm_return(tx, who, refund_id))


@refunds.post(
    "/refunds/{refund_id}/escalate", summary="Dispute a rejection (buyer)", name="refund_escalate"
)
async def escalate(refund_id: str, command: Commands, who: Buyer) -> Any:
    return await command(who, None, lambda tx: after_sales.escalate_refund(tx, who, refund_id))


@refunds.post("/refunds/{refund_id}/reject", summary="Reject (seller)")
async def reject(refund_id: str, body: Reject, command: Commands, who: Seller) -> Any:
    return await command(
        who, body, lambda tx: after_sales.reject_refund(tx, who, refund_id, body.note)
    )


@refunds.post("/refunds/{refund_id}/return", summary="Ship the goods back (buyer)")
async def ship_return(refund_id: str, body: Ship, command: Commands, who: Buyer) -> Any:
    return await command(
        who, body, lambda tx: after_sales.ship_return(tx, who, refund_id, body.tracking_number)
    )


@refunds.post("/refunds/{refund_id}/decide", summary="Decide a dispute (reviewer, operator)")
async def decide(refund_id: str, body: Decide, command: Commands, who: Staff) -> Any:
    return await command(
        who, body, lambda tx: after_sales.decide_dispute(tx, who, refund_id, body.in_favour_of)
    )


router = APIRouter()
for part in (shops, products, ordering, refunds):
    router.include_router(part)
