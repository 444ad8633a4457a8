"""What the live service applies from other services' streams.

- ``orders.order``: sales attributed to a live room count toward the session that was live
  when the order was placed; every column is set from the order's facts (idempotent).
- ``orders.product``: the product catalogue pins are checked against; a product that stops
  being active is unpinned from live sessions.
- ``moderation.penalty``: a live ban closes the owner's running session at once and refuses
  new ones until it ends or is revoked.
- ``moderation.violation``: a comment found violating is hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from laotie_common import metrics
from laotie_common.consumer import AfterCommit, Handler
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_contracts import live as ev
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import PenaltyApplied, PenaltyRevoked, ViolationDetected

from laotie_live.usecases import (
    Tx,
    _comment_facts,
    _session_facts,
    close_session,
    get_room,
    get_session,
)

LIVE_BAN_MEASURES = {"live_ban", "close"}


def handlers() -> dict[str, Handler]:
    table: dict[str, Handler] = {}
    for ce_type in order_events.ORDER_EVENT_TYPES:
        table[ce_type] = on_order_fact
    for ce_type in (
        "orders.product.listed",
        "orders.product.changed",
        "orders.product.delisted",
        "orders.product.relisted",
    ):
        table[ce_type] = on_product_fact
    table["moderation.penalty.applied"] = on_penalty_applied
    table["moderation.penalty.revoked"] = on_penalty_revoked
    table["moderation.violation.detected"] = on_violation
    return table


def _tx(conn: Connection) -> Tx:
    return Tx(conn, datetime.now(UTC))


async def on_order_fact(conn: Connection, envelope: Envelope) -> AfterCommit | None:
    facts = envelope.parse(order_events.OrderFacts)
    attribution = facts.attribution
    if attribution.channel != "live_room" or not attribution.room_id:
        return None
    session_id = await conn.fetchval(
        "SELECT session_id FROM sessions WHERE room_id = $1 AND started_at <= $2"
        " AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at DESC LIMIT 1",
        attribution.room_id,
        facts.placed_at,
    )
    if session_id is None:
        return None  # placed while the room was not live: no session to credit
    paid = facts.was_paid()
    was_paid = await conn.fetchval(
        "SELECT paid FROM session_orders WHERE order_id = $1 FOR UPDATE", facts.order_id
    )
    await conn.execute(
        """INSERT INTO session_orders AS s (order_id, session_id, buyer_id, paid, paid_fen,
                                            refunded_fen)
           VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN $5::bigint ELSE 0 END, $6)
           ON CONFLICT (order_id) DO UPDATE SET
               paid = s.paid OR EXCLUDED.paid,
               paid_fen = greatest(s.paid_fen, EXCLUDED.paid_fen),
               refunded_fen = greatest(s.refunded_fen, EXCLUDED.refunded_fen)""",
        facts.order_id,
        session_id,
        facts.buyer_id,
        paid,
        facts.total_fen,
        facts.refunded_fen,
    )
    first_paid = paid and not was_paid
    if first_paid and paid:
        return lambda: metrics.LIVE_ROOM_GMV_FEN.inc(facts.total_fen)
    return None


async def on_product_fact(conn: Connection, envelope: Envelope) -> AfterCommit | None:
    product = envelope.parse(order_events.ProductFacts)
    await conn.execute(
        """INSERT INTO products AS p (product_id, shop_id, title, status, updated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (product_id) DO UPDATE SET shop_id = EXCLUDED.shop_id,
               title = EXCLUDED.title, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
           WHERE p.updated_at <= EXCLUDED.updated_at""",
        product.product_id,
        product.shop_id,
        product.title,
        product.status,
        product.occurred_at,
    )
    if product.status == "active":
        return None
    tx = _tx(conn)
    pins = await conn.fetch(
        "UPDATE pins SET unpinned_at = $2, unpin_reason = 'product_unavailable'"
        " WHERE product_id = $1 AND unpinned_at IS NULL RETURNING session_id",
        product.product_id,
        tx.now,
    )
    for pin in pins:
        session, room = await get_session(conn, pin["session_id"])
        await tx.emit(
            ev.ProductUnpinned(
                **_session_facts(room, session, tx.now),
                product_id=product.product_id,
                reason="product_unavailable",
            )
        )
    return None


async def on_penalty_applied(conn: Connection, envelope: Envelope) -> AfterCommit | None:
    penalty = envelope.parse(PenaltyApplied)
    bans = [m for m in penalty.measures if m.kind in LIVE_BAN_MEASURES]
    if not bans:
        return None
    tx = _tx(conn)
    subjects = {penalty.subject_id} | ({penalty.shop_id} if penalty.shop_id else set())
    forever = any(m.kind == "close" for m in bans)
    until = None if forever else max((m.until for m in bans if m.until), default=None)
    if until is not None and until <= tx.now:
        return None  # already over
    for subject in subjects:
        await conn.execute(
            "INSERT INTO live_bans (penalty_id, subject_id, until) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            penalty.penalty_id,
            subject,
            until,
        )
    running = await conn.fetch(
        "SELECT s.session_id FROM sessions s JOIN rooms r USING (room_id)"
        " WHERE s.ended_at IS NULL AND (r.owner_id = ANY($1::text[]) OR r.shop_id = ANY($1))"
        " FOR UPDATE OF s",
        list(subjects),
    )
    for row in running:
        session, room = await get_session(conn, row["session_id"])
        await tx.emit(
            ev.SessionForceClosed(
                **_session_facts(room, session, tx.now),
                penalty_id=penalty.penalty_id,
                live_ban_until=until,
            )
        )
        await close_session(tx, session, room, "force_closed")
    return tx.committed


async def on_penalty_revoked(conn: Connection, envelope: Envelope) -> AfterCommit | None:
    penalty = envelope.parse(PenaltyRevoked)
    await conn.execute(
        "UPDATE live_bans SET revoked_at = now() WHERE penalty_id = $1 AND revoked_at IS NULL",
        penalty.penalty_id,
    )
    return None


async def on_violation(conn: Connection, envelope: Envelope) -> AfterCommit | None:
    violation = envelope.parse(ViolationDetected)
    evidence = violation.evidence
    if evidence.source_type != "comment" or not violation.hide_content:
        return None
    tx = _tx(conn)
    comment = await conn.fetchrow(
        "UPDATE comments SET hidden_at = $2, hidden_violation_id = $3"
        " WHERE comment_id = $1 AND hidden_at IS NULL RETURNING *",
        evidence.source_id,
        tx.now,
        violation.violation_id,
    )
    if comment is None:
        return None  # unknown here, or hidden already
    room = await get_room(conn, comment["room_id"])
    await tx.emit(
        ev.CommentHidden(
            **_comment_facts(comment, room),
            violation_id=violation.violation_id,
            violation_code=violation.code,
            hidden_at=tx.now,
        )
    )
    hidden: Callable[[], None] = metrics.LIVE_COMMENTS_HIDDEN.inc
    return hidden
