"""Detection from the event streams: comments, room titles, product texts, order facts.

Each handler turns one fact into at most one decision per rule; the violation id derives
from the fact, so replaying a stream decides nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from laotie_common import metrics
from laotie_common.consumer import AfterCommit, Handler
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_contracts import live as live_events
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import Evidence

from laotie_moderation.domain.advertising import detect_false_advertising
from laotie_moderation.domain.diversion import Finding, detect_diversion
from laotie_moderation.policy import Policy
from laotie_moderation.usecases import Subject, Tx, record_violation

Detector = Callable[[str], Finding | None]
TEXT_RULES: tuple[tuple[str, Detector], ...] = (
    ("diversion", detect_diversion),
    ("false_advertising", detect_false_advertising),
)


def handlers(policy: Policy) -> dict[str, Handler]:
    def tx(conn: Connection) -> Tx:
        return Tx(conn, datetime.now(UTC), policy)

    async def on_comment(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        comment = envelope.parse(live_events.CommentPosted)
        finding = detect_diversion(comment.text)
        if finding is None:
            return None
        t = tx(conn)
        evidence = Evidence(
            source_type="comment",
            source_id=comment.comment_id,
            session_id=comment.session_id,
            text=comment.text,
            matched_rule=finding.rule,
            source_event_id=envelope.id,
        )
        if comment.author_role == "owner":
            subject = _room_owner(
                comment.room_owner_type, comment.room_owner_id, comment.room_shop_id
            )
            code = "diversion"
        else:  # a viewer: the comment is hidden, the seller is not charged for it
            subject, code = Subject("viewer", comment.author_id), "diversion_by_viewer"
        await record_violation(
            t,
            code=code,
            subject=subject,
            evidence=evidence,
            decided_by=finding.rule,
            source_event_id=envelope.id,
        )
        return _latency(t, "comment", comment.posted_at)

    async def on_room(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        room = envelope.parse(live_events.RoomFacts)
        t = tx(conn)
        subject = _room_owner(room.owner_type, room.owner_id, room.shop_id)
        source_id = getattr(room, "session_id", None) or room.room_id
        found = await _scan(t, room.title, subject, "room_title", source_id, envelope.id)
        return _latency(t, "room_title", room.occurred_at) if found else None

    async def on_product(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        product = envelope.parse(order_events.ProductFacts)
        if product.status != "active":
            return None
        t = tx(conn)
        subject = Subject("shop", product.shop_id, product.shop_id)
        found = await _scan(
            t,
            f"{product.title}\n{product.description}",
            subject,
            "product",
            product.product_id,
            envelope.id,
        )
        return _latency(t, "product", product.occurred_at) if found else None

    async def on_overdue(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        order = envelope.parse(order_events.ShipmentOverdue)
        t = tx(conn)
        await record_violation(
            t,
            code="late_shipment",
            subject=Subject("shop", order.shop_id, order.shop_id),
            decided_by="rule:late_shipment",
            source_event_id=envelope.id,
            evidence=Evidence(
                source_type="order",
                source_id=order.order_id,
                text=f"paid, not shipped by {order.ship_by.isoformat()}",
                source_event_id=envelope.id,
            ),
        )
        return t.committed

    async def on_refund_approved(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        refund = envelope.parse(order_events.RefundApproved)
        if not refund.automatic:
            return None
        t = tx(conn)
        await record_violation(
            t,
            code="refund_unanswered",
            subject=Subject("shop", refund.shop_id, refund.shop_id),
            decided_by="rule:refund_unanswered",
            source_event_id=envelope.id,
            evidence=Evidence(
                source_type="order",
                source_id=refund.refund_id,
                text=f"refund of order {refund.order_id} approved automatically "
                f"after {refund.answered_after_s:.0f}s without an answer",
                source_event_id=envelope.id,
            ),
        )
        return t.committed

    table: dict[str, Handler] = {
        "live.comment.posted": on_comment,
        "live.room.created": on_room,
        "live.room.session_started": on_room,
        "orders.product.listed": on_product,
        "orders.product.changed": on_product,
        "orders.product.relisted": on_product,
        "orders.order.shipment_overdue": on_overdue,
        "orders.order.refund_approved": on_refund_approved,
    }
    return table


async def _scan(
    tx: Tx, text: str, subject: Subject, source_type: str, source_id: str, event_id: str
) -> bool:
    found = False
    for code, detector in TEXT_RULES:
        finding = detector(text)
        if finding is None:
            continue
        found = True
        await record_violation(
            tx,
            code=code,
            subject=subject,
            decided_by=finding.rule,
            source_event_id=event_id,
            evidence=Evidence(
                source_type=source_type,
                source_id=source_id,
                text=text,
                matched_rule=f"{finding.rule} ({finding.detail})",
                source_event_id=event_id,
            ),
        )
    return found


def _room_owner(owner_type: str | None, owner_id: str, shop_id: str | None) -> Subject:
    if owner_type == "brand" and shop_id:
        return Subject("shop", shop_id, shop_id)
    return Subject(owner_type if owner_type in ("anchor", "creator") else "anchor", owner_id)


def _latency(tx: Tx, source: str, since: datetime) -> AfterCommit:
    def done() -> None:
        tx.committed()
        metrics.MODERATION_DETECTION_SECONDS.labels(source).observe(
            max(0.0, (datetime.now(UTC) - since).total_seconds())
        )

    return done
