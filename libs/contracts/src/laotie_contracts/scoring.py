"""Events of the ``scoring`` service: ``scoring.score`` (changes) and ``scoring.score-latest``
(compacted: the latest score per subject, keyed ``<kind>:<subject id>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from laotie_contracts.common import Id, UtcTime
from laotie_contracts.events import Event, event

SCORE_TOPIC = "scoring.score"
LATEST_TOPIC = "scoring.score-latest"

ScoreKind = Literal["shop", "product", "creator"]


class Resources(BaseModel):
    """What the band earns (*policy*)."""

    traffic_weight: float = Field(ge=0)
    subsidy_eligible: bool
    campaign_eligible: bool
    paid_promotion_allowed: bool
    chuanliu_eligible: bool


class ScoreFacts(Event):
    subject_key: Id = Field(description="<kind>:<subject id>, the record key.")
    kind: ScoreKind
    subject_id: Id
    value: float = Field(ge=0, le=5, description="Two decimals.")
    band: str
    components: dict[str, float] = Field(
        description="Every measured indicator and dimension, 0..1."
    )
    missing: list[str] = Field(
        default_factory=list,
        description="Indicators (``dimension.indicator``) below their minimum sample, left out.",
    )
    sample_orders: int = Field(ge=0)
    window_days: int
    window_end: str = Field(description="The last Asia/Shanghai day of the window.")
    policy_version: str
    resources: Resources
    computed_at: UtcTime


@event("scoring.score.changed", topic=SCORE_TOPIC, key="subject_key")
class ScoreChanged(ScoreFacts):
    """A subject's score moved (or it got its first score)."""

    previous_value: float | None = None
    previous_band: str | None = None
    band_changed: bool


@event("scoring.score-latest.current", topic=LATEST_TOPIC, key="subject_key")
class ScoreCurrent(ScoreFacts):
    """The latest score of a subject; compaction keeps one per key."""


class NoScoreFacts(Event):
    """A subject that had a score has none any more: too few orders in the window, or a
    weighted dimension with nothing measured (``missing``). Its band and resources are gone
    with it: a subscriber treats the subject as unscored."""

    subject_key: Id = Field(description="<kind>:<subject id>, the record key.")
    kind: ScoreKind
    subject_id: Id
    status: Literal["not_enough_data"] = "not_enough_data"
    sample_orders: int = Field(ge=0)
    min_sample_orders: int = Field(ge=1)
    missing: list[str] = Field(default_factory=list, description="Dimensions without data.")
    window_days: int
    window_end: str = Field(description="The last Asia/Shanghai day of the window.")
    policy_version: str
    computed_at: UtcTime


@event("scoring.score.withdrawn", topic=SCORE_TOPIC, key="subject_key")
class ScoreWithdrawn(NoScoreFacts):
    """The subject's score is withdrawn (not enough data now)."""

    previous_value: float
    previous_band: str


@event("scoring.score-latest.not_enough_data", topic=LATEST_TOPIC, key="subject_key")
class ScoreNotEnoughData(NoScoreFacts):
    """The latest state of a subject is no score; compaction keeps it in place of the last
    score, so the topic never holds a stale band."""
