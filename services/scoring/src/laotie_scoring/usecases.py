"""Scoring's use cases: order and penalty facts recorded, a subject's daily bucket
refreshed, its score recomputed (stored and its events written to the outbox when it moved).
Each runs in the caller's unit of work; nothing here commits or publishes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

import asyncpg
from laotie_common import metrics
from laotie_common.uow import UnitOfWork
from laotie_contracts import orders as ev
from laotie_contracts.moderation import PenaltyFacts
from laotie_contracts.scoring import (
    ScoreChanged,
    ScoreCurrent,
    ScoreNotEnoughData,
    ScoreWithdrawn,
)

from laotie_scoring import domain, queries
from laotie_scoring.domain import (
    PENALTY_KINDS,
    Kind,
    NotEnoughData,
    Score,
    ScorePolicy,
    fact_columns,
    same_score,
    score,
    shanghai_day,
)
from laotie_scoring.facts import change_facts, no_score_facts, score_facts

SOURCE = "/laotie/scoring"
SUBJECT_COLUMN = {"shop": "shop_id", "product": "product_id", "creator": "seller_id"}

UPSERT_FACT_SQL = """
INSERT INTO order_facts AS f (order_id, shop_id, product_id, seller_id, paid_day, ship_by,
    shipped_at, overdue, delivered_at, product_stars, quality_refund, refund_answer_s, disputed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (order_id) DO UPDATE SET
    paid_day = coalesce(f.paid_day, EXCLUDED.paid_day),
    ship_by = coalesce(f.ship_by, EXCLUDED.ship_by),
    shipped_at = coalesce(f.shipped_at, EXCLUDED.shipped_at),
    overdue = f.overdue OR EXCLUDED.overdue,
    delivered_at = coalesce(f.delivered_at, EXCLUDED.delivered_at),
    product_stars = coalesce(f.product_stars, EXCLUDED.product_stars),
    quality_refund = f.quality_refund OR EXCLUDED.quality_refund,
    refund_answer_s = coalesce(f.refund_answer_s, EXCLUDED.refund_answer_s),
    disputed = f.disputed OR EXCLUDED.disputed
RETURNING paid_day
"""

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

STORE_SCORE_SQL = """
INSERT INTO scores (kind, subject_id, value, band, components, sample_orders, window_end,
    policy_version, computed_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)
ON CONFLICT (kind, subject_id) DO UPDATE SET value = EXCLUDED.value,
    band = EXCLUDED.band, components = EXCLUDED.components,
    sample_orders = EXCLUDED.sample_orders, window_end = EXCLUDED.window_end,
    policy_version = EXCLUDED.policy_version, computed_at = EXCLUDED.computed_at
"""

HISTORY_SQL = """
INSERT INTO score_history (kind, subject_id, value, band, components, sample_orders,
    window_end, policy_version, computed_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)
"""


@dataclass
class Tx(UnitOfWork):
    policy: ScorePolicy
    source: ClassVar[str] = SOURCE


@dataclass(frozen=True)
class Touched:
    """What a recorded fact changed: the subjects whose score is to be recomputed, and the
    day whose buckets of theirs are to be refreshed first (None: no bucket changed)."""

    subjects: list[tuple[Kind, str]] = field(default_factory=list)
    day: date | None = None


# --- the facts of other services --------------------------------------------------------------
async def record_order_fact(
    tx: Tx, ce_type: str, facts: ev.OrderFacts, event: Any
) -> Touched | None:
    """An order event's columns merged into the order's facts; the order's shop, product and
    seller are touched on its paid day (an order not paid yet counts nowhere)."""
    columns = fact_columns(tx.policy, ce_type, event)
    if columns is None:
        return None
    seller = domain.creator_of(facts)
    paid_day = await tx.conn.fetchval(
        UPSERT_FACT_SQL,
        facts.order_id,
        facts.shop_id,
        facts.product_id,
        seller,
        columns.get("paid_day"),
        columns.get("ship_by"),
        columns.get("shipped_at"),
        columns.get("overdue", False),
        columns.get("delivered_at"),
        columns.get("product_stars"),
        columns.get("quality_refund", False),
        columns.get("refund_answer_s"),
        columns.get("disputed", False),
    )
    if paid_day is None:
        return None  # not paid (yet): counts nowhere
    subjects: list[tuple[Kind, str]] = [("shop", facts.shop_id), ("product", facts.product_id)]
    if seller:
        subjects.append(("creator", seller))
    return Touched(subjects, paid_day)


async def record_penalty(tx: Tx, penalty: PenaltyFacts) -> Touched | None:
    """A penalty of its subject on the day it was applied, with its code: whether it counts
    as a violation is the window's to say (``queries.window_counts``, by the policy)."""
    kind = PENALTY_KINDS.get(penalty.subject_type)
    if kind is None:
        return None
    await tx.conn.execute(
        "INSERT INTO penalty_facts AS p (penalty_id, kind, subject_id, day, violation_code,"
        " points, closes) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (penalty_id) DO UPDATE"
        " SET violation_code = coalesce(p.violation_code, EXCLUDED.violation_code),"
        " points = coalesce(p.points, EXCLUDED.points), closes = p.closes OR EXCLUDED.closes",
        penalty.penalty_id,
        kind,
        penalty.subject_id,
        shanghai_day(tx.policy, penalty.occurred_at),
        penalty.violation_code,
        penalty.step_points,
        any(m.kind == "close" for m in penalty.measures),
    )
    return Touched([(kind, penalty.subject_id)])


async def revoke_penalty(tx: Tx, penalty: PenaltyFacts) -> Touched | None:
    """A revoked penalty counts no more."""
    kind = PENALTY_KINDS.get(penalty.subject_type)
    if kind is None:
        return None
    await tx.conn.execute(
        "UPDATE penalty_facts SET revoked = true WHERE penalty_id = $1", penalty.penalty_id
    )
    return Touched([(kind, penalty.subject_id)])


# --- buckets and scores -----------------------------------------------------------------------
async def refresh_bucket(tx: Tx, kind: Kind, subject_id: str, day: date) -> None:
    """Recompute one subject's bucket for one day from that day's facts."""
    await tx.conn.execute(BUCKET_SQL.format(column=SUBJECT_COLUMN[kind]), kind, subject_id, day)


async def recompute(tx: Tx, kind: Kind, subject_id: str) -> Score | NotEnoughData:
    """Compute a subject's score now; store it and emit its events if it changed."""
    policy = tx.policy
    today = shanghai_day(policy, tx.now)
    counts = await queries.window_counts(tx.conn, policy, kind, subject_id, today)
    result = score(policy, kind, counts)
    metrics.SCORE_RECOMPUTATIONS.labels(kind).inc()
    previous = await queries.stored_score_for_update(tx.conn, kind, subject_id)
    if isinstance(result, NotEnoughData):
        if previous is not None:
            await withdraw_score(tx, kind, subject_id, result, previous, today)
        return result
    if previous is not None and same_score(
        result, float(previous["value"]), previous["band"], json.loads(previous["components"])
    ):
        if previous["sample_orders"] != result.sample_orders:
            # Same score from a different sample: keep the row true, publish nothing (the
            # score did not move), so the stored row never depends on delivery order.
            await tx.conn.execute(
                "UPDATE scores SET sample_orders = $3, window_end = $4, computed_at = $5"
                " WHERE kind = $1 AND subject_id = $2",
                kind,
                subject_id,
                result.sample_orders,
                today,
                tx.now,
            )
        return result  # nothing moved: nothing to publish
    await store_score(tx, kind, subject_id, result, today)
    facts = score_facts(policy, kind, subject_id, result, today, tx.now)
    await tx.emit(ScoreChanged(**facts, **change_facts(result, previous)))
    await tx.emit(ScoreCurrent(**facts))
    return result


async def withdraw_score(
    tx: Tx,
    kind: Kind,
    subject_id: str,
    result: NotEnoughData,
    previous: asyncpg.Record,
    today: date,
) -> None:
    """A stored score that the window no longer supports: removed, and the no-score state
    published to both topics (the compacted latest one never keeps the old band)."""
    await tx.conn.execute(
        "DELETE FROM scores WHERE kind = $1 AND subject_id = $2", kind, subject_id
    )
    facts = no_score_facts(tx.policy, kind, subject_id, result, today, tx.now)
    await tx.emit(
        ScoreWithdrawn(
            **facts, previous_value=float(previous["value"]), previous_band=previous["band"]
        )
    )
    await tx.emit(ScoreNotEnoughData(**facts))


async def store_score(tx: Tx, kind: Kind, subject_id: str, result: Score, today: date) -> None:
    """The subject's current score replaced, and the change kept in its history."""
    row = (
        kind,
        subject_id,
        result.value,
        result.band.name,
        json.dumps(result.components, sort_keys=True),
        result.sample_orders,
        today,
        tx.policy.version,
        tx.now,
    )
    await tx.conn.execute(STORE_SCORE_SQL, *row)
    await tx.conn.execute(HISTORY_SQL, *row)
