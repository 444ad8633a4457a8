"""What the moderation service applies from other services' streams: each handler parses
its event and calls a detection use case in the unit of work it is given (``usecases.
detection`` says what each decides).

- ``live.comment``: diversion in comments;
- ``live.room``: diversion and false advertising in room and session titles;
- ``orders.product``: the same in the texts of products listed, changed or relisted, and
  products resubmitted for rectification (整改, ``usecases.rectification``);
- ``orders.shop`` and ``live.profile``: the same in shops', anchors' and creators' own
  profile texts;
- ``orders.order``: orders due to ship and shipments overdue (late shipment, judged per shop
  and week), refunds approved because the seller never answered.
"""

from __future__ import annotations

from laotie_common.consumer import Later
from laotie_common.envelope import Envelope
from laotie_contracts import live as live_events
from laotie_contracts import orders as order_events

from laotie_moderation.usecases import Tx, detection, rectification


async def on_comment(tx: Tx, envelope: Envelope) -> None:
    await detection.check_comment(tx, envelope.parse(live_events.CommentPosted), envelope.id)


async def on_room(tx: Tx, envelope: Envelope) -> None:
    await detection.check_room(tx, envelope.parse(live_events.RoomFacts), envelope.id)


async def on_product(tx: Tx, envelope: Envelope) -> None:
    await detection.check_product(tx, envelope.parse(order_events.ProductFacts), envelope.id)


async def on_shop_profile(tx: Tx, envelope: Envelope) -> None:
    profile = envelope.parse(order_events.ShopProfileChanged)
    await detection.check_shop_profile(tx, profile, envelope.id)


async def on_profile(tx: Tx, envelope: Envelope) -> None:
    await detection.check_profile(tx, envelope.parse(live_events.ProfileChanged), envelope.id)


async def on_resubmitted(tx: Tx, envelope: Envelope) -> None:
    await rectification.review_resubmission(tx, envelope.parse(order_events.ProductResubmitted))


async def on_paid(tx: Tx, envelope: Envelope) -> Later:
    return detection.note_due(tx, envelope.parse(order_events.OrderPaid))


async def on_overdue(tx: Tx, envelope: Envelope) -> None:
    await detection.note_late_shipment(tx, envelope.parse(order_events.ShipmentOverdue))


async def on_refund_approved(tx: Tx, envelope: Envelope) -> None:
    refund = envelope.parse(order_events.RefundApproved)
    await detection.charge_unanswered_refund(tx, refund, envelope.id)


HANDLERS = {
    "live.comment.posted": on_comment,
    "live.room.created": on_room,
    "live.room.session_started": on_room,
    # a delisted product is not scanned (only active products are)
    "orders.product.listed": on_product,
    "orders.product.changed": on_product,
    "orders.product.relisted": on_product,
    "orders.product.resubmitted": on_resubmitted,
    "orders.shop.profile_changed": on_shop_profile,
    "live.profile.changed": on_profile,
    "orders.order.paid": on_paid,
    "orders.order.shipment_overdue": on_overdue,
    "orders.order.refund_approved": on_refund_approved,
}
