"""Facts, daily buckets and window sums in Postgres, and (re)computing a subject's score."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from laotie_common import metrics, outbox
from laotie_common.db import Connection
from laotie_contracts.scoring import Resources, ScoreChanged, ScoreCurrent

from laotie_scoring.domain import Kind, NotEnoughData, Score, ScorePolicy, WindowCounts, score

SOURCE = "/laotie/scoring"
SUBJECT_COLUMN = {"shop": "shop_id", "product": "product_id", "creator": "seller_id"}

BUCKET_SQL = """
INSERT INTO daily_buckets AS b (kind, subject_id, day, orders, reviews, negative_reviews,
    product_stars_sum, quality_refunds, disputes, ship_due, shipped_on_time, delivered,
    delivery_hours_sum, refund_answers, refund_answer_hours_sum)
SELECT $1, $2, $3,
    count(*),
    count(product_stars),
    count(*) FILTER (WHERE product_stars <= 2),
    coalesce(sum(product_stars), 0),
    count(*) FILTER (WHERE quality_refund),
    count(*) FILTER (WHERE disputed),
    count(*) FILTER (WHERE shipped_at IS NOT NULL OR overdue),
    count(*) FILTER (WHERE shipped_at IS NOT NULL AND shipped_at <= ship_by),
    count(*) FILTER (WHERE delivered_at IS NOT NULL AND shipped_at IS NOT NULL),
    coalesce(sum(EXTRACT(EPOCH FROM delivered_at - shipped_at) / 3600)
             FILTER (WHERE delivered_at IS NOT NULL AND shipped_at IS NOT NULL), 0),
    count(refund_answer_s),
    coalesce(sum(refund_answer_s / 3600), 0)
FROM order_facts WHERE {column} = $2 AND paid_day = $3
ON CONFLICT (kind, subject_id, day) DO UPDATE SET
    orders = EXCLUDED.orders, reviews = EXCLUDED.reviews,
    negative_reviews = EXCLUDED.negative_reviews,
    product_stars_sum = EXCLUDED.product_stars_sum,
    quality_refunds = EXCLUDED.quality_refunds, disputes = EXCLUDED.disputes,
    ship_due = EXCLUDED.ship_due, shipped_on_time = EXCLUDED.shipped_on_time,
    delivered = EXCLUDED.delivered, delivery_hours_sum = EXCLUDED.delivery_hours_sum,
    refund_answers = EXCLUDED.refund_answers,
    refund_answer_hours_sum = EXCLUDED.refund_answer_hours_sum
"""


def shanghai_day(policy: ScorePolicy, moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(policy.calendar_timezone)).date()


async def refresh_bucket(conn: Connection, kind: Kind, subject_id: str, day: date) -> None:
    """Recompute one subject's bucket for one day from that day's facts."""
    await conn.execute(BUCKET_SQL.format(column=SUBJECT_COLUMN[kind]), kind, subject_id, day)


async def window_counts(
    conn: Connection, policy: ScorePolicy, kind: Kind, subject_id: str, today: date
) -> WindowCounts:
    start = today - timedelta(days=policy.window_days - 1)
    matured_end = today - timedelta(days=policy.matured_after_days)
    matured_start = matured_end - timedelta(days=policy.window_days - 1)
    row = await conn.fetchrow(
        """SELECT
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
             AND day BETWEEN least($3, $5) AND $4""",
        kind,
        subject_id,
        start,
        today,
        matured_start,
        matured_end,
    )
    violations = await conn.fetchval(
        "SELECT count(*) FROM penalty_facts WHERE kind = $1 AND subject_id = $2"
        " AND day BETWEEN $3 AND $4 AND NOT revoked",
        kind,
        subject_id,
        start,
        today,
    )
    assert row is not None
    kwargs: dict[str, Any] = {
        f.name: (float if f.type == "float" else int)(row[f.name])
        for f in fields(WindowCounts)
        if f.name != "violations"
    }
    return WindowCounts(**kwargs, violations=int(violations or 0))


def resources(result: Score) -> Resources:
    band = result.band
    return Resources(
        traffic_weight=band.traffic_weight,
        subsidy_eligible=band.subsidy,
        campaign_eligible=band.campaigns,
        paid_promotion_allowed=band.paid_promotion,
        chuanliu_eligible=band.chuanliu,
    )


async def recompute(
    conn: Connection, policy: ScorePolicy, kind: Kind, subject_id: str, now: datetime
) -> Score | NotEnoughData:
    """Compute a subject's score now; store and publish it if it changed."""
    today = shanghai_day(policy, now)
    result = score(policy, kind, await window_counts(conn, policy, kind, subject_id, today))
    metrics.SCORE_RECOMPUTATIONS.labels(kind).inc()
    if isinstance(result, NotEnoughData):
        return result
    previous = await conn.fetchrow(
        "SELECT value, band, components, sample_orders FROM scores"
        " WHERE kind = $1 AND subject_id = $2 FOR UPDATE",
        kind,
        subject_id,
    )
    components = json.dumps(result.components, sort_keys=True)
    if (
        previous is not None
        and float(previous["value"]) == result.value
        and (previous["band"] == result.band.name)
        and json.loads(previous["components"]) == result.components
    ):
        if previous["sample_orders"] != result.sample_orders:
            # Same score from a different sample: keep the row true, publish nothing (the
            # score did not move), so the stored row never depends on delivery order.
            await conn.execute(
                "UPDATE scores SET sample_orders = $3, window_end = $4, computed_at = $5"
                " WHERE kind = $1 AND subject_id = $2",
                kind,
                subject_id,
                result.sample_orders,
                today,
                now,
            )
        return result  # nothing moved: nothing to publish
    row = (
        kind,
        subject_id,
        result.value,
        result.band.name,
        components,
        result.sample_orders,
        today,
        policy.version,
        now,
    )
    await conn.execute(
        """INSERT INTO scores (kind, subject_id, value, band, components, sample_orders,
               window_end, policy_version, computed_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)
           ON CONFLICT (kind, subject_id) DO UPDATE SET value = EXCLUDED.value,
               band = EXCLUDED.band, components = EXCLUDED.components,
               sample_orders = EXCLUDED.sample_orders, window_end = EXCLUDED.window_end,
               policy_version = EXCLUDED.policy_version, computed_at = EXCLUDED.computed_at""",
        *row,
    )
    await conn.execute(
        "INSERT INTO score_history (kind, subject_id, value, band, components, sample_orders,"
        " window_end, policy_version, computed_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7,"
        " $8, $9)",
        *row,
    )
    facts = {
        "subject_key": f"{kind}:{subject_id}",
        "kind": kind,
        "subject_id": subject_id,
        "value": result.value,
        "band": result.band.name,
        "components": result.components,
        "sample_orders": result.sample_orders,
        "window_days": policy.window_days,
        "window_end": today.isoformat(),
        "policy_version": policy.version,
        "resources": resources(result),
        "computed_at": now,
    }
    previous_band = previous["band"] if previous else None
    await outbox.add(
        conn,
        ScoreChanged(
            **facts,
            previous_value=float(previous["value"]) if previous else None,
            previous_band=previous_band,
            band_changed=previous_band != result.band.name,
        ),
        source=SOURCE,
    )
    await outbox.add(conn, ScoreCurrent(**facts), source=SOURCE)
    return result


def counts_dict(counts: WindowCounts) -> dict[str, Any]:
    return asdict(counts)
