"""What the detectors make of other services' facts, without I/O: which rules a text trips,
who answers for a room or a comment, and the evidence each decision keeps."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import date

from laotie_contracts import live as live_events
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import Evidence

from laotie_moderation.domain.advertising import detect_false_advertising
from laotie_moderation.domain.decisions import Subject
from laotie_moderation.domain.diversion import Finding, detect_diversion
from laotie_moderation.domain.learned import model

Detector = Callable[[str], Finding | None]
RULES: dict[str, Detector] = {
    "diversion": detect_diversion,
    "false_advertising": detect_false_advertising,
}


def detect(code: str, text: str) -> Finding | None:
    """What decides: the rules' finding for ``text`` weighed by the code's learned model."""
    return model(code).judge(text, RULES[code](text))


TEXT_RULES: tuple[tuple[str, Detector], ...] = tuple(
    (code, functools.partial(detect, code)) for code in RULES
)


def text_findings(text: str) -> list[tuple[str, Finding]]:
    """The (violation code, finding) of every text rule ``text`` trips, in rule order."""
    found = []
    for code, detector in TEXT_RULES:
        finding = detector(text)
        if finding is not None:
            found.append((code, finding))
    return found


def room_owner(owner_type: str | None, owner_id: str, shop_id: str | None) -> Subject:
    """Who answers for a room: a brand room's shop, else its anchor or creator."""
    if owner_type == "brand" and shop_id:
        return Subject("shop", shop_id, shop_id)
    return Subject(owner_type if owner_type in ("anchor", "creator") else "anchor", owner_id)


def comment_charge(comment: live_events.CommentPosted) -> tuple[Subject, str]:
    """Who answers for a diverting comment, and under which code: the room's owner for its
    own comments; a viewer's comment is hidden, the seller is not charged for it."""
    if comment.author_role == "owner":
        owner = room_owner(comment.room_owner_type, comment.room_owner_id, comment.room_shop_id)
        return owner, "diversion"
    return Subject("viewer", comment.author_id), "diversion_by_viewer"


def comment_evidence(
    comment: live_events.CommentPosted, finding: Finding, event_id: str
) -> Evidence:
    return Evidence(
        source_type="comment",
        source_id=comment.comment_id,
        session_id=comment.session_id,
        text=comment.text,
        matched_rule=finding.rule,
        source_event_id=event_id,
    )


def text_evidence(
    source_type: str, source_id: str, text: str, finding: Finding, event_id: str
) -> Evidence:
    return Evidence(
        source_type=source_type,
        source_id=source_id,
        text=text,
        matched_rule=f"{finding.rule} ({finding.detail})",
        source_event_id=event_id,
    )


def text_version(text: str) -> str:
    """A short digest of a text: the same words are the same version."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def late_week_evidence(shop_id: str, monday: date, late: int, due: int) -> Evidence:
    """A shop's week of late shipments, named by its Monday."""
    return Evidence(
        source_type="order",
        source_id=f"{shop_id}/week-of-{monday.isoformat()}",
        text=f"{late} of {due} orders due in the week of {monday.isoformat()} shipped late",
        matched_rule="rule:late_shipment_rate",
    )


def unanswered_refund_evidence(refund: order_events.RefundApproved, event_id: str) -> Evidence:
    return Evidence(
        source_type="order",
        source_id=refund.refund_id,
        text=f"refund of order {refund.order_id} approved automatically "
        f"after {refund.answered_after_s:.0f}s without an answer",
        source_event_id=event_id,
    )


def distribution_creator(order: order_events.OrderFacts) -> str | None:
    """The creator who sold ``order`` for its shop through distribution (达人分销), if any:
    through a promotion (shop window, room or video), or a distribution order from before
    promotions existed."""
    a = order.attribution
    if a.promotion_id is None and a.channel != "distribution":
        return None
    return order.attribution.creator_id
