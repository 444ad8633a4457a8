"""Events of the ``orders`` service: ``orders.product`` and ``orders.order``.

Every order event carries the order's facts (shop, buyer, product, amounts and the
channel attribution), so a subscriber can act on any one event without keeping state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from laotie_contracts.common import Fen, Id, UtcTime
from laotie_contracts.events import Event, event

PRODUCT_TOPIC = "orders.product"
SHOP_TOPIC = "orders.shop"
ORDER_TOPIC = "orders.order"

ProductStatus = Literal["active", "delisted", "banned"]
OrderStatus = Literal["placed", "paid", "shipped", "delivered", "completed", "cancelled"]
# The statuses of an order that has been paid (a cancelled one was paid if it was refunded).
PAID_STATUSES: frozenset[str] = frozenset({"paid", "shipped", "delivered", "completed"})
Channel = Literal["live_room", "short_video", "shop_page", "distribution"]
RefundKind = Literal["refund_only", "return_and_refund"]
RefundReason = Literal["quality", "not_as_described", "not_received", "changed_mind"]


# --- orders.product ---------------------------------------------------------------------
class SkuFacts(BaseModel):
    sku_id: Id
    name: str
    price_fen: Fen
    stock: int = Field(ge=0)
    per_buyer_limit: int | None = Field(default=None, ge=1)
    sale_starts_at: UtcTime | None = None
    sale_ends_at: UtcTime | None = None


class ProductFacts(Event):
    """A product's full state after the change the event names."""

    product_id: Id
    shop_id: Id
    shop_kind: Literal["merchant", "brand"]
    title: str
    description: str
    status: ProductStatus
    ship_within_hours: int = Field(ge=1)
    skus: list[SkuFacts]
    occurred_at: UtcTime


@event("orders.product.listed", topic=PRODUCT_TOPIC, key="product_id")
class ProductListed(ProductFacts):
    """A seller listed a new product."""


@event("orders.product.changed", topic=PRODUCT_TOPIC, key="product_id")
class ProductChanged(ProductFacts):
    """Title, description, price or stock changed."""


@event("orders.product.delisted", topic=PRODUCT_TOPIC, key="product_id")
class ProductDelisted(ProductFacts):
    """The product takes no orders: by its seller, or banned by moderation (``penalty_id``)."""

    reason: Literal["seller", "moderation"]
    penalty_id: str | None = None


@event("orders.product.relisted", topic=PRODUCT_TOPIC, key="product_id")
class ProductRelisted(ProductFacts):
    """Active again: relisted by its seller, a moderation ban revoked on appeal, or lifted
    once the product was rectified (整改)."""

    reason: Literal["seller", "moderation_revoked", "rectified"]


@event("orders.product.resubmitted", topic=PRODUCT_TOPIC, key="product_id")
class ProductResubmitted(ProductFacts):
    """Rectification (整改): the seller asks for a product banned for its content to be sold
    again with its text as it stands now (edited since: ``orders.product.changed``).
    Moderation re-scans it and lifts the bans the text caused, or queues it for a reviewer."""

    resubmission_id: Id


@event("orders.product.distribution_offered", topic=PRODUCT_TOPIC, key="product_id")
class DistributionOffered(Event):
    """The shop offers the product to creators for distribution (达人分销) at a commission,
    from ``starts_at`` until ``ends_at`` (or until the shop replaces the plan:
    ``replaces_plan_id`` names the plan this one ends). Orders through a creator's promotion
    of it carry ``plan_id`` and this commission."""

    plan_id: Id
    product_id: Id
    shop_id: Id
    shop_kind: Literal["merchant", "brand"]
    commission_rate_bp: int = Field(ge=1, le=9000, description="Basis points of the order.")
    starts_at: UtcTime
    ends_at: UtcTime | None = None
    replaces_plan_id: Id | None = None
    occurred_at: UtcTime


@event("orders.product.promoted", topic=PRODUCT_TOPIC, key="product_id")
class ProductPromoted(Event):
    """A creator took the product into a short video, a live room or their shop window
    under a distribution plan; orders placed through it carry ``promotion_id``."""

    promotion_id: Id
    plan_id: Id
    product_id: Id
    shop_id: Id
    creator_id: Id
    placement: Literal["short_video", "live_room", "shop_window"]
    placement_id: Id = Field(description="The video's or room's id; the creator's for a window.")
    commission_rate_bp: int = Field(ge=1, le=9000)
    occurred_at: UtcTime


# --- orders.shop ------------------------------------------------------------------------
@event("orders.shop.profile_changed", topic=SHOP_TOPIC, key="shop_id")
class ShopProfileChanged(Event):
    """A shop's seller wrote its profile text (店铺简介), where sellers also post contact
    details: moderation scans it like a title. ``revision_id`` names this text: a decision
    on it (hiding it) never reaches a later one."""

    shop_id: Id
    shop_kind: Literal["merchant", "brand"]
    text: str
    revision_id: Id
    occurred_at: UtcTime


@event("orders.shop.brand_verified", topic=SHOP_TOPIC, key="shop_id")
class ShopBrandVerified(Event):
    """An operator verified the shop as a brand (品牌): from now its events carry
    ``shop_kind: brand`` (Chuanliu serves brands only). A shop asking to be a brand is a
    merchant until then."""

    shop_id: Id
    verified_by: Id
    note: str
    occurred_at: UtcTime


# --- orders.order -----------------------------------------------------------------------
class Attribution(BaseModel):
    """Where the sale happened and who gets credit for it."""

    channel: Channel
    room_id: str | None = None
    anchor_id: str | None = None
    video_id: str | None = None
    creator_id: str | None = None
    commission_rate_bp: int | None = Field(
        default=None,
        ge=0,
        le=10_000,
        description="Distribution commission, basis points: the plan's (``plan_id``).",
    )
    plan_id: str | None = Field(
        default=None, description="The distribution plan a creator's promotion sold under."
    )
    promotion_id: str | None = Field(
        default=None,
        description="The creator's promotion the order came through: set exactly when a"
        " creator is credited for distribution (``creator_id``, ``commission_rate_bp``).",
    )


class OrderFacts(Event):
    order_id: Id
    shop_id: Id
    shop_kind: Literal["merchant", "brand"]
    buyer_id: Id
    product_id: Id
    sku_id: Id
    quantity: int = Field(ge=1)
    unit_price_fen: Fen
    total_fen: Fen
    refunded_fen: Fen = 0
    attribution: Attribution
    status: OrderStatus
    placed_at: UtcTime
    occurred_at: UtcTime

    def was_paid(self) -> bool:
        """Whether the order had been paid when this fact was emitted."""
        return self.status in PAID_STATUSES or self.refunded_fen > 0


@event("orders.order.placed", topic=ORDER_TOPIC, key="order_id")
class OrderPlaced(OrderFacts):
    """Stock is reserved; the buyer has ``payment_due_at`` to pay."""

    payment_due_at: UtcTime


@event("orders.order.paid", topic=ORDER_TOPIC, key="order_id")
class OrderPaid(OrderFacts):
    ship_by: UtcTime


@event("orders.order.cancelled", topic=ORDER_TOPIC, key="order_id")
class OrderCancelled(OrderFacts):
    """Stock released. ``refunded_before_shipment``: paid, then fully refunded unshipped."""

    reason: Literal["buyer", "payment_timeout", "refunded_before_shipment"]


@event("orders.order.shipment_overdue", topic=ORDER_TOPIC, key="order_id")
class ShipmentOverdue(OrderFacts):
    """Paid and not shipped by its deadline. Emitted once per order."""

    ship_by: UtcTime


@event("orders.order.shipped", topic=ORDER_TOPIC, key="order_id")
class OrderShipped(OrderFacts):
    tracking_number: str
    ship_by: UtcTime
    late: bool


@event("orders.order.delivered", topic=ORDER_TOPIC, key="order_id")
class OrderDelivered(OrderFacts):
    shipped_at: UtcTime
    auto_complete_at: UtcTime


@event("orders.order.completed", topic=ORDER_TOPIC, key="order_id")
class OrderCompleted(OrderFacts):
    """The buyer confirmed receipt, or the confirm window lapsed (``automatic``)."""

    automatic: bool


class RefundFacts(OrderFacts):
    refund_id: Id
    refund_kind: RefundKind
    refund_reason: RefundReason
    refund_amount_fen: Fen


@event("orders.order.refund_requested", topic=ORDER_TOPIC, key="order_id")
class RefundRequested(RefundFacts):
    answer_due_at: UtcTime
    after_shipment: bool


@event("orders.order.refund_approved", topic=ORDER_TOPIC, key="order_id")
class RefundApproved(RefundFacts):
    """Approved by the merchant, or automatically when the answer window lapsed."""

    automatic: bool
    answered_after_s: float = Field(ge=0, description="Request to answer, in seconds.")
    return_due_at: UtcTime | None = None


@event("orders.order.refund_rejected", topic=ORDER_TOPIC, key="order_id")
class RefundRejected(RefundFacts):
    answered_after_s: float = Field(ge=0)
    note: str = ""


@event("orders.order.refund_escalated", topic=ORDER_TOPIC, key="order_id")
class RefundEscalated(RefundFacts):
    """The buyer took a rejected request to the platform: a dispute."""


@event("orders.order.refund_dispute_decided", topic=ORDER_TOPIC, key="order_id")
class RefundDisputeDecided(RefundFacts):
    in_favour_of: Literal["buyer", "merchant"]
    decided_by: str


@event("orders.order.return_shipped", topic=ORDER_TOPIC, key="order_id")
class ReturnShipped(RefundFacts):
    tracking_number: str
    receive_due_at: UtcTime


@event("orders.order.return_received", topic=ORDER_TOPIC, key="order_id")
class ReturnReceived(RefundFacts):
    """The merchant confirmed the returned parcel, or the receipt window lapsed."""

    automatic: bool


@event("orders.order.refunded", topic=ORDER_TOPIC, key="order_id")
class OrderRefunded(RefundFacts):
    """Money went back to the buyer; ``refunded_fen`` is the order's running total."""


@event("orders.order.refund_closed", topic=ORDER_TOPIC, key="order_id")
class RefundClosed(RefundFacts):
    """Ended without a refund."""

    why: Literal["return_window_lapsed", "dispute_lost", "withdrawn"]


@event("orders.order.reviewed", topic=ORDER_TOPIC, key="order_id")
class OrderReviewed(OrderFacts):
    product_stars: int = Field(ge=1, le=5)
    logistics_stars: int = Field(ge=1, le=5)
    service_stars: int = Field(ge=1, le=5)
    text: str = Field(default="", max_length=2000)


ORDER_EVENT_TYPES: tuple[str, ...] = tuple(
    cls.ce_type
    for cls in (
        OrderPlaced,
        OrderPaid,
        OrderCancelled,
        ShipmentOverdue,
        OrderShipped,
        OrderDelivered,
        OrderCompleted,
        RefundRequested,
        RefundApproved,
        RefundRejected,
        RefundEscalated,
        RefundDisputeDecided,
        ReturnShipped,
        ReturnReceived,
        OrderRefunded,
        RefundClosed,
        OrderReviewed,
    )
)

PRODUCT_EVENT_TYPES: tuple[str, ...] = tuple(
    cls.ce_type
    for cls in (ProductListed, ProductChanged, ProductDelisted, ProductRelisted, ProductResubmitted)
)


CATALOGUE_BY_TYPE: dict[str, type[OrderFacts]] = {
    cls.ce_type: cls
    for cls in OrderFacts.__subclasses__() + RefundFacts.__subclasses__()
    if hasattr(cls, "ce_type")
}
