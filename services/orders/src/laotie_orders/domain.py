"""The orders domain without I/O: lifecycle state machines, placement and refund rules.

Every rule here is a pure function of its inputs, so it is tabled in the unit tests.
An illegal move raises :class:`IllegalTransition` (HTTP 409) and the caller changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class IllegalTransition(Exception):
    """The requested move is not allowed from the current state."""


class RuleViolation(Exception):
    """The request breaks a business rule (stock, limits, windows, amounts): HTTP 409."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- the order ---------------------------------------------------------------------------
class OrderStatus(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OrderAction(StrEnum):
    PAY = "pay"
    CANCEL = "cancel"  # by the buyer, before payment
    EXPIRE = "expire"  # the payment timeout lapsed
    SHIP = "ship"
    REFUND_IN_FULL = "refund_in_full"  # paid, then fully refunded before shipment
    DELIVER = "deliver"
    CONFIRM = "confirm"  # the buyer confirms receipt
    AUTO_COMPLETE = "auto_complete"  # the confirm window lapsed


ORDER_TRANSITIONS: dict[tuple[OrderStatus, OrderAction], OrderStatus] = {
    (OrderStatus.PLACED, OrderAction.PAY): OrderStatus.PAID,
    (OrderStatus.PLACED, OrderAction.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.PLACED, OrderAction.EXPIRE): OrderStatus.CANCELLED,
    (OrderStatus.PAID, OrderAction.SHIP): OrderStatus.SHIPPED,
    (OrderStatus.PAID, OrderAction.REFUND_IN_FULL): OrderStatus.CANCELLED,
    (OrderStatus.SHIPPED, OrderAction.DELIVER): OrderStatus.DELIVERED,
    (OrderStatus.DELIVERED, OrderAction.CONFIRM): OrderStatus.COMPLETED,
    (OrderStatus.DELIVERED, OrderAction.AUTO_COMPLETE): OrderStatus.COMPLETED,
}


def next_order_status(status: OrderStatus | str, action: OrderAction) -> OrderStatus:
    status = OrderStatus(status)
    try:
        return ORDER_TRANSITIONS[(status, action)]
    except KeyError:
        raise IllegalTransition(
            f"cannot {action.value.replace('_', ' ')} an order that is {status.value}"
        ) from None


# --- refunds (售后) ------------------------------------------------------------------------
class RefundKind(StrEnum):
    REFUND_ONLY = "refund_only"
    RETURN_AND_REFUND = "return_and_refund"


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    REJECTED = "rejected"
    DISPUTED = "disputed"
    AWAITING_RETURN = "awaiting_return"
    RETURNED = "returned"
    REFUNDED = "refunded"
    CLOSED = "closed"


class RefundAction(StrEnum):
    APPROVE = "approve"
    AUTO_APPROVE = "auto_approve"  # the merchant's answer window lapsed
    REJECT = "reject"
    ESCALATE = "escalate"  # the buyer disputes a rejection
    DECIDE_FOR_BUYER = "decide_for_buyer"
    DECIDE_FOR_MERCHANT = "decide_for_merchant"
    SHIP_RETURN = "ship_return"
    LAPSE_RETURN = "lapse_return"  # the buyer did not ship the return in time
    RECEIVE = "receive"
    AUTO_RECEIVE = "auto_receive"  # the merchant's receipt window lapsed


OPEN_REFUND_STATUSES = frozenset(
    {
        RefundStatus.REQUESTED,
        RefundStatus.DISPUTED,
        RefundStatus.AWAITING_RETURN,
        RefundStatus.RETURNED,
    }
)


def next_refund_status(
    status: RefundStatus | str, kind: RefundKind | str, action: RefundAction
) -> RefundStatus:
    """Where a refund goes. Approval refunds at once, or first waits for the goods back."""
    status, kind = RefundStatus(status), RefundKind(kind)
    granted = (
        RefundStatus.AWAITING_RETURN
        if kind is RefundKind.RETURN_AND_REFUND
        else RefundStatus.REFUNDED
    )
    table: dict[tuple[RefundStatus, RefundAction], RefundStatus] = {
        (RefundStatus.REQUESTED, RefundAction.APPROVE): granted,
        (RefundStatus.REQUESTED, RefundAction.AUTO_APPROVE): granted,
        (RefundStatus.REQUESTED, RefundAction.REJECT): RefundStatus.REJECTED,
        (RefundStatus.REJECTED, RefundAction.ESCALATE): RefundStatus.DISPUTED,
        (RefundStatus.DISPUTED, RefundAction.DECIDE_FOR_BUYER): granted,
        (RefundStatus.DISPUTED, RefundAction.DECIDE_FOR_MERCHANT): RefundStatus.CLOSED,
        (RefundStatus.AWAITING_RETURN, RefundAction.SHIP_RETURN): RefundStatus.RETURNED,
        (RefundStatus.AWAITING_RETURN, RefundAction.LAPSE_RETURN): RefundStatus.CLOSED,
        (RefundStatus.RETURNED, RefundAction.RECEIVE): RefundStatus.REFUNDED,
        (RefundStatus.RETURNED, RefundAction.AUTO_RECEIVE): RefundStatus.REFUNDED,
    }
    try:
        return table[(status, action)]
    except KeyError:
        raise IllegalTransition(
            f"cannot {action.value.replace('_', ' ')} a refund that is {status.value}"
        ) from None


REFUNDABLE_ORDER_STATUSES = frozenset(
    {OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}
)


def check_refund_request(
    order_status: OrderStatus | str,
    kind: RefundKind | str,
    amount_fen: int,
    total_fen: int,
    refunded_fen: int,
) -> None:
    """A refund needs a paid order, goods sent for a return, and money left to give back."""
    order_status, kind = OrderStatus(order_status), RefundKind(kind)
    if order_status not in REFUNDABLE_ORDER_STATUSES:
        raise IllegalTransition(f"cannot request a refund for an order that is {order_status}")
    if kind is RefundKind.RETURN_AND_REFUND and order_status is OrderStatus.PAID:
        raise IllegalTransition("nothing to return: the order has not shipped; ask for a refund")
    left = total_fen - refunded_fen
    if amount_fen < 1 or amount_fen > left:
        raise RuleViolation(
            "refund_exceeds_paid",
            f"a refund must be 1 to {left} fen (paid "
            f"{total_fen}, already refunded {refunded_fen}); asked {amount_fen}",
        )


def cancelled_by_refund(order_status: OrderStatus | str, refunded_fen: int, total_fen: int) -> bool:
    """A paid order refunded in full before shipment is cancelled."""
    return order_status == OrderStatus.PAID and refunded_fen == total_fen


# --- shops: what moderation's restrictions block -------------------------------------------
SHOP_SELLING_BLOCKS = frozenset({"suspend", "close"})
SHOP_LISTING_BLOCKS = frozenset({"listing_ban", "suspend", "close"})
SHOP_MEASURES = frozenset({"listing_ban", "suspend", "close"})  # penalties kept per shop
# Measures that take goods off sale: the products named, else all the shop's. A closed shop's
# goods go too, so that no room can pin them nor any link sell them.
DELISTING_MEASURES = frozenset({"delist_products", "close"})


def check_listing(restrictions: Iterable[str], who: str) -> None:
    """A shop under a listing ban, suspended or closed lists nothing (``who``: the shop as
    the refusal names it)."""
    blocks = set(restrictions) & SHOP_LISTING_BLOCKS
    if blocks:
        raise RuleViolation(
            "listing_banned", f"{who} may not list products now ({', '.join(sorted(blocks))})"
        )


def penalised_shop(subject_type: str, subject_id: str, shop_id: str | None) -> str | None:
    """The shop a penalty reaches: the one it names, or its subject when that is a shop."""
    return shop_id or (subject_id if subject_type == "shop" else None)


def named_products(subject_type: str, subject_id: str, product_ids: Sequence[str]) -> list[str]:
    """The products a delisting names: its list, else its subject when that is a product
    (none named: all the shop's products)."""
    ids = list(product_ids)
    if subject_type == "product" and not ids:
        ids = [subject_id]
    return ids


def restriction_until(kind: str, until: datetime | None) -> datetime | None:
    """How long a shop measure lasts: a closure is for good, the others as the penalty says."""
    return None if kind == "close" else until


# --- placement -----------------------------------------------------------------------------
def check_sellable(
    product_id: str,
    product_status: str,
    shop_id: str,
    restrictions: Iterable[str],
    sale: SaleWindow,
    now: datetime,
) -> None:
    """A SKU sells while its product is active, its shop neither suspended nor closed, and
    its sale window open."""
    if product_status != "active":
        raise RuleViolation("product_unavailable", f"product {product_id} is {product_status}")
    blocks = set(restrictions) & SHOP_SELLING_BLOCKS
    if blocks:
        raise RuleViolation(
            "shop_suspended", f"shop {shop_id} sells nothing now ({', '.join(sorted(blocks))})"
        )
    sale.check(now)


def refusal(reason: str, sku_id: str, quantity: int, per_buyer_limit: int | None) -> RuleViolation:
    """The refusal of a reservation :func:`allot` did not grant, by its reason."""
    if reason == "limit_exceeded":
        return RuleViolation(reason, f"at most {per_buyer_limit} per buyer for this SKU")
    if reason == "unpaid_orders_open":
        return RuleViolation(reason, f"pay or cancel your open orders of SKU {sku_id} first")
    return RuleViolation(reason, f"not enough stock for {quantity} of SKU {sku_id}")


@dataclass(frozen=True)
class Allotment:
    """Reservations of one SKU decided together: per reservation None (granted) or why not,
    the stock left, and the buyers' new holdings (only those that changed)."""

    refusals: list[str | None]
    stock_left: int
    holdings: dict[str, int]


@dataclass(frozen=True)
class Unpaid:
    """How many placed, not yet paid orders of the SKU each buyer has open, and how many one
    buyer may have: a buyer cannot hold a flash sale's stock with orders never paid."""

    open: Mapping[str, int]
    cap: int

    def full(self, buyer: str, granted: Mapping[str, int]) -> bool:
        return self.open.get(buyer, 0) + granted.get(buyer, 0) >= self.cap


def allot(
    stock: int,
    per_buyer_limit: int | None,
    held: Mapping[str, int],
    wanted: Sequence[tuple[str, int]],
    unpaid: Unpaid | None = None,
) -> Allotment:
    """Decide ``wanted`` (buyer, quantity) in arrival order exactly as one by one: a buyer
    with ``unpaid.cap`` unpaid orders of the SKU is refused first, then over the per-buyer
    limit (限购), then too little stock; a refused reservation takes nothing, so a later,
    smaller one may still be granted."""
    holdings = dict(held)
    granted: dict[str, int] = {}
    refusals: list[str | None] = []
    for buyer, quantity in wanted:
        total = holdings.get(buyer, 0) + quantity
        if unpaid is not None and unpaid.full(buyer, granted):
            refusals.append("unpaid_orders_open")
        elif per_buyer_limit is not None and total > per_buyer_limit:
            refusals.append("limit_exceeded")
        elif quantity > stock:
            refusals.append("out_of_stock")
        else:
            stock -= quantity
            holdings[buyer] = total
            granted[buyer] = granted.get(buyer, 0) + 1
            refusals.append(None)
    changed = {b: q for b, q in holdings.items() if held.get(b) != q}
    return Allotment(refusals, stock, changed if per_buyer_limit is not None else {})


@dataclass(frozen=True)
class SaleWindow:
    starts_at: datetime | None
    ends_at: datetime | None

    def check(self, now: datetime) -> None:
        if self.starts_at is not None and now < self.starts_at:
            raise RuleViolation("sale_not_started", f"the sale starts at {self.starts_at}")
        if self.ends_at is not None and now >= self.ends_at:
            raise RuleViolation("sale_ended", f"the sale ended at {self.ends_at}")


# The attribution an order's body must give, by channel: a live room (its anchor is the
# room's owner; the body may name it, and then it must match), a video (its creator is credited
# only through a promotion reference, and one named must be the reference's); a
# distribution order (a creator's shop window, 橱窗) only its promotion reference. Live-room
# and video orders may carry one too (a creator selling a shop's goods in their own room or
# video); a shop-page order names nobody.
OPTIONAL_ATTRIBUTION = {"live_room": ("anchor_id",), "short_video": ("creator_id",)}
REQUIRED_ATTRIBUTION = {
    "live_room": ("room_id",),
    "short_video": ("video_id",),
    "distribution": ("promotion_ref",),
    "shop_page": (),
}
PROMOTABLE = {"live_room": "live_room", "short_video": "short_video", "distribution": "shop_window"}


def check_attribution(channel: str, fields: dict[str, object]) -> None:
    """What the body of a ``channel`` order must and may name (see ``REQUIRED_ATTRIBUTION``)."""
    required = REQUIRED_ATTRIBUTION[channel]
    missing = [f for f in required if fields.get(f) in (None, "")]
    if missing:
        raise RuleViolation(
            "attribution_incomplete", f"a {channel} order needs {', '.join(missing)}"
        )
    allowed = {
        *required,
        *OPTIONAL_ATTRIBUTION.get(channel, ()),
        "channel",
        *(("promotion_ref",) if channel in PROMOTABLE else ()),
    }
    extra = [k for k, v in fields.items() if v not in (None, "") and k not in allowed]
    if extra:
        raise RuleViolation(
            "attribution_inconsistent",
            f"a {channel} order does not take {', '.join(sorted(extra))}",
        )


@dataclass(frozen=True)
class Promotion:
    """A creator's promotion of a product under a shop's distribution plan (达人分销), as an
    order's reference finds it."""

    promotion_id: str
    plan_id: str
    product_id: str
    creator_id: str
    placement: str  # short_video | live_room | shop_window
    placement_id: str
    commission_rate_bp: int
    starts_at: datetime
    ends_at: datetime | None
    ended_at: datetime | None

    def open_at(self, now: datetime) -> bool:
        return self.starts_at <= now and not plan_over(self.ends_at, self.ended_at, now)


def plan_over(ends_at: datetime | None, ended_at: datetime | None, now: datetime) -> bool:
    """Whether a distribution plan is over at ``now``: past its end, or ended by its shop."""
    ended = min((t for t in (ends_at, ended_at) if t is not None), default=None)
    return ended is not None and now >= ended


@dataclass(frozen=True)
class LiveRoom:
    """A live room as ``live.room`` told of it: its owner (an anchor, a creator, or for a
    brand's own room the shop), and the session live in it, if any."""

    room_id: str
    owner_id: str
    session_id: str | None


def in_live_room(fields: dict[str, Any], room: LiveRoom | None) -> dict[str, Any]:
    """A live-room order's fields with the room's owner as its anchor: the room must be live,
    and an anchor the body names must be that owner (the buyer's word credits nobody)."""
    if room is None or room.session_id is None:
        raise RuleViolation("room_not_live", f"room {fields['room_id']} has no live session")
    if fields.get("anchor_id") not in (None, "", room.owner_id):
        raise RuleViolation("attribution_inconsistent", "the anchor is not this room's")
    return fields | {"anchor_id": room.owner_id}


def attribute(
    fields: dict[str, Any],
    promotion: Promotion | None,
    room: LiveRoom | None,
    product_id: str,
    now: datetime,
) -> dict[str, Any]:
    """The attribution an order is placed with: the body's fields checked, a live room's
    owner as its anchor, and with a promotion reference the promoting creator and the plan's
    commission, never the body's. A room not live, a reference that names no promotion,
    another product, another room or video, another creator than the room's or the body's,
    or a plan no longer open is refused."""
    channel = fields["channel"]
    check_attribution(channel, fields)
    if channel == "live_room":
        fields = in_live_room(fields, room)
    attribution = {k: v for k, v in fields.items() if k != "promotion_ref"}
    if fields.get("promotion_ref") in (None, ""):
        if fields.get("creator_id") not in (None, ""):
            raise RuleViolation(
                "attribution_inconsistent",
                "an order credits a creator only through a promotion reference",
            )
        return attribution
    if promotion is None:
        raise RuleViolation("promotion_invalid", "no promotion has this reference")
    if promotion.product_id != product_id:
        raise RuleViolation("promotion_invalid", "the promotion reference is for another product")
    where = {"live_room": fields.get("room_id"), "short_video": fields.get("video_id")}
    placement = PROMOTABLE[channel]
    if promotion.placement != placement or promotion.placement_id != where.get(
        channel, promotion.creator_id
    ):
        raise RuleViolation(
            "promotion_invalid", f"the promotion reference is not for this {placement}"
        )
    seller = fields.get("anchor_id") or fields.get("creator_id")
    if seller not in (None, promotion.creator_id):
        raise RuleViolation("promotion_invalid", "the promotion reference is another creator's")
    if not promotion.open_at(now):
        raise RuleViolation("promotion_ended", "the distribution plan is not open")
    return attribution | {
        "creator_id": promotion.creator_id,
        "commission_rate_bp": promotion.commission_rate_bp,
        "plan_id": promotion.plan_id,
        "promotion_id": promotion.promotion_id,
    }


@dataclass(frozen=True)
class Windows:
    """The after-sales and lifecycle windows (all *policy*, from settings)."""

    payment_timeout: timedelta
    confirm_window: timedelta
    refund_answer: timedelta
    return_window: timedelta
    receipt_window: timedelta
    ship_within_unit: timedelta = timedelta(hours=1)
    unpaid_per_sku: int = 5  # open unpaid orders one buyer may have of one SKU

    def ship_by(self, paid_at: datetime, ship_within_hours: int) -> datetime:
        return paid_at + self.ship_within_unit * ship_within_hours
