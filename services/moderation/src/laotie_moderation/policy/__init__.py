"""The Thunder Plan rule set as typed policy, loaded from a versioned TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_POLICY = Path(__file__).parent / "thunder-plan.toml"
SubjectType = Literal["shop", "anchor", "creator", "viewer", "product"]


class MeasureRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "warning",
        "rules_study",
        "delist_products",
        "listing_ban",
        "live_ban",
        "traffic_restriction",
        "penalty_fee",
        "points",
        "settlement_hold",
        "suspend",
        "close",
    ]
    days: int | None = Field(default=None, ge=1, le=3650)
    fen: int | None = Field(default=None, ge=0)
    all_goods: bool = False
    applies_to: list[SubjectType] | None = None


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: Literal["general", "serious"]
    degree: Literal["light", "serious", "especially_serious"]
    points: int = Field(ge=0, le=100)
    measures: list[MeasureRule]

    @model_validator(mode="after")
    def _general_has_no_points(self) -> Step:
        if self.severity == "general" and self.points:
            raise ValueError("general violations carry no points")
        return self


class Code(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    hide_content: bool = False
    ladder: list[Step] = Field(min_length=1)

    def step(self, prior_in_window: int) -> Step:
        return self.ladder[min(prior_in_window, len(self.ladder) - 1)]


class Shipping(BaseModel):
    """Late shipment (延迟发货) is judged by a shop's rate per calendar week, not per order."""

    model_config = ConfigDict(extra="forbid")

    late_rate: float = Field(gt=0, le=1, description="Share of the week's due orders shipped late.")
    min_late_orders: int = Field(ge=1, description="Fewer late orders in a week decide nothing.")
    judged_after_hours: int = Field(
        ge=0,
        le=24 * 7,
        description="A week is judged once it has ended and this long has passed (its last"
        " orders' overdue facts are in): on all its orders, never on the first few.",
    )


class Distribution(BaseModel):
    """A creator's distribution sale (达人分销): which upheld report against the creator also
    charges the shop that supplied the goods, and with which code."""

    model_config = ConfigDict(extra="forbid")

    supplier_codes: dict[str, str] = Field(
        description="Report kind against a creator → the code charged to the supplying shop."
    )


class Rectification(BaseModel):
    """Rectification (整改): the codes whose product delistings end once the product's text is
    changed and passes a re-scan or a reviewer (content offences, not what the goods are)."""

    model_config = ConfigDict(extra="forbid")

    codes: list[str] = Field(min_length=1)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    appeal_window_days: int = Field(
        ge=1, description="Natural days after the day of the decision, in calendar_timezone."
    )
    appeal_window_s: int | None = Field(
        default=None,
        ge=1,
        description="A compressed clock for demos and tests, never set in production: the"
        " appeal window lasts this many seconds from the decision instead of"
        " appeal_window_days natural days (moderation's APPEAL_WINDOW_S).",
    )
    closure_points: int = Field(ge=1)
    escalation_window_days: int = Field(ge=1)
    calendar_timezone: str
    shipping: Shipping
    distribution: Distribution
    rectification: Rectification
    codes: dict[str, Code]

    @model_validator(mode="after")
    def _named_codes_exist(self) -> Policy:
        named = {*self.distribution.supplier_codes.values(), *self.rectification.codes}
        unknown = named - set(self.codes)
        if unknown:
            raise ValueError(f"the policy names unknown codes {sorted(unknown)}")
        return self

    def code(self, name: str) -> Code:
        try:
            return self.codes[name]
        except KeyError:
            raise KeyError(f"policy {self.version} has no violation code {name!r}") from None


def load_policy(path: Path | str | None = None) -> Policy:
    with open(path or DEFAULT_POLICY, "rb") as f:
        return Policy.model_validate(tomllib.load(f))
