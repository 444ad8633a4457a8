"""What a violation decides, without I/O: its id, the ladder step it reaches, the measures
that step imposes on its subject and when they end, the year its points count in, when the
points close the subject, and whether a penalty may still be appealed.

Violation ids derive from (code, source, subject), so the same fact seen again — a
redelivery or a replayed stream — decides nothing new.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from laotie_common.problems import Conflict
from laotie_contracts.moderation import Evidence, Measure

from laotie_moderation.policy import Code, MeasureRule, Policy, Step

VIOLATION_IDS = uuid.UUID("5b0c8c3e-6f53-4a57-9a3e-3f4f6c2d1a10")


@dataclass(frozen=True)
class Subject:
    type: str
    id: str
    shop_id: str | None = None


def violation_id_for(code: str, evidence: Evidence, subject: Subject) -> str:
    return str(
        uuid.uuid5(
            VIOLATION_IDS,
            f"{code}|{evidence.source_type}|{evidence.source_id}|{subject.type}|{subject.id}",
        )
    )


def ladder_step(rule: Code, prior_in_window: int, override: int | None = None) -> tuple[int, Step]:
    """The step a violation reaches — the next after the subject's ``prior_in_window``
    violations of the code, or ``override`` — as (its index on the ladder, the step)."""
    index = override if override is not None else prior_in_window
    return min(index, len(rule.ladder) - 1), rule.step(index)


def measures_for(
    rules: Iterable[MeasureRule], subject: Subject, evidence: Evidence, now: datetime
) -> list[Measure]:
    """The measures a step's rules impose on ``subject``: those that apply to its type; a
    delisting names the offending product (and is skipped if no product offended)."""
    measures = []
    for rule in rules:
        if rule.applies_to is not None and subject.type not in rule.applies_to:
            continue
        product_ids: list[str] = []
        if rule.kind == "delist_products" and not rule.all_goods:
            if evidence.source_type != "product":
                continue  # only the offending product is delisted, if a product offended
            product_ids = [evidence.source_id]
        measures.append(
            Measure(
                kind=rule.kind,
                until=now + timedelta(days=rule.days) if rule.days else None,
                product_ids=product_ids,
                amount_fen=rule.fen,
            )
        )
    return measures


def penalty_expiry(measures: Iterable[Measure]) -> datetime | None:
    """When a penalty's last timed measure ends (None: no timed measure)."""
    timed = [m.until for m in measures if m.until is not None]
    return max(timed) if timed else None


def appeal_deadline(policy: Policy, applied_at: datetime) -> datetime:
    return applied_at + timedelta(days=policy.appeal_window_days)


def initial_points_status(points: int) -> str:
    """Points wait for the appeal window to lapse before they are booked."""
    return "pending" if points else "none"


def calendar_year(policy: Policy, moment: datetime) -> int:
    """The year points booked at ``moment`` count in (the policy's calendar)."""
    return moment.astimezone(ZoneInfo(policy.calendar_timezone)).year


def closes_subject(policy: Policy, year_total: int) -> bool:
    return year_total >= policy.closure_points


def closure_evidence(year: int, total: int) -> Evidence:
    return Evidence(
        source_type="points_ledger", source_id=f"{year}", text=f"{total} points booked in {year}"
    )


def check_appealable(status: str, deadline: datetime, now: datetime) -> None:
    """Refuse an appeal filed after the window or against a penalty no longer active."""
    if now > deadline:
        raise Conflict(
            f"the appeal window closed at {deadline.isoformat()}", reason="appeal_window_closed"
        )
    if status != "active":
        raise Conflict(f"the penalty is {status}", reason="not_active")


def report_evidence(report_id: str, product_id: str | None, text: str) -> Evidence:
    """An upheld report's evidence: the product reported, else the report itself."""
    source = ("product", product_id) if product_id else ("report", report_id)
    return Evidence(
        source_type=source[0], source_id=source[1], text=text, matched_rule=f"report:{report_id}"
    )


def current_measures(penalties: Iterable[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The measures of active penalties (``measures`` decoded) that have not run out."""
    current = []
    for p in penalties:
        if p["status"] != "active":
            continue
        for m in p["measures"]:
            until = m.get("until")
            if until is None or datetime.fromisoformat(until) > now:
                current.append({**m, "penalty_id": p["penalty_id"]})
    return current
