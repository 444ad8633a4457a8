"""Moderation's reads: a subject's standing (current measures, points, history), recent
decisions, reports, and the rows the use cases decide on."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from laotie_common.auth import Principal
from laotie_common.db import Connection
from laotie_common.problems import NotFound

from laotie_moderation.access import may_see_report
from laotie_moderation.domain.contacts import mask_contacts
from laotie_moderation.domain.decisions import Subject, calendar_year, current_measures
from laotie_moderation.facts import decode_json
from laotie_moderation.policy import Policy


def _locking(lock: bool) -> str:
    return " FOR UPDATE" if lock else ""


async def get_penalty(
    conn: Connection, penalty_id: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM penalties WHERE penalty_id = $1{_locking(lock)}",  # noqa: S608
        penalty_id,
    )


async def get_appeal(conn: Connection, appeal_id: str, *, lock: bool = False) -> asyncpg.Record:
    appeal = await conn.fetchrow(
        f"SELECT * FROM appeals WHERE appeal_id = $1{_locking(lock)}",  # noqa: S608
        appeal_id,
    )
    if appeal is None:
        raise NotFound(f"no appeal {appeal_id}")
    return appeal


async def get_report(conn: Connection, report_id: str, *, lock: bool = False) -> asyncpg.Record:
    report = await conn.fetchrow(
        f"SELECT * FROM reports WHERE report_id = $1{_locking(lock)}",  # noqa: S608
        report_id,
    )
    if report is None:
        raise NotFound(f"no report {report_id}")
    return report


async def report_seen_by(conn: Connection, principal: Principal, report_id: str) -> dict[str, Any]:
    """A report and its outcome, for platform staff or the one who filed it."""
    row = await conn.fetchrow("SELECT * FROM reports WHERE report_id = $1", report_id)
    if row is None or not may_see_report(principal, row["reporter_id"]):
        raise NotFound(f"no report {report_id}")
    return dict(row)


async def prior_violations(conn: Connection, subject: Subject, code: str, since: datetime) -> int:
    """The subject's violations of ``code`` after ``since`` (the escalation window), but
    for those whose penalty was revoked (an upheld appeal or report: no offence)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM violations v WHERE v.subject_type = $1 AND v.subject_id = $2"
            " AND v.code = $3 AND v.occurred_at > $4 AND NOT EXISTS (SELECT 1 FROM penalties p"
            " WHERE p.violation_id = v.violation_id AND p.status = 'revoked')",
            subject.type,
            subject.id,
            code,
            since,
        )
    )


async def violation_time(conn: Connection, violation_id: str) -> datetime:
    """When the violation happened (its triggering fact's time)."""
    occurred: datetime = await conn.fetchval(
        "SELECT occurred_at FROM violations WHERE violation_id = $1", violation_id
    )
    return occurred


async def note_due(conn: Connection, orders: list[tuple[Any, ...]]) -> None:
    """Orders (id, shop, deadline, distribution creator, buyer, product) due to ship, in one
    statement (a batch's, written at its end: an order's overdue fact in the same batch was
    written first, and is now known paid). An order twice in the batch is written once."""
    unique = list({o[0]: o for o in orders}.values())
    columns = [[o[n] for o in unique] for n in range(6)]
    await conn.execute(
        "INSERT INTO shipments_due (order_id, shop_id, ship_by, creator_id, buyer_id,"
        " product_id) SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[],"
        " $4::text[], $5::text[], $6::text[]) ON CONFLICT (order_id) DO UPDATE SET"
        " paid_seen = true, creator_id = excluded.creator_id, buyer_id = excluded.buyer_id,"
        " product_id = excluded.product_id WHERE NOT shipments_due.paid_seen",
        *columns,
    )


async def sale_of(conn: Connection, order_id: str | None) -> asyncpg.Record | None:
    """The shop and the distribution creator of a paid order moderation saw (kept five
    weeks), or None."""
    if order_id is None:
        return None
    return await conn.fetchrow(
        "SELECT shop_id, creator_id, buyer_id, product_id FROM shipments_due"
        " WHERE order_id = $1 AND paid_seen",
        order_id,
    )


async def note_late(conn: Connection, order_id: str, shop_id: str, ship_by: datetime) -> None:
    """An order not shipped by its deadline: its week is to be judged (again). One whose
    payment moderation never saw (paid before it noted deadlines) stays out of every rate."""
    await conn.execute(
        "INSERT INTO shipments_due (order_id, shop_id, ship_by, late, paid_seen)"
        " VALUES ($1, $2, $3, true, false)"
        " ON CONFLICT (order_id) DO UPDATE SET late = true, judged = false"
        " WHERE NOT shipments_due.late",
        order_id,
        shop_id,
        ship_by,
    )


async def late_to_judge(conn: Connection, before: datetime, batch: int) -> list[asyncpg.Record]:
    """Late orders due ``before`` (in weeks that may be judged) whose week has not been
    judged with them yet (id, shop, deadline)."""
    return await conn.fetch(
        "SELECT order_id, shop_id, ship_by FROM shipments_due WHERE late AND NOT judged"
        " AND paid_seen AND ship_by < $1 ORDER BY shop_id, ship_by LIMIT $2",
        before,
        batch,
    )


async def judged(conn: Connection, order_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE shipments_due SET judged = true WHERE order_id = ANY($1::text[])", order_ids
    )


async def week_shipments(
    conn: Connection, shop_id: str, start: datetime, end: datetime
) -> tuple[int, int]:
    """(late, due): the shop's orders (whose payment was seen) due in the week from
    ``start`` to ``end``, and how many of them shipped late."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE late) AS late, count(*) AS due FROM shipments_due"
        " WHERE shop_id = $1 AND paid_seen AND ship_by >= $2 AND ship_by < $3",
        shop_id,
        start,
        end,
    )
    assert row is not None  # an aggregate always has its row
    return int(row["late"]), int(row["due"])


async def forget_shipments(conn: Connection, before: datetime, batch: int = 10_000) -> int:
    """Drop orders due before ``before`` (their weeks are judged): at most ``batch``."""
    deleted = await conn.fetch(
        "DELETE FROM shipments_due WHERE order_id IN (SELECT order_id FROM shipments_due"
        " WHERE ship_by < $1 LIMIT $2) RETURNING 1",
        before,
        batch,
    )
    return len(deleted)


async def year_points(conn: Connection, subject_type: str, subject_id: str, year: int) -> int:
    """The points booked against a subject in a calendar year."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(points), 0) FROM points_ledger WHERE subject_type = $1"
            " AND subject_id = $2 AND year = $3",
            subject_type,
            subject_id,
            year,
        )
    )


async def due_for_points(conn: Connection, now: datetime, batch: int) -> list[asyncpg.Record]:
    """Penalties (locked) whose appeal window lapsed with points pending and no appeal
    pending, earliest deadline first; a penalty whose measures ran out (expired) before the
    window lapsed keeps its points due."""
    return await conn.fetch(
        "SELECT p.* FROM penalties p WHERE p.points_status = 'pending' AND p.status <> 'revoked'"
        " AND p.appeal_deadline <= $1 AND NOT EXISTS (SELECT 1 FROM appeals a WHERE"
        " a.penalty_id = p.penalty_id AND a.status = 'pending')"
        " ORDER BY p.appeal_deadline LIMIT $2 FOR UPDATE OF p SKIP LOCKED",
        now,
        batch,
    )


async def subject_view(
    conn: Connection,
    policy: Policy,
    subject_type: str,
    subject_id: str,
    now: datetime,
    *,
    limit: int = 50,
    offset: int = 0,
    staff: bool = True,
) -> dict[str, Any]:
    """A subject's standing at ``now``: closed or not, this year's points, the measures in
    force, and a page of its penalties and violations in order (contact details in evidence
    masked unless ``staff``)."""
    subject = await conn.fetchrow(
        "SELECT * FROM subjects WHERE subject_type = $1 AND subject_id = $2",
        subject_type,
        subject_id,
    )
    penalty_rows = await conn.fetch(
        "SELECT p.*, a.appeal_id, a.status AS appeal_status FROM penalties p LEFT JOIN appeals a"
        " USING (penalty_id) WHERE p.subject_type = $1 AND p.subject_id = $2"
        " ORDER BY p.applied_at, p.penalty_id LIMIT $3 OFFSET $4",
        subject_type,
        subject_id,
        limit + 1,
        offset,
    )
    violations = await conn.fetch(
        "SELECT * FROM violations WHERE subject_type = $1 AND subject_id = $2"
        " ORDER BY occurred_at, violation_id LIMIT $3 OFFSET $4",
        subject_type,
        subject_id,
        limit + 1,
        offset,
    )
    more = len(penalty_rows) > limit or len(violations) > limit
    penalty_rows, violations = penalty_rows[:limit], violations[:limit]
    if subject is None and not violations:
        raise NotFound(f"nothing is known about {subject_type} {subject_id}")
    year = calendar_year(policy, now)
    booked = await year_points(conn, subject_type, subject_id, year)
    penalties = [{**dict(p), "measures": decode_json(p["measures"])} for p in penalty_rows]
    return {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "closed": bool(subject and subject["closed_at"]),
        "points": {
            "year": year,
            "booked": booked,
            "pending": sum(p["points"] for p in penalties if p["points_status"] == "pending"),
        },
        "current_measures": current_measures(penalties, now),
        "penalties": penalties,
        "violations": [_shown(v, staff) for v in violations],
        "next_offset": offset + limit if more else None,
    }


def _shown(violation: asyncpg.Record, staff: bool) -> dict[str, Any]:
    evidence = decode_json(violation["evidence"])
    if not staff:
        evidence = {**evidence, "text": mask_contacts(evidence.get("text"))}
    return {**dict(violation), "evidence": evidence}


async def recent_violations(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """Recent decisions, newest first, each with its penalty if it had one."""
    rows = await conn.fetch(
        "SELECT v.violation_id, v.subject_type, v.subject_id, v.code, v.severity, v.degree,"
        " v.decided_by, v.occurred_at, v.evidence->>'text' AS text, p.penalty_id,"
        " p.measures, p.points, p.points_status, p.status AS penalty_status"
        " FROM violations v LEFT JOIN penalties p USING (violation_id)"
        " ORDER BY v.occurred_at DESC LIMIT $1",
        limit,
    )
    return [
        {**dict(r), "measures": decode_json(r["measures"]) if r["measures"] else []} for r in rows
    ]


# --- rectification (整改) ------------------------------------------------------------------------
async def content_delistings(
    conn: Connection, product_id: str, shop_id: str, codes: list[str]
) -> list[asyncpg.Record]:
    """The shop's penalties not revoked whose delisting names the product, for a code that
    rectification lifts, with who decided their violation and on what text."""
    named = json.dumps([{"kind": "delist_products", "product_ids": [product_id]}])
    return await conn.fetch(
        "SELECT p.*, v.decided_by, v.evidence->>'text' AS evidence_text FROM penalties p"
        " JOIN violations v USING (violation_id) WHERE p.subject_type = 'shop'"
        " AND p.subject_id = $1 AND p.code = ANY($2::text[]) AND p.status <> 'revoked'"
        " AND p.measures @> $3::jsonb ORDER BY p.applied_at",
        shop_id,
        codes,
        named,
    )


async def in_review(conn: Connection, product_id: str) -> str | None:
    """The product's resubmission waiting for a reviewer, if any."""
    found = await conn.fetchval(
        "SELECT rectification_id FROM rectifications WHERE product_id = $1"
        " AND status = 'in_review'",
        product_id,
    )
    return str(found) if found is not None else None


async def penalties_by_id(conn: Connection, penalty_ids: list[str]) -> list[asyncpg.Record]:
    """Those of the penalties not revoked since."""
    return await conn.fetch(
        "SELECT * FROM penalties WHERE penalty_id = ANY($1::text[]) AND status <> 'revoked'"
        " ORDER BY applied_at",
        penalty_ids,
    )


async def get_rectification(
    conn: Connection, rectification_id: str, *, lock: bool = False
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT * FROM rectifications WHERE rectification_id = $1{_locking(lock)}",  # noqa: S608
        rectification_id,
    )
    if row is None:
        raise NotFound(f"no rectification {rectification_id}")
    return row


async def rectifications(conn: Connection, status: str, limit: int) -> list[dict[str, Any]]:
    """Resubmissions in ``status``, oldest first (the reviewers' queue for ``in_review``)."""
    rows = await conn.fetch(
        "SELECT * FROM rectifications WHERE status = $1 ORDER BY created_at LIMIT $2",
        status,
        limit,
    )
    return [rectification_view(r) for r in rows]


def rectification_view(row: asyncpg.Record) -> dict[str, Any]:
    return {**dict(row), "findings": decode_json(row["findings"])}


async def rectified(conn: Connection, product_id: str, version: str) -> tuple[bool, int]:
    """Whether this text of the product was accepted in a rectification (a reviewer may have
    passed words a detector trips on: relisted, they decide nothing again), and how many
    rectifications of the product were accepted."""
    row = await conn.fetchrow(
        "SELECT count(*) AS accepted, bool_or(text_version = $2) AS this_text"
        " FROM rectifications WHERE product_id = $1 AND status = 'accepted'",
        product_id,
        version,
    )
    assert row is not None  # an aggregate always has its row
    return bool(row["this_text"]), int(row["accepted"])
