"""Applying order and penalty facts: facts → the day's buckets → the subjects' scores."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from laotie_common import metrics
from laotie_common.consumer import AfterCommit, BatchWork, Handler, Later
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_contracts import orders as ev
from laotie_contracts.moderation import PenaltyFacts

from laotie_scoring.domain import Kind, ScorePolicy
from laotie_scoring.store import recompute, refresh_bucket, shanghai_day

QUALITY_REASONS = {"quality", "not_as_described"}

UPSERT = """
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


def handlers(policy: ScorePolicy) -> dict[str, Handler]:
    # An unanswered request (approved automatically) counts as the worst answer time.
    answer_cap_s = policy.indicators["refund_answer_hours"].worst * 3600

    async def on_order(conn: Connection, envelope: Envelope) -> AfterCommit | Later | None:
        facts = envelope.parse(ev.OrderFacts)
        model = ev.CATALOGUE_BY_TYPE.get(envelope.type)
        event: Any = envelope.parse(model) if model else facts
        columns = _columns(policy, envelope.type, event, answer_cap_s)
        if columns is None:
            return None
        seller = facts.attribution.creator_id or facts.attribution.anchor_id
        paid_day = await conn.fetchval(
            UPSERT,
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
        later = Later(after_commit=lambda: _observe_lag(facts.occurred_at))
        for kind, subject_id in subjects:
            later.once[(0, "bucket", kind, subject_id, paid_day)] = _bucket(
                kind, subject_id, paid_day
            )
            later.once[(1, "score", kind, subject_id)] = _score(policy, kind, subject_id)
        return later

    async def on_penalty(conn: Connection, envelope: Envelope) -> AfterCommit | Later | None:
        penalty = envelope.parse(PenaltyFacts)
        kind: Kind | None = {"shop": "shop", "anchor": "creator", "creator": "creator"}.get(
            penalty.subject_type
        )  # type: ignore[assignment]
        if kind is None:
            return None
        if envelope.type == "moderation.penalty.applied":
            await conn.execute(
                "INSERT INTO penalty_facts (penalty_id, kind, subject_id, day)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                penalty.penalty_id,
                kind,
                penalty.subject_id,
                shanghai_day(policy, penalty.occurred_at),
            )
        elif envelope.type == "moderation.penalty.revoked":
            await conn.execute(
                "UPDATE penalty_facts SET revoked = true WHERE penalty_id = $1", penalty.penalty_id
            )
        else:
            return None
        return Later(
            {(1, "score", kind, penalty.subject_id): _score(policy, kind, penalty.subject_id)}
        )

    table: dict[str, Handler] = {t: on_order for t in ev.ORDER_EVENT_TYPES}
    table["moderation.penalty.applied"] = on_penalty
    table["moderation.penalty.revoked"] = on_penalty
    return table


def _rescore(
    policy: ScorePolicy, kind: Kind, subject_id: str, day: date | None = None
) -> dict[tuple[Any, ...], BatchWork]:
    """Once per batch (see laotie_common.consumer.Later): the subject's bucket of ``day``
    refreshed (phase 0), then its score recomputed (phase 1) from every fact the batch wrote."""
    work: dict[tuple[Any, ...], BatchWork] = {
        (1, "score", kind, subject_id): _score(policy, kind, subject_id)
    }
    if day is not None:
        work[(0, "bucket", kind, subject_id, day)] = _bucket(kind, subject_id, day)
    return work


def _bucket(kind: Kind, subject_id: str, day: date) -> BatchWork:
    async def refresh(conn: Connection) -> None:
        await refresh_bucket(conn, kind, subject_id, day)

    return refresh


def _score(policy: ScorePolicy, kind: Kind, subject_id: str) -> BatchWork:
    async def compute(conn: Connection) -> None:
        await recompute(conn, policy, kind, subject_id, datetime.now(UTC))

    return compute


def _observe_lag(occurred_at: datetime) -> None:
    lag = (datetime.now(UTC) - occurred_at).total_seconds()
    metrics.SCORE_LAG_SECONDS.observe(max(lag, 0.0))


def _columns(
    policy: ScorePolicy, ce_type: str, event: Any, answer_cap_s: float
) -> dict[str, Any] | None:
    """The order_facts columns one event sets."""
    kind = ce_type.removeprefix("orders.order.")
    if kind == "paid":
        return {"paid_day": shanghai_day(policy, event.occurred_at), "ship_by": event.ship_by}
    if kind == "shipped":
        return {"shipped_at": event.occurred_at, "ship_by": event.ship_by}
    if kind == "shipment_overdue":
        return {"overdue": True, "ship_by": event.ship_by}
    if kind == "delivered":
        return {"delivered_at": event.occurred_at, "shipped_at": event.shipped_at}
    if kind == "reviewed":
        return {"product_stars": event.product_stars}
    if kind in ("refund_approved", "refund_rejected"):
        answered = answer_cap_s if getattr(event, "automatic", False) else event.answered_after_s
        return {"refund_answer_s": min(answered, answer_cap_s)}
    if kind == "refunded":
        return {"quality_refund": event.refund_reason in QUALITY_REASONS}
    if kind == "refund_escalated":
        return {"disputed": True}
    return None
