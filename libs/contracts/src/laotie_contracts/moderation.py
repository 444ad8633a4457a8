"""Events of the ``moderation`` service that other services enforce: ``moderation.penalty``.

A penalty names its subject and the measures it imposes. Measures that protect buyers
apply at once; points are booked later (after the appeal window). Enforcing services keep
what each penalty imposed so a revocation undoes exactly that.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from laotie_contracts.common import Fen, Id, UtcTime
from laotie_contracts.events import Event, event

PENALTY_TOPIC = "moderation.penalty"
VIOLATION_TOPIC = "moderation.violation"

SubjectType = Literal["shop", "anchor", "creator", "product"]
MeasureKind = Literal[
    "warning",
    "rules_study",
    "delist_products",  # the listed product_ids, or every product of a shop if none listed
    "listing_ban",  # a shop may not list new products until `until`
    "live_ban",  # an anchor/creator/brand may not go live until `until`
    "traffic_restriction",
    "penalty_fee",
    "points",
    "settlement_hold",
    "suspend",  # a shop sells nothing until `until`
    "close",  # for good: 100 points reached
]


class Measure(BaseModel):
    kind: MeasureKind
    until: UtcTime | None = Field(default=None, description="End of a timed measure.")
    product_ids: list[str] = Field(default_factory=list)
    amount_fen: Fen | None = None
    points: int | None = Field(default=None, ge=0, le=100)


class PenaltyFacts(Event):
    penalty_id: Id
    subject_type: SubjectType
    subject_id: Id
    shop_id: str | None = Field(default=None, description="The shop concerned, if any.")
    violation_code: str
    measures: list[Measure]
    step_points: int = Field(
        default=0,
        ge=0,
        le=100,
        description="The points of the penalty's step (扣分): booked once the appeal window"
        " lapses or the appeal fails (``points_booked``), never if it is revoked. What the"
        " finding weighs, from a 0-point warning to a 100-point counterfeit.",
    )
    occurred_at: UtcTime


@event("moderation.penalty.applied", topic=PENALTY_TOPIC, key="subject_id")
class PenaltyApplied(PenaltyFacts):
    """The measures take effect now."""


@event("moderation.penalty.revoked", topic=PENALTY_TOPIC, key="subject_id")
class PenaltyRevoked(PenaltyFacts):
    """An upheld appeal: every measure of the penalty is undone."""

    reason: str


@event("moderation.penalty.expired", topic=PENALTY_TOPIC, key="subject_id")
class PenaltyExpired(PenaltyFacts):
    """The timed measures ran out."""


@event("moderation.penalty.points_booked", topic=PENALTY_TOPIC, key="subject_id")
class PenaltyPointsBooked(PenaltyFacts):
    """The appeal window lapsed or the appeal failed: the points count now."""

    points: int = Field(ge=0, le=100)
    year: int = Field(description="The Asia/Shanghai calendar year they count in.")
    year_total: int = Field(ge=0)


@event("moderation.penalty.delisting_lifted", topic=PENALTY_TOPIC, key="subject_id")
class DelistingLifted(PenaltyFacts):
    """Rectified (整改): a product the penalty delisted for its content was resubmitted with
    new text that passed a re-scan or a reviewer, so its delisting by this penalty ends. The
    penalty's other measures and its points stand."""

    product_id: Id
    rectification_id: Id
    decided_by: str = Field(description="``rule:rescan`` or ``reviewer:<id>``.")


# --- moderation.violation --------------------------------------------------------------
class Evidence(BaseModel):
    """What was found, where, and by which rule: kept with every decision."""

    source_type: Literal[
        "comment",
        "room_title",
        "product",
        "shop_profile",
        "profile",
        "report",
        "order",
        "points_ledger",
    ]
    source_id: Id = Field(description="The comment, room, product, report or order id.")
    session_id: str | None = None
    text: str | None = None
    matched_rule: str | None = None
    source_event_id: str | None = None


class ViolationFacts(Event):
    violation_id: Id
    subject_type: Literal["shop", "anchor", "creator", "viewer", "product"]
    subject_id: Id
    shop_id: str | None = None
    code: str = Field(description="diversion, false_advertising, counterfeit, late_shipment, ...")
    severity: Literal["general", "serious"]
    degree: Literal["light", "serious", "especially_serious"]
    hide_content: bool = Field(description="The offending content must be hidden.")
    evidence: Evidence
    decided_by: str = Field(description="A rule id and version, or a reviewer.")
    occurred_at: UtcTime


@event("moderation.violation.detected", topic=VIOLATION_TOPIC, key="subject_id")
class ViolationDetected(ViolationFacts):
    """Found by a rule or upheld by a reviewer."""
