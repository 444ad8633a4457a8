"""Chuanliu's policy: budget, pacing, grant caps, affinity decay, attribution, rewards."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from laotie_chuanliu import domain

DEFAULT_POLICY = Path(__file__).parent / "chuanliu.toml"


class Budget(BaseModel):
    daily_impressions: int = Field(ge=0)
    pacing_headroom: float = Field(ge=0, le=1)
    brand_share: float = Field(gt=0, le=1)


class Grants(BaseModel):
    impressions_per_grant: int = Field(ge=1)
    per_buyer_daily_cap: int = Field(ge=1)
    max_grants_per_round: int = Field(
        ge=1, description="Buyers one round reaches, before the brand's band weight."
    )
    top_up_every_s: float = Field(gt=0, description="A live session's next round after this.")
    rounds_per_session: int = Field(ge=1, description="Rounds at most, the first included.")
    unscored_brand_weight: float = Field(ge=0)
    holdout_share: float = Field(
        ge=0, lt=1, description="Eligible buyers held out of every grant, by a hash of their id."
    )


class Affinity(BaseModel):
    half_life_days: float = Field(gt=0)
    min_affinity: float = Field(ge=0)


class Attribution(BaseModel):
    window_days: float = Field(gt=0)


class Rewards(BaseModel):
    impressions_per_yuan: float = Field(ge=0)
    exponent: float = Field(gt=0, le=1, description="Below 1: each further yuan earns less.")
    daily_cap: int = Field(ge=0, description="Impressions per creator per day, before weight.")
    unscored_creator_weight: float = Field(ge=0)


class ChuanliuPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    calendar_timezone: str
    budget: Budget
    grants: Grants
    affinity: Affinity
    attribution: Attribution
    rewards: Rewards

    def day_of(self, moment: datetime) -> tuple[date, float]:
        """The Asia/Shanghai day of ``moment`` and the share of that day gone (0..1)."""
        return domain.day_of(moment, self.calendar_timezone)

    def paced_allowance(self, budget: int, day_share: float) -> int:
        """How much of the day's budget may be granted by now."""
        return domain.paced_allowance(budget, day_share, self.budget.pacing_headroom)


def load_policy(path: Path | str | None = None) -> ChuanliuPolicy:
    with open(path or DEFAULT_POLICY, "rb") as f:
        return ChuanliuPolicy.model_validate(tomllib.load(f))
