"""Detection from other services' facts: comments, room titles, product texts, order facts.

Each fact leads to at most one decision per rule; the violation id derives from the fact,
so replaying a stream decides nothing twice. How long a found violation took from the fact
to its decision is measured after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from laotie_common import metrics
from laotie_common.consumer import Later
from laotie_contracts import live as live_events
from laotie_contracts import orders as order_events

from laotie_moderation import queries
from laotie_moderation.domain.decisions import (
    Subject,
    judged_weeks_end,
    late_week,
    shipping_week,
)
from laotie_moderation.domain.detection import (
    comment_charge,
    comment_evidence,
    detect,
    distribution_creator,
    late_week_evidence,
    room_owner,
    text_evidence,
    text_findings,
    text_version,
    unanswered_refund_evidence,
)
from laotie_moderation.domain.rectification import product_text, product_trigger
from laotie_moderation.usecases import Tx
from laotie_moderation.usecases.penalties import record_violation


async def check_comment(tx: Tx, comment: live_events.CommentPosted, event_id: str) -> None:
    """Diversion in a comment: the room's owner is charged for its own comments, a viewer's
    are charged to the viewer (and hidden)."""
    finding = detect("diversion", comment.text)
    if finding is None:
        return
    subject, code = comment_charge(comment)
    await record_violation(
        tx,
        code=code,
        subject=subject,
        evidence=comment_evidence(comment, finding, event_id),
        decided_by=finding.rule,
        source_event_id=event_id,
    )
    tx.after_commit.append(detection_latency("comment", comment.posted_at))


async def check_room(tx: Tx, room: live_events.RoomFacts, event_id: str) -> None:
    """A room's (or a session's) title, charged to the room's owner."""
    subject = room_owner(room.owner_type, room.owner_id, room.shop_id)
    source_id = getattr(room, "session_id", None) or room.room_id
    if await scan_text(tx, room.title, subject, "room_title", source_id, event_id):
        tx.after_commit.append(detection_latency("room_title", room.occurred_at))


async def check_product(tx: Tx, product: order_events.ProductFacts, event_id: str) -> None:
    """An active product's title and description, charged to its shop."""
    if product.status != "active":
        return
    subject = Subject("shop", product.shop_id, product.shop_id)
    text = product_text(product.title, product.description)
    # A product offends again only with another text: a stock edit, a re-sent fact or a
    # relisting after an upheld appeal, with the same words, decides nothing new; nor do
    # words a reviewer accepted in a rectification. The old words back after one offend anew.
    version = text_version(text)
    accepted, rectified = await queries.rectified(tx.conn, product.product_id, version)
    if accepted:
        return
    trigger = product_trigger(version, rectified)
    if await scan_text(tx, text, subject, "product", product.product_id, event_id, trigger):
        tx.after_commit.append(detection_latency("product", product.occurred_at))


async def check_shop_profile(
    tx: Tx, profile: order_events.ShopProfileChanged, event_id: str
) -> None:
    """A shop's profile text, charged to the shop (hidden by orders if it diverts)."""
    subject = Subject("shop", profile.shop_id, profile.shop_id)
    await _check_profile(tx, profile, subject, "shop_profile", event_id)


async def check_profile(tx: Tx, profile: live_events.ProfileChanged, event_id: str) -> None:
    """An anchor's or creator's profile text, charged to them (hidden by live if it diverts)."""
    subject = Subject(profile.owner_type, profile.owner_id)
    await _check_profile(tx, profile, subject, "profile", event_id)


async def _check_profile(
    tx: Tx,
    profile: order_events.ShopProfileChanged | live_events.ProfileChanged,
    subject: Subject,
    source_type: str,
    event_id: str,
) -> None:
    """The text is the revision's (its id the source: hiding reaches no later one); the same
    words in a later revision offend again."""
    text, version = profile.text, text_version(profile.text)
    if await scan_text(tx, text, subject, source_type, profile.revision_id, event_id, version):
        tx.after_commit.append(detection_latency(source_type, profile.occurred_at))


def note_due(tx: Tx, order: order_events.OrderPaid) -> Later:
    """A paid order is due to ship by its deadline: one of its shop's week's orders. The
    batch's orders are written together at its end."""
    due = (
        order.order_id,
        order.shop_id,
        order.ship_by,
        distribution_creator(order),
        order.buyer_id,
        order.product_id,
    )
    return Later(rows={("shipments_due",): (queries.note_due, due)})


async def note_late_shipment(tx: Tx, order: order_events.ShipmentOverdue) -> None:
    """An order not shipped in time: its shop's week is judged by the sweep (``judge_late_weeks``),
    once every order of the batch that brought it is written."""
    await queries.note_late(tx.conn, order.order_id, order.shop_id, order.ship_by)


async def judge_late_weeks(tx: Tx, batch: int = 1000) -> int:
    """Judge each shop's week with late orders not judged yet, once the week has ended (and
    the policy's ``judged_after_hours`` passed): a violation if the week's late orders reach
    the policy's count and rate of all its orders, once a week however many more follow
    (the week is the violation's trigger). Only the late orders read
    here are marked judged: one committed meanwhile brings its week back next round. Returns
    the weeks judged."""
    rows = await queries.late_to_judge(tx.conn, judged_weeks_end(tx.policy, tx.now), batch)
    weeks = {(row["shop_id"], shipping_week(tx.policy, row["ship_by"])) for row in rows}
    for shop_id, (monday, start, end) in sorted(weeks):
        late, due = await queries.week_shipments(tx.conn, shop_id, start, end)
        if late_week(tx.policy, late, due):
            await record_violation(
                tx,
                code="late_shipment",
                subject=Subject("shop", shop_id, shop_id),
                decided_by="rule:late_shipment_rate",
                trigger=f"week-of-{monday.isoformat()}",
                evidence=late_week_evidence(shop_id, monday, late, due),
            )
    await queries.judged(tx.conn, [row["order_id"] for row in rows])
    return len(weeks)


async def charge_unanswered_refund(
    tx: Tx, refund: order_events.RefundApproved, event_id: str
) -> None:
    """A refund approved automatically, the seller having left it unanswered."""
    if not refund.automatic:
        return
    await record_violation(
        tx,
        code="refund_unanswered",
        subject=Subject("shop", refund.shop_id, refund.shop_id),
        decided_by="rule:refund_unanswered",
        source_event_id=event_id,
        evidence=unanswered_refund_evidence(refund, event_id),
    )


async def scan_text(
    tx: Tx,
    text: str,
    subject: Subject,
    source_type: str,
    source_id: str,
    event_id: str,
    trigger: str | None = None,
) -> bool:
    """Decide a violation for each text rule ``text`` trips; whether any did."""
    found = text_findings(text)
    for code, finding in found:
        await record_violation(
            tx,
            code=code,
            subject=subject,
            decided_by=finding.rule,
            source_event_id=event_id,
            trigger=trigger,
            evidence=text_evidence(source_type, source_id, text, finding, event_id),
        )
    return bool(found)


def detection_latency(source: str, since: datetime) -> Callable[[], None]:
    """After the commit: observe how long the fact at ``since`` took to be decided on."""

    def observe() -> None:
        metrics.MODERATION_DETECTION_SECONDS.labels(source).observe(
            max(0.0, (datetime.now(UTC) - since).total_seconds())
        )

    return observe
