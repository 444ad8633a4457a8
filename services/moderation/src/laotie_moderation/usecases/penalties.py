"""The Thunder Plan's decisions: a violation and the penalty its ladder step imposes, the
points booked once the appeal window lapses (closing the subject at the threshold), and the
ends of penalties (revoked on appeal, expired when their measures ran out)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from laotie_common import metrics
from laotie_common.ids import new_id
from laotie_contracts.moderation import (
    Evidence,
    Measure,
    PenaltyApplied,
    PenaltyExpired,
    PenaltyPointsBooked,
    PenaltyRevoked,
    ViolationDetected,
)

from laotie_moderation import queries
from laotie_moderation.domain.decisions import (
    CLOSURE_CODE,
    Subject,
    appeal_deadline,
    calendar_year,
    closes_subject,
    closure_evidence,
    initial_points_status,
    ladder_step,
    measures_for,
    penalty_expiry,
    violation_id_for,
)
from laotie_moderation.facts import (
    penalty_facts,
    penalty_row_facts,
    penalty_subject,
    violation_facts,
)
from laotie_moderation.policy import Step
from laotie_moderation.usecases import Tx


async def record_violation(
    tx: Tx,
    *,
    code: str,
    subject: Subject,
    evidence: Evidence,
    decided_by: str,
    source_event_id: str | None = None,
    trigger: str | None = None,
    step_override: int | None = None,
) -> tuple[str, str | None] | None:
    """Decide a violation and the penalty its ladder step imposes. Returns (violation id,
    penalty id or None), or None if this very violation was decided before: the same
    case again: the same source, and the same ``trigger`` when one source can offend
    again (a product's listing by its time, a shop's week), else the same report or rule
    in the evidence. Not the event id: the same fact re-sent as a new event is no new
    offence."""
    rule = tx.policy.code(code)
    trigger = trigger or evidence.matched_rule
    violation_id = violation_id_for(code, evidence, subject, trigger)
    since = tx.now - timedelta(days=tx.policy.escalation_window_days)
    prior = await queries.prior_violations(tx.conn, subject, code, since)
    index, step = ladder_step(rule, prior, step_override)
    inserted = await _insert_violation(
        tx, violation_id, code, subject, step, index, evidence, decided_by, source_event_id
    )
    if not inserted:
        return None
    await tx.emit(
        ViolationDetected(
            **violation_facts(
                violation_id,
                code,
                subject,
                step,
                hide_content=rule.hide_content,
                evidence=evidence,
                decided_by=decided_by,
                now=tx.now,
            )
        )
    )
    tx.after_commit.append(metrics.MODERATION_VIOLATIONS.labels(code, step.severity).inc)
    measures = measures_for(step.measures, subject, evidence, tx.now)
    if not measures and not step.points:
        return violation_id, None
    penalty_id = await apply_penalty(
        tx,
        violation_id=violation_id,
        code=code,
        subject=subject,
        measures=measures,
        points=step.points,
    )
    return violation_id, penalty_id


async def _insert_violation(
    tx: Tx,
    violation_id: str,
    code: str,
    subject: Subject,
    step: Step,
    index: int,
    evidence: Evidence,
    decided_by: str,
    source_event_id: str | None,
) -> bool:
    """Keep the violation; False if this very violation was kept before."""
    inserted = await tx.conn.fetchval(
        "INSERT INTO violations (violation_id, subject_type, subject_id, shop_id, code,"
        " severity, degree, step, evidence, decided_by, policy_version, source_event_id,"
        " occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        violation_id,
        subject.type,
        subject.id,
        subject.shop_id,
        code,
        step.severity,
        step.degree,
        index,
        evidence.model_dump_json(),
        decided_by,
        tx.policy.version,
        source_event_id,
        tx.now,
    )
    return bool(inserted)


async def apply_penalty(
    tx: Tx, *, violation_id: str, code: str, subject: Subject, measures: list[Measure], points: int
) -> str:
    penalty_id = new_id()
    await tx.conn.execute(
        "INSERT INTO penalties (penalty_id, violation_id, subject_type, subject_id, shop_id,"
        " code, measures, points, points_status, status, applied_at, appeal_deadline,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, 'active', $10, $11,"
        " $12)",
        penalty_id,
        violation_id,
        subject.type,
        subject.id,
        subject.shop_id,
        code,
        "[" + ",".join(m.model_dump_json() for m in measures) + "]",
        points,
        initial_points_status(points),
        tx.now,
        appeal_deadline(tx.policy, tx.now),
        penalty_expiry(measures),
    )
    await tx.conn.execute(
        "INSERT INTO subjects (subject_type, subject_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        subject.type,
        subject.id,
    )
    await tx.emit(
        PenaltyApplied(**penalty_facts(penalty_id, code, subject, measures, points, tx.now))
    )
    for m in measures:
        tx.after_commit.append(metrics.MODERATION_PENALTIES.labels(m.kind).inc)
    return penalty_id


# --- points (扣分) ----------------------------------------------------------------------------
async def book_points(tx: Tx, penalty: asyncpg.Record) -> None:
    """Book a penalty's points; at the closure threshold, close the subject for good."""
    booked = await tx.conn.fetchval(
        "UPDATE penalties SET points_status = 'booked' WHERE penalty_id = $1"
        " AND points_status = 'pending' RETURNING 1",
        penalty["penalty_id"],
    )
    if not booked:
        return
    occurred = await queries.violation_time(tx.conn, penalty["violation_id"])
    year = calendar_year(tx.policy, occurred)
    await tx.conn.execute(
        "INSERT INTO points_ledger (penalty_id, subject_type, subject_id, points, year,"
        " booked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        penalty["penalty_id"],
        penalty["subject_type"],
        penalty["subject_id"],
        penalty["points"],
        year,
        tx.now,
    )
    total = await queries.year_points(tx.conn, penalty["subject_type"], penalty["subject_id"], year)
    await tx.emit(
        PenaltyPointsBooked(
            **penalty_row_facts(penalty, tx.now),
            points=penalty["points"],
            year=year,
            year_total=total,
        )
    )
    if closes_subject(tx.policy, total):
        await close_subject(tx, penalty_subject(penalty), year, total)


async def close_subject(tx: Tx, subject: Subject, year: int, total: int) -> None:
    closed = await tx.conn.fetchval(
        "UPDATE subjects SET closed_at = $3, closed_by = $4 WHERE subject_type = $1"
        " AND subject_id = $2 AND closed_at IS NULL RETURNING 1",
        subject.type,
        subject.id,
        tx.now,
        f"points:{year}:{total}",
    )
    if closed:
        await record_violation(
            tx,
            code=CLOSURE_CODE,
            subject=subject,
            decided_by=tx.policy.version,
            evidence=closure_evidence(year, total),
        )


# --- ends of penalties -------------------------------------------------------------------------
async def revoke_penalty(tx: Tx, penalty: asyncpg.Record, reason: str) -> None:
    """Revoke a penalty; points not booked yet are cancelled."""
    await tx.conn.execute(
        "UPDATE penalties SET status = 'revoked', revoked_at = $2, points_status ="
        " CASE WHEN points_status = 'pending' THEN 'cancelled' ELSE points_status END"
        " WHERE penalty_id = $1",
        penalty["penalty_id"],
        tx.now,
    )
    await tx.emit(PenaltyRevoked(**penalty_row_facts(penalty, tx.now), reason=reason))


async def book_due_points(tx: Tx, batch: int = 100) -> int:
    """Points of penalties whose appeal window lapsed with no appeal pending."""
    rows = await queries.due_for_points(tx.conn, tx.now, batch)
    for row in rows:
        await book_points(tx, row)
    return len(rows)


async def expire_penalties(tx: Tx, batch: int = 100) -> int:
    """Penalties whose measures ran out."""
    rows = await tx.conn.fetch(
        "UPDATE penalties SET status = 'expired', expired_at = $1 WHERE penalty_id IN ("
        " SELECT penalty_id FROM penalties WHERE status = 'active' AND expires_at <= $1"
        " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *",
        tx.now,
        batch,
    )
    for row in rows:
        await tx.emit(PenaltyExpired(**penalty_row_facts(row, tx.now)))
    return len(rows)
