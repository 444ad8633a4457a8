"""The facts scoring's events carry (``scoring.score-changed`` and the compacted
``scoring.score-latest``), built from a computed score and the row it replaces."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
from laotie_contracts.scoring import Resources

from laotie_scoring.domain import Kind, NotEnoughData, Score, ScorePolicy


def resources(result: Score) -> Resources:
    """What the score's band grants the subject."""
    band = result.band
    return Resources(
        traffic_weight=band.traffic_weight,
        subsidy_eligible=band.subsidy,
        campaign_eligible=band.campaigns,
        paid_promotion_allowed=band.paid_promotion,
        chuanliu_eligible=band.chuanliu,
    )


def score_facts(
    policy: ScorePolicy, kind: Kind, subject_id: str, result: Score, today: date, now: datetime
) -> dict[str, Any]:
    """The facts both score events carry."""
    return {
        "subject_key": f"{kind}:{subject_id}",
        "kind": kind,
        "subject_id": subject_id,
        "value": result.value,
        "band": result.band.name,
        "components": result.components,
        "missing": list(result.missing),
        "sample_orders": result.sample_orders,
        "window_days": policy.window_days,
        "window_end": today.isoformat(),
        "policy_version": policy.version,
        "resources": resources(result),
        "computed_at": now,
    }


def change_facts(result: Score, previous: asyncpg.Record | None) -> dict[str, Any]:
    """What a change adds: the score it replaces, and whether the band moved."""
    previous_band = previous["band"] if previous else None
    return {
        "previous_value": float(previous["value"]) if previous else None,
        "previous_band": previous_band,
        "band_changed": previous_band != result.band.name,
    }


def no_score_facts(
    policy: ScorePolicy,
    kind: Kind,
    subject_id: str,
    result: NotEnoughData,
    today: date,
    now: datetime,
) -> dict[str, Any]:
    """The facts both no-score events carry."""
    return {
        "subject_key": f"{kind}:{subject_id}",
        "kind": kind,
        "subject_id": subject_id,
        "sample_orders": result.sample_orders,
        "min_sample_orders": result.min_sample_orders,
        "missing": list(result.missing),
        "window_days": policy.window_days,
        "window_end": today.isoformat(),
        "policy_version": policy.version,
        "computed_at": now,
    }
