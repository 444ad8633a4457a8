"""Scoring's reads: a subject's window sums (from its daily buckets and penalties), its
stored score and history, the scored subjects of a kind, and what the window slide and the
band gauge look at."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from laotie_common.db import Connection
from laotie_common.problems import NotFound

from laotie_scoring.domain import (
    Kind,
    KindPolicy,
    NotEnoughData,
    ScorePolicy,
    WindowCounts,
    shanghai_day,
)
from laotie_scoring.domain import score as formula

WINDOW_SQL = """SELECT
     coalesce(sum(orders) FILTER (WHERE day >= $3), 0) AS orders,
     coalesce(sum(reviews) FILTER (WHERE day >= $3), 0) AS reviews,
     coalesce(sum(negative_reviews) FILTER (WHERE day >= $3), 0) AS negative_reviews,
     coalesce(sum(product_stars_sum) FILTER (WHERE day >= $3), 0) AS product_stars_sum,
     coalesce(sum(ship_due) FILTER (WHERE day >= $3), 0) AS ship_due,
     coalesce(sum(shipped_on_time) FILTER (WHERE day >= $3), 0) AS shipped_on_time,
     coalesce(sum(delivered) FILTER (WHERE day >= $3), 0) AS delivered,
     coalesce(sum(delivery_hours_sum) FILTER (WHERE day >= $3), 0) AS delivery_hours_sum,
     coalesce(sum(refund_answers) FILTER (WHERE day >= $3), 0) AS refund_answers,
     coalesce(sum(refund_answer_hours_sum) FILTER (WHERE day >= $3), 0)
         AS refund_answer_hours_sum,
     coalesce(sum(orders) FILTER (WHERE day BETWEEN $5 AND $6), 0) AS matured_orders,
     coalesce(sum(quality_refunds) FILTER (WHERE day BETWEEN $5 AND $6), 0)
         AS quality_refunds,
     coalesce(sum(disputes) FILTER (WHERE day BETWEEN $5 AND $6), 0) AS disputes
   FROM daily_buckets WHERE kind = $1 AND subject_id = $2
     AND day BETWEEN least($3, $5) AND $4"""


async def window_counts(
    conn: Connection, policy: ScorePolicy, kind: Kind, subject_id: str, today: date
) -> WindowCounts:
    start = today - timedelta(days=policy.window_days - 1)
    matured_end = today - timedelta(days=policy.matured_after_days)
    matured_start = matured_end - timedelta(days=policy.window_days - 1)
    row = await conn.fetchrow(
        WINDOW_SQL, kind, subject_id, start, today, matured_start, matured_end
    )
    # Penalties not revoked, but none whose facts the score already measures (a code the
    # policy says is measured elsewhere); one recorded without its code still counts.
    penalties = await conn.fetch(
        "SELECT points, closes FROM penalty_facts WHERE kind = $1 AND subject_id = $2"
        " AND day BETWEEN $3 AND $4 AND NOT revoked"
        " AND (violation_code IS NULL OR violation_code <> ALL($5::text[]))",
        kind,
        subject_id,
        start,
        today,
        policy.uncounted_violations(kind),
    )
    violations = sum(policy.violation_weight.of(p["points"], p["closes"]) for p in penalties)
    assert row is not None
    kwargs: dict[str, Any] = {
        f.name: (float if f.type == "float" else int)(row[f.name])
        for f in fields(WindowCounts)
        if f.name != "violations"
    }
    return WindowCounts(**kwargs, violations=round(violations, 4))


async def stored_score_for_update(
    conn: Connection, kind: Kind, subject_id: str
) -> asyncpg.Record | None:
    """The subject's stored score, locked until the transaction ends."""
    return await conn.fetchrow(
        "SELECT value, band, components, sample_orders FROM scores"
        " WHERE kind = $1 AND subject_id = $2 FOR UPDATE",
        kind,
        subject_id,
    )


async def stale_subjects(conn: Connection, today: date) -> list[asyncpg.Record]:
    """Subjects last scored for a day before ``today`` (a batch of them)."""
    return await conn.fetch(
        "SELECT kind, subject_id FROM scores WHERE window_end < $1 LIMIT 500", today
    )


async def subjects_by_band(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT kind, band, count(*) AS n FROM scores GROUP BY kind, band")


async def score(
    conn: Connection, policy: ScorePolicy, kind: Kind, subject_id: str, now: datetime
) -> dict[str, Any]:
    """A subject's score as of ``now``: value, band, components, window, policy version and
    the resources its band grants; or why it has none yet (too few orders)."""
    row = await conn.fetchrow(
        "SELECT * FROM scores WHERE kind = $1 AND subject_id = $2", kind, subject_id
    )
    today = shanghai_day(policy, now)
    counts = await window_counts(conn, policy, kind, subject_id, today)
    rules = policy.kinds[kind]
    window = {
        "days": policy.window_days,
        "end": today.isoformat(),
        "matured_after_days": policy.matured_after_days,
    }
    result = formula(policy, kind, counts)
    if row is None or isinstance(result, NotEnoughData):
        if counts.orders == 0 and row is None and not await _ever_scored(conn, kind, subject_id):
            raise NotFound(f"no orders known for {kind} {subject_id}")
        return {
            "kind": kind,
            "subject_id": subject_id,
            "status": "not_enough_data",
            "sample_orders": counts.orders,
            "min_sample_orders": rules.min_sample_orders,
            "missing": list(result.missing) if isinstance(result, NotEnoughData) else [],
            "window": window,
            "policy_version": policy.version,
        }
    return scored(row, rules, counts, window)


async def _ever_scored(conn: Connection, kind: Kind, subject_id: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM score_history WHERE kind = $1 AND subject_id = $2)",
        kind,
        subject_id,
    )
    return found


async def resources(
    conn: Connection, policy: ScorePolicy, kind: Kind, subject_id: str, now: datetime
) -> dict[str, Any]:
    """What the subject may use now, by its band, or the policy's ``unscored`` resources
    while it has no score: for callers deciding subsidies, campaigns, paid promotion."""
    view = await score(conn, policy, kind, subject_id, now)
    scored_ = view["status"] == "scored"
    band = policy.kinds[kind].band(view["value"]) if scored_ else policy.unscored
    if band is None:
        raise NotFound(f"policy {policy.version} serves no resources without a score")
    return {
        "kind": kind,
        "subject_id": subject_id,
        "status": view["status"],
        "band": view["band"] if scored_ else None,
        "policy_version": view["policy_version"],
        "traffic_weight": band.traffic_weight,
        "subsidy_eligible": band.subsidy,
        "campaign_eligible": band.campaigns,
        "paid_promotion_allowed": band.paid_promotion,
        "chuanliu_eligible": band.chuanliu,
    }


def scored(
    row: asyncpg.Record, rules: KindPolicy, counts: WindowCounts, window: dict[str, Any]
) -> dict[str, Any]:
    band = rules.band(float(row["value"]))
    return {
        "kind": row["kind"],
        "subject_id": row["subject_id"],
        "status": "scored",
        "value": float(row["value"]),
        "band": row["band"],
        "components": json.loads(row["components"]),
        "counts": asdict(counts),
        "sample_orders": row["sample_orders"],
        "window": window,
        "policy_version": row["policy_version"],
        "computed_at": row["computed_at"],
        "resources": {
            "traffic_weight": band.traffic_weight,
            "subsidy": band.subsidy,
            "campaigns": band.campaigns,
            "paid_promotion": band.paid_promotion,
            "chuanliu": band.chuanliu,
        },
    }


async def history(
    conn: Connection, kind: Kind, subject_id: str, limit: int
) -> list[dict[str, Any]]:
    """Every change of a subject's score, oldest first."""
    rows = await conn.fetch(
        "SELECT value, band, components, sample_orders, window_end, policy_version,"
        " computed_at FROM score_history WHERE kind = $1 AND subject_id = $2"
        " ORDER BY computed_at LIMIT $3",
        kind,
        subject_id,
        limit,
    )
    return [
        {**dict(r), "value": float(r["value"]), "components": json.loads(r["components"])}
        for r in rows
    ]


async def scores(conn: Connection, kind: Kind, limit: int) -> list[dict[str, Any]]:
    """The scored subjects of a kind, best first."""
    rows = await conn.fetch(
        "SELECT kind, subject_id, value, band, sample_orders, computed_at FROM scores"
        " WHERE kind = $1 ORDER BY value DESC LIMIT $2",
        kind,
        limit,
    )
    return [{**dict(r), "value": float(r["value"])} for r in rows]
