"""The facts moderation's events carry, built from its decisions and rows (one place for
each event's shape)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from laotie_contracts.moderation import Evidence, Measure

from laotie_moderation.domain.contacts import mask_contacts
from laotie_moderation.domain.decisions import Subject
from laotie_moderation.policy import Step


def decode_json(value: Any) -> Any:
    """asyncpg hands jsonb over as text."""
    return json.loads(value) if isinstance(value, str) else value


def violation_facts(
    violation_id: str,
    code: str,
    subject: Subject,
    step: Step,
    *,
    hide_content: bool,
    evidence: Evidence,
    decided_by: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "violation_id": violation_id,
        "subject_type": subject.type,
        "subject_id": subject.id,
        "shop_id": subject.shop_id,
        "code": code,
        "severity": step.severity,
        "degree": step.degree,
        "hide_content": hide_content,
        # Events leave moderation (14 days on the topic): contact details masked.
        "evidence": evidence.model_copy(update={"text": mask_contacts(evidence.text)}),
        "decided_by": decided_by,
        "occurred_at": now,
    }


def penalty_facts(
    penalty_id: str,
    code: str,
    subject: Subject,
    measures: list[Measure],
    points: int,
    now: datetime,
) -> dict[str, Any]:
    return {
        "penalty_id": penalty_id,
        "subject_type": subject.type,
        "subject_id": subject.id,
        "shop_id": subject.shop_id,
        "violation_code": code,
        "measures": measures,
        "step_points": points,
        "occurred_at": now,
    }


def penalty_subject(row: asyncpg.Record) -> Subject:
    return Subject(row["subject_type"], row["subject_id"], row["shop_id"])


def penalty_row_facts(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    """A penalty's facts from its row."""
    measures = [Measure.model_validate(m) for m in decode_json(row["measures"])]
    return penalty_facts(
        row["penalty_id"], row["code"], penalty_subject(row), measures, row["points"], now
    )
