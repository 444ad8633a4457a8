"""What scoring applies from other services' streams: each handler parses its event, calls
a use case in the unit of work it is given, and leaves the touched subjects' buckets and
scores for the end of the batch (``Later``), so each is recomputed once per batch from every
fact the batch recorded, not once per fact.

- ``orders.order``: an order's facts (paid, shipped, delivered, reviewed, refunds, disputes);
- ``moderation.penalty``: penalties applied and revoked (violations, but for the codes the
  score policy says a score already measures).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from laotie_common import metrics
from laotie_common.consumer import BatchWork, Later
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import PenaltyFacts

from laotie_scoring import usecases
from laotie_scoring.domain import Kind
from laotie_scoring.usecases import Touched, Tx


async def on_order_fact(tx: Tx, envelope: Envelope) -> Later | None:
    facts = envelope.parse(order_events.OrderFacts)
    model = order_events.CATALOGUE_BY_TYPE.get(envelope.type)
    event: Any = envelope.parse(model) if model else facts
    touched = await usecases.record_order_fact(tx, envelope.type, facts, event)
    if touched is None:
        return None
    return Later(rescore(tx, touched), after_commit=lambda: observe_lag(facts.occurred_at))


async def on_penalty_applied(tx: Tx, envelope: Envelope) -> Later | None:
    touched = await usecases.record_penalty(tx, envelope.parse(PenaltyFacts))
    return None if touched is None else Later(rescore(tx, touched))


async def on_penalty_revoked(tx: Tx, envelope: Envelope) -> Later | None:
    touched = await usecases.revoke_penalty(tx, envelope.parse(PenaltyFacts))
    return None if touched is None else Later(rescore(tx, touched))


HANDLERS = {
    **dict.fromkeys(order_events.ORDER_EVENT_TYPES, on_order_fact),
    "moderation.penalty.applied": on_penalty_applied,
    "moderation.penalty.revoked": on_penalty_revoked,
}


def rescore(tx: Tx, touched: Touched) -> dict[tuple[Any, ...], BatchWork]:
    """Once per batch (see laotie_common.consumer.Later): each touched subject's bucket of
    the day refreshed (phase 0), then its score recomputed (phase 1) from every fact the
    batch wrote. The work runs on the batch's connection, the unit's own."""
    work: dict[tuple[Any, ...], BatchWork] = {}
    for kind, subject_id in touched.subjects:
        if touched.day is not None:
            work[(0, "bucket", kind, subject_id, touched.day)] = refresh_work(
                tx, kind, subject_id, touched.day
            )
        work[(1, "score", kind, subject_id)] = recompute_work(tx, kind, subject_id)
    return work


def refresh_work(tx: Tx, kind: Kind, subject_id: str, day: date) -> BatchWork:
    async def refresh(_: Connection) -> None:
        await usecases.refresh_bucket(tx, kind, subject_id, day)

    return refresh


def recompute_work(tx: Tx, kind: Kind, subject_id: str) -> BatchWork:
    async def compute(_: Connection) -> None:
        await usecases.recompute(tx, kind, subject_id)

    return compute


def observe_lag(occurred_at: datetime) -> None:
    lag = (datetime.now(UTC) - occurred_at).total_seconds()
    metrics.SCORE_LAG_SECONDS.observe(max(lag, 0.0))
