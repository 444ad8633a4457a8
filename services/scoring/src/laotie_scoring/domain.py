"""Scoring's pure rules: the score formulas (window counts to a score, under a versioned
policy), the calendar day a moment counts on, and what each order or penalty fact records.

The worked examples in docs/scoring.md are unit tests (tests/unit/test_scoring_formula.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Kind = Literal["shop", "product", "creator"]
# The refund reasons that count against a subject's goods.
QUALITY_REASONS = {"quality", "not_as_described"}
# The subjects a penalty's subject type scores against (penalties on others count nowhere).
PENALTY_KINDS: dict[str, Kind] = {"shop": "shop", "anchor": "creator", "creator": "creator"}
# A moderation violation code, as the penalty events name it (``late_shipment``).
ViolationCode = Annotated[str, StringConstraints(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")]


class Range(BaseModel):
    best: float
    worst: float
    min_sample: int = Field(
        default=1,
        ge=1,
        description="The fewest cases of its sample (``SAMPLE_OF``) the indicator is measured"
        " over; below, it is missing rather than invented.",
    )

    def scale(self, measured: float) -> float:
        """1.0 at ``best``, 0.0 at ``worst`` or beyond, linear between."""
        if self.best == self.worst:
            return 1.0
        position = (measured - self.worst) / (self.best - self.worst)
        return min(1.0, max(0.0, position))


class Dimension(BaseModel):
    weight: float = Field(ge=0, le=1)
    indicators: list[str]


class Resources(BaseModel):
    """What a score earns its subject (docs/scoring.md says what each gates)."""

    traffic_weight: float
    subsidy: bool
    campaigns: bool
    paid_promotion: bool
    chuanliu: bool


class Band(Resources):
    name: str
    min: float
    above: bool = Field(
        default=False, description="The band needs a value strictly above `min` (> 4.8)."
    )

    def holds(self, value: float) -> bool:
        return value > self.min if self.above else value >= self.min


class KindPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    min_sample_orders: int = Field(ge=1)
    dimensions: dict[str, Dimension]
    bands: list[Band]

    def band(self, value: float) -> Band:
        for band in sorted(self.bands, key=lambda b: -b.min):
            if band.holds(value):
                return band
        return self.bands[-1]


class ViolationWeight(BaseModel):
    """What one penalty weighs in `violations`: ``per_point`` × its points, at least
    ``warning`` (a 0-point finding) and at most ``most`` (a closure weighs ``most``)."""

    warning: float = Field(ge=0)
    per_point: float = Field(ge=0)
    most: float = Field(gt=0)

    def of(self, points: int | None, closes: bool) -> float:
        if closes:
            return self.most
        if points is None:
            return 1.0  # recorded before weights existed: as it counted then
        return min(self.most, max(self.warning, points * self.per_point))


class ScorePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    window_days: int = Field(ge=1)
    matured_after_days: int = Field(ge=0)
    calendar_timezone: str
    indicators: dict[str, Range]
    kinds: dict[str, KindPolicy]
    unscored: Resources | None = Field(
        default=None,
        description="What a subject without a score (not enough data) may use; versions"
        " before scores/2026.12-3 (kept in history/) served nothing without a score.",
    )
    violation_weight: ViolationWeight = Field(
        default_factory=lambda: ViolationWeight(warning=1.0, per_point=0.0, most=1.0)
    )
    violations_measured_elsewhere: dict[ViolationCode, str] = Field(
        default_factory=dict,
        description="Violation code → the indicator that already measures its facts: a score"
        " with that indicator does not count such a penalty in `violations`.",
    )

    @model_validator(mode="after")
    def _measured_by_known_indicators(self) -> ScorePolicy:
        unknown = set(self.violations_measured_elsewhere.values()) - set(self.indicators)
        if unknown:
            raise ValueError(
                f"violations_measured_elsewhere names unknown indicators {sorted(unknown)}"
            )
        return self

    def uncounted_violations(self, kind: Kind) -> list[str]:
        """The violation codes ``kind``'s score leaves out of its `violations`: those whose
        facts one of its own indicators already measures (counted once, there)."""
        measured = {i for d in self.kinds[kind].dimensions.values() for i in d.indicators}
        return sorted(
            code
            for code, indicator in self.violations_measured_elsewhere.items()
            if indicator in measured
        )


@dataclass(frozen=True)
class WindowCounts:
    """What happened to a subject's orders in the window (the matured part for refunds)."""

    orders: int = 0
    reviews: int = 0
    negative_reviews: int = 0
    product_stars_sum: int = 0
    matured_orders: int = 0
    quality_refunds: int = 0
    disputes: int = 0
    ship_due: int = 0  # shipped, or overdue and still unshipped
    shipped_on_time: int = 0
    delivered: int = 0
    delivery_hours_sum: float = 0.0
    refund_answers: int = 0
    refund_answer_hours_sum: float = 0.0
    violations: float = 0.0  # penalties weighted by their points (``ViolationWeight``)


# What each indicator is measured over (its sample, a field of WindowCounts).
SAMPLE_OF = {
    "negative_review_rate": "reviews",
    "quality_refund_rate": "matured_orders",
    "ship_on_time_rate": "ship_due",
    "delivery_hours": "delivered",
    "refund_answer_hours": "orders",
    "dispute_rate": "matured_orders",
    "violations": "orders",
    "mean_product_stars": "reviews",
}


def measure(counts: WindowCounts) -> dict[str, float | None]:
    """Each indicator's measured value, or None where the window has no data for it. With no
    refund request in the window nobody waited for an answer: 0 h, over the window's orders."""

    def rate(part: float, whole: float) -> float | None:
        return part / whole if whole else None

    return {
        "negative_review_rate": rate(counts.negative_reviews, counts.reviews),
        "quality_refund_rate": rate(counts.quality_refunds, counts.matured_orders),
        "ship_on_time_rate": rate(counts.shipped_on_time, counts.ship_due),
        "delivery_hours": rate(counts.delivery_hours_sum, counts.delivered),
        "refund_answer_hours": rate(counts.refund_answer_hours_sum, counts.refund_answers) or 0.0,
        "dispute_rate": rate(counts.disputes, counts.matured_orders),
        "violations": float(counts.violations),
        "mean_product_stars": rate(counts.product_stars_sum, counts.reviews),
    }


@dataclass(frozen=True)
class Score:
    kind: str
    value: float
    band: Band
    components: dict[str, float] = field(default_factory=dict)
    sample_orders: int = 0
    missing: tuple[str, ...] = ()  # indicators below their minimum sample, left out


@dataclass(frozen=True)
class NotEnoughData:
    """No score: too few orders, or a weighted dimension with no indicator measured over its
    minimum sample (``missing`` names those dimensions)."""

    kind: str
    sample_orders: int
    min_sample_orders: int
    missing: tuple[str, ...] = ()


def score(policy: ScorePolicy, kind: Kind, counts: WindowCounts) -> Score | NotEnoughData:
    rules = policy.kinds[kind]
    if counts.orders < rules.min_sample_orders:
        return NotEnoughData(kind, counts.orders, rules.min_sample_orders)
    measured = {
        indicator: value
        for indicator, value in measure(counts).items()
        if value is not None
        and getattr(counts, SAMPLE_OF[indicator]) >= policy.indicators[indicator].min_sample
    }
    components: dict[str, float] = {}
    missing: list[str] = []
    empty: list[str] = []
    total = 0.0
    for name, dimension in rules.dimensions.items():
        parts = []
        for indicator in dimension.indicators:
            if indicator not in measured:
                missing.append(f"{name}.{indicator}")
                continue
            scaled = policy.indicators[indicator].scale(measured[indicator])
            components[f"{name}.{indicator}"] = round(scaled, 4)
            parts.append(scaled)
        if not parts:
            empty.append(name)
            continue
        dim = sum(parts) / len(parts)
        components[name] = round(dim, 4)
        total += dimension.weight * dim
    if any(rules.dimensions[name].weight > 0 for name in empty):
        return NotEnoughData(kind, counts.orders, rules.min_sample_orders, tuple(empty))
    value = round(3.0 + 2.0 * total, 2)
    return Score(kind, value, rules.band(value), components, counts.orders, tuple(missing))


def same_score(result: Score, value: float, band: str, components: dict[str, Any]) -> bool:
    """Whether ``result`` is the score already stored (value, band and components)."""
    return value == result.value and band == result.band.name and components == result.components


def creator_of(facts: Any) -> str | None:
    """Whose creator reputation (带货口碑分) an order counts in: the creator credited (a
    promotion's, a video's), else the live room's anchor, but never a brand's own broadcast
    (品牌自播: a brand shop's room without a promotion) nor the shop itself."""
    a = facts.attribution
    if a.creator_id:
        return str(a.creator_id)
    if not a.anchor_id or a.anchor_id == facts.shop_id or facts.shop_kind == "brand":
        return None
    return str(a.anchor_id)


def shanghai_day(policy: ScorePolicy, moment: datetime) -> date:
    """The calendar day (in the policy's time zone) ``moment`` counts on."""
    return moment.astimezone(ZoneInfo(policy.calendar_timezone)).date()


def answer_cap_s(policy: ScorePolicy) -> float:
    """The longest refund answer time counted; an unanswered request (approved
    automatically) counts as this, the worst answer time."""
    return policy.indicators["refund_answer_hours"].worst * 3600


def fact_columns(policy: ScorePolicy, ce_type: str, event: Any) -> dict[str, Any] | None:
    """The order_facts columns one order event sets, or None for an event that counts
    nowhere."""
    kind = ce_type.removeprefix("orders.order.")
    if kind == "paid":
        return {"paid_day": shanghai_day(policy, event.occurred_at), "ship_by": event.ship_by}
    if kind == "shipped":
        return {"shipped_at": event.occurred_at, "ship_by": event.ship_by}
    if kind == "shipment_overdue":
        return {"overdue": True, "ship_by": event.ship_by}
    if kind == "delivered":
        return {"delivered_at": event.occurred_at, "shipped_at": event.shipped_at}
    if kind == "reviewed":
        return {"product_stars": event.product_stars}
    if kind in ("refund_approved", "refund_rejected"):
        cap = answer_cap_s(policy)
        answered = cap if getattr(event, "automatic", False) else event.answered_after_s
        return {"refund_answer_s": min(answered, cap)}
    if kind == "refunded":
        return {"quality_refund": event.refund_reason in QUALITY_REASONS}
    if kind == "refund_escalated":
        return {"disputed": True}
    return None
