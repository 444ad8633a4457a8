"""The Thunder Plan's decisions: violations, penalties, points, appeals, reports.

Every decision keeps its evidence, the rule or reviewer that made it, the policy version and
the source event. Violation ids derive from (code, source, subject), so the same fact seen
again — a redelivery or a replayed stream — decides nothing new.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import asyncpg
from laotie_common import metrics
from laotie_common.auth import Principal, Role
from laotie_common.db import Connection
from laotie_common.ids import new_id
from laotie_common.problems import Conflict, Forbidden, NotFound
from laotie_common.uow import UnitOfWork
from laotie_contracts.moderation import (
    Evidence,
    Measure,
    PenaltyApplied,
    PenaltyExpired,
    PenaltyPointsBooked,
    PenaltyRevoked,
    ViolationDetected,
)

from laotie_moderation.policy import Policy

SOURCE = "/laotie/moderation"
_IDS = uuid.UUID("5b0c8c3e-6f53-4a57-9a3e-3f4f6c2d1a10")


@dataclass
class Tx(UnitOfWork):
    source: ClassVar[str] = SOURCE
    policy: Policy


@dataclass(frozen=True)
class Subject:
    type: str
    id: str
    shop_id: str | None = None


def violation_id_for(code: str, evidence: Evidence, subject: Subject) -> str:
    return str(
        uuid.uuid5(
            _IDS, f"{code}|{evidence.source_type}|{evidence.source_id}|{subject.type}|{subject.id}"
        )
    )


async def record_violation(
    tx: Tx,
    *,
    code: str,
    subject: Subject,
    evidence: Evidence,
    decided_by: str,
    source_event_id: str | None = None,
    step_override: int | None = None,
) -> tuple[str, str | None] | None:
    """Decide a violation and the penalty its ladder step imposes. Returns (violation id,
    penalty id or None), or None if this very violation was decided before."""
    rule = tx.policy.code(code)
    violation_id = violation_id_for(code, evidence, subject)
    prior = await tx.conn.fetchval(
        "SELECT count(*) FROM violations WHERE subject_type = $1 AND subject_id = $2"
        " AND code = $3 AND occurred_at > $4",
        subject.type,
        subject.id,
        code,
        tx.now - timedelta(days=tx.policy.escalation_window_days),
    )
    step_index = step_override if step_override is not None else int(prior)
    step = rule.step(step_index)
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
        min(step_index, len(rule.ladder) - 1),
        evidence.model_dump_json(),
        decided_by,
        tx.policy.version,
        source_event_id,
        tx.now,
    )
    if not inserted:
        return None
    await tx.emit(
        ViolationDetected(
            violation_id=violation_id,
            subject_type=subject.type,
            subject_id=subject.id,
            shop_id=subject.shop_id,
            code=code,
            severity=step.severity,
            degree=step.degree,
            hide_content=rule.hide_content,
            evidence=evidence,
            decided_by=decided_by,
            occurred_at=tx.now,
        )
    )
    tx.after_commit.append(metrics.MODERATION_VIOLATIONS.labels(code, step.severity).inc)
    measures = _measures(step.measures, subject, evidence, tx.now)
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


def _measures(
    rules: list[Any], subject: Subject, evidence: Evidence, now: datetime
) -> list[Measure]:
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


async def apply_penalty(
    tx: Tx, *, violation_id: str, code: str, subject: Subject, measures: list[Measure], points: int
) -> str:
    penalty_id = new_id()
    timed = [m.until for m in measures if m.until is not None]
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
        "pending" if points else "none",
        tx.now,
        tx.now + timedelta(days=tx.policy.appeal_window_days),
        max(timed) if timed else None,
    )
    await tx.conn.execute(
        "INSERT INTO subjects (subject_type, subject_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        subject.type,
        subject.id,
    )
    await tx.emit(PenaltyApplied(**_penalty_facts(penalty_id, code, subject, measures, tx.now)))
    for m in measures:
        tx.after_commit.append(metrics.MODERATION_PENALTIES.labels(m.kind).inc)
    return penalty_id


def _penalty_facts(
    penalty_id: str, code: str, subject: Subject, measures: list[Measure], now: datetime
) -> dict[str, Any]:
    return {
        "penalty_id": penalty_id,
        "subject_type": subject.type,
        "subject_id": subject.id,
        "shop_id": subject.shop_id,
        "violation_code": code,
        "measures": measures,
        "occurred_at": now,
    }


def _row_facts(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    subject = Subject(row["subject_type"], row["subject_id"], row["shop_id"])
    measures = [Measure.model_validate(m) for m in decode_json(row["measures"])]
    return _penalty_facts(row["penalty_id"], row["code"], subject, measures, now)


def decode_json(value: Any) -> Any:
    """asyncpg hands jsonb over as text."""
    return json.loads(value) if isinstance(value, str) else value


# --- points (扣分) ----------------------------------------------------------------------------
def calendar_year(policy: Policy, moment: datetime) -> int:
    return moment.astimezone(ZoneInfo(policy.calendar_timezone)).year


async def book_points(tx: Tx, penalty: asyncpg.Record) -> None:
    """Book a penalty's points; at the closure threshold, close the subject for good."""
    booked = await tx.conn.fetchval(
        "UPDATE penalties SET points_status = 'booked' WHERE penalty_id = $1"
        " AND points_status = 'pending' RETURNING 1",
        penalty["penalty_id"],
    )
    if not booked:
        return
    year = calendar_year(tx.policy, tx.now)
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
    total = int(
        await tx.conn.fetchval(
            "SELECT coalesce(sum(points), 0) FROM points_ledger WHERE subject_type = $1"
            " AND subject_id = $2 AND year = $3",
            penalty["subject_type"],
            penalty["subject_id"],
            year,
        )
    )
    await tx.emit(
        PenaltyPointsBooked(
            **_row_facts(penalty, tx.now), points=penalty["points"], year=year, year_total=total
        )
    )
    if total >= tx.policy.closure_points:
        await close_subject(
            tx,
            Subject(penalty["subject_type"], penalty["subject_id"], penalty["shop_id"]),
            year,
            total,
        )


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
            code="points_closure",
            subject=subject,
            decided_by=tx.policy.version,
            evidence=Evidence(
                source_type="points_ledger",
                source_id=f"{year}",
                text=f"{total} points booked in {year}",
            ),
        )


# --- appeals (申诉) ----------------------------------------------------------------------------
def _may_speak_for(principal: Principal, subject_type: str, subject_id: str) -> bool:
    if subject_type == "shop":
        return principal.role is Role.SELLER and principal.shop_id == subject_id
    return principal.role is Role.ANCHOR and principal.subject == subject_id


async def file_appeal(tx: Tx, principal: Principal, penalty_id: str, reason: str) -> dict[str, Any]:
    penalty = await tx.conn.fetchrow(
        "SELECT * FROM penalties WHERE penalty_id = $1 FOR UPDATE", penalty_id
    )
    if penalty is None or not _may_speak_for(
        principal, penalty["subject_type"], penalty["subject_id"]
    ):
        raise NotFound(f"no penalty {penalty_id} of yours")
    if tx.now > penalty["appeal_deadline"]:
        raise Conflict(
            f"the appeal window closed at {penalty['appeal_deadline'].isoformat()}",
            reason="appeal_window_closed",
        )
    if penalty["status"] != "active":
        raise Conflict(f"the penalty is {penalty['status']}", reason="not_active")
    row = await tx.conn.fetchrow(
        "INSERT INTO appeals (appeal_id, penalty_id, filed_by, reason, status, filed_at)"
        " VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (penalty_id) DO NOTHING RETURNING *",
        new_id(),
        penalty_id,
        principal.subject,
        reason,
        tx.now,
    )
    if row is None:
        raise Conflict("this penalty has been appealed already", reason="appealed_already")
    return dict(row)


async def decide_appeal(
    tx: Tx, principal: Principal, appeal_id: str, upheld: bool, note: str
) -> dict[str, Any]:
    appeal = await tx.conn.fetchrow(
        "SELECT * FROM appeals WHERE appeal_id = $1 FOR UPDATE", appeal_id
    )
    if appeal is None:
        raise NotFound(f"no appeal {appeal_id}")
    if appeal["status"] != "pending":
        raise Conflict(
            f"the appeal was decided already ({appeal['status']})", reason="decided_already"
        )
    penalty = await tx.conn.fetchrow(
        "SELECT * FROM penalties WHERE penalty_id = $1 FOR UPDATE", appeal["penalty_id"]
    )
    assert penalty is not None
    row = await tx.conn.fetchrow(
        "UPDATE appeals SET status = $2, decided_at = $3, decided_by = $4, note = $5"
        " WHERE appeal_id = $1 RETURNING *",
        appeal_id,
        "upheld" if upheld else "rejected",
        tx.now,
        principal.subject,
        note,
    )
    tx.after_commit.append(
        metrics.MODERATION_APPEALS.labels("upheld" if upheld else "rejected").inc
    )
    if upheld:
        await tx.conn.execute(
            "UPDATE penalties SET status = 'revoked', revoked_at = $2, points_status ="
            " CASE WHEN points_status = 'pending' THEN 'cancelled' ELSE points_status END"
            " WHERE penalty_id = $1",
            penalty["penalty_id"],
            tx.now,
        )
        await tx.emit(
            PenaltyRevoked(
                **_row_facts(penalty, tx.now), reason=f"appeal {appeal_id} upheld: {note}".strip()
            )
        )
    else:
        await book_points(tx, penalty)
    return dict(row) if row else {}


# --- reports (举报) ----------------------------------------------------------------------------
async def file_report(tx: Tx, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    row = await tx.conn.fetchrow(
        "INSERT INTO reports (report_id, reporter_id, subject_type, subject_id, shop_id, kind,"
        " order_id, product_id, text, status, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10) RETURNING *",
        new_id(),
        principal.subject,
        body["subject_type"],
        body["subject_id"],
        body.get("shop_id"),
        body["kind"],
        body.get("order_id"),
        body.get("product_id"),
        body["text"],
        tx.now,
    )
    assert row is not None
    return dict(row)


async def decide_report(
    tx: Tx, principal: Principal, report_id: str, upheld: bool
) -> dict[str, Any]:
    report = await tx.conn.fetchrow(
        "SELECT * FROM reports WHERE report_id = $1 FOR UPDATE", report_id
    )
    if report is None:
        raise NotFound(f"no report {report_id}")
    if report["status"] != "pending":
        raise Conflict("the report was decided already", reason="decided_already")
    violation_id = None
    if upheld:
        subject = Subject(report["subject_type"], report["subject_id"], report["shop_id"])
        source = (
            ("product", report["product_id"]) if report["product_id"] else ("report", report_id)
        )
        decided = await record_violation(
            tx,
            code=report["kind"],
            subject=subject,
            decided_by=f"reviewer:{principal.subject}",
            evidence=Evidence(
                source_type=source[0],
                source_id=source[1],
                text=report["text"],
                matched_rule=f"report:{report_id}",
            ),
        )
        violation_id = decided[0] if decided else None
    row = await tx.conn.fetchrow(
        "UPDATE reports SET status = $2, decided_at = $3, decided_by = $4, violation_id = $5"
        " WHERE report_id = $1 RETURNING *",
        report_id,
        "upheld" if upheld else "dismissed",
        tx.now,
        principal.subject,
        violation_id,
    )
    return dict(row) if row else {}


def require_reviewer(principal: Principal) -> None:
    if principal.role not in (Role.REVIEWER, Role.OPERATOR):
        raise Forbidden("only platform reviewers decide")


# --- the sweeper's steps ---------------------------------------------------------------------
async def book_due_points(tx: Tx, batch: int = 100) -> int:
    """Points of penalties whose appeal window lapsed with no appeal pending."""
    rows = await tx.conn.fetch(
        "SELECT p.* FROM penalties p WHERE p.points_status = 'pending' AND p.status = 'active'"
        " AND p.appeal_deadline <= $1 AND NOT EXISTS (SELECT 1 FROM appeals a WHERE"
        " a.penalty_id = p.penalty_id AND a.status = 'pending')"
        " ORDER BY p.appeal_deadline LIMIT $2 FOR UPDATE OF p SKIP LOCKED",
        tx.now,
        batch,
    )
    for row in rows:
        await book_points(tx, row)
    return len(rows)


async def expire_penalties(tx: Tx, batch: int = 100) -> int:
    rows = await tx.conn.fetch(
        "UPDATE penalties SET status = 'expired', expired_at = $1 WHERE penalty_id IN ("
        " SELECT penalty_id FROM penalties WHERE status = 'active' AND expires_at <= $1"
        " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *",
        tx.now,
        batch,
    )
    for row in rows:
        await tx.emit(PenaltyExpired(**_row_facts(row, tx.now)))
    return len(rows)


async def subject_view(
    conn: Connection, policy: Policy, subject_type: str, subject_id: str, now: datetime
) -> dict[str, Any]:
    subject = await conn.fetchrow(
        "SELECT * FROM subjects WHERE subject_type = $1 AND subject_id = $2",
        subject_type,
        subject_id,
    )
    penalties = await conn.fetch(
        "SELECT p.*, a.appeal_id, a.status AS appeal_status FROM penalties p LEFT JOIN appeals a"
        " USING (penalty_id) WHERE p.subject_type = $1 AND p.subject_id = $2"
        " ORDER BY p.applied_at",
        subject_type,
        subject_id,
    )
    violations = await conn.fetch(
        "SELECT * FROM violations WHERE subject_type = $1 AND subject_id = $2 ORDER BY occurred_at",
        subject_type,
        subject_id,
    )
    if subject is None and not violations:
        raise NotFound(f"nothing is known about {subject_type} {subject_id}")
    year = calendar_year(policy, now)
    booked = await conn.fetchval(
        "SELECT coalesce(sum(points), 0) FROM points_ledger WHERE subject_type = $1"
        " AND subject_id = $2 AND year = $3",
        subject_type,
        subject_id,
        year,
    )
    current = []
    for p in penalties:
        if p["status"] != "active":
            continue
        for m in decode_json(p["measures"]):
            until = m.get("until")
            if until is None or datetime.fromisoformat(until) > now:
                current.append({**m, "penalty_id": p["penalty_id"]})
    return {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "closed": bool(subject and subject["closed_at"]),
        "points": {
            "year": year,
            "booked": int(booked),
            "pending": sum(p["points"] for p in penalties if p["points_status"] == "pending"),
        },
        "current_measures": current,
        "penalties": [{**dict(p), "measures": decode_json(p["measures"])} for p in penalties],
        "violations": [{**dict(v), "evidence": decode_json(v["evidence"])} for v in violations],
    }
