"""What Chuanliu applies: distribution sales (affinity), refunds (withdrawal), brand sessions
(grants), self-broadcast orders (attribution, rewards), bands and penalties."""

from __future__ import annotations

from datetime import UTC, datetime

from laotie_common.consumer import AfterCommit, Handler
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_contracts import live as live_events
from laotie_contracts import orders as ev
from laotie_contracts.moderation import PenaltyFacts
from laotie_contracts.scoring import ScoreCurrent

from laotie_chuanliu.bridge import (
    RESTRICTIVE_MEASURES,
    Tx,
    grant_for_session,
    self_broadcast_order,
)
from laotie_chuanliu.policy import ChuanliuPolicy

PAID = {"orders.order.paid"}
REFUNDS = {"orders.order.refunded"}


def handlers(policy: ChuanliuPolicy) -> dict[str, Handler]:
    def tx(conn: Connection) -> Tx:
        return Tx(conn, datetime.now(UTC), policy)

    async def on_order(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        facts = envelope.parse(ev.OrderFacts)
        a = facts.attribution
        t = tx(conn)
        if a.channel == "distribution" and facts.shop_kind == "brand" and a.creator_id:
            if envelope.type in PAID:
                await conn.execute(
                    "INSERT INTO affinity (order_id, buyer_id, brand_id, creator_id, paid_at)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    facts.order_id,
                    facts.buyer_id,
                    facts.shop_id,
                    a.creator_id,
                    facts.occurred_at,
                )
            elif envelope.type in REFUNDS or facts.refunded_fen > 0:
                # Insert-or-withdraw: a refund seen before the payment still withdraws.
                await conn.execute(
                    "INSERT INTO affinity AS f (order_id, buyer_id, brand_id, creator_id,"
                    " paid_at, withdrawn) VALUES ($1, $2, $3, $4, $5, true)"
                    " ON CONFLICT (order_id) DO UPDATE SET withdrawn = true",
                    facts.order_id,
                    facts.buyer_id,
                    facts.shop_id,
                    a.creator_id,
                    facts.placed_at,
                )
            return None
        if a.channel != "live_room" or not a.room_id:
            return None
        brand = await conn.fetchval(
            "SELECT brand_id FROM brand_rooms WHERE room_id = $1", a.room_id
        )
        if brand is None or brand != facts.shop_id:
            return None  # not the brand's own room: not a self-broadcast sale
        if not facts.was_paid():
            return None
        day, _ = policy.day_of(facts.placed_at)
        await self_broadcast_order(
            t,
            order_id=facts.order_id,
            brand_id=brand,
            buyer_id=facts.buyer_id,
            placed_at=facts.placed_at,
            paid_day=day,
            gmv_fen=facts.total_fen,
            refunded_fen=facts.refunded_fen,
        )
        return t.committed

    async def on_room(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        room = envelope.parse(live_events.RoomFacts)
        if room.owner_type != "brand" or not room.shop_id:
            return None
        await conn.execute(
            "INSERT INTO brand_rooms (room_id, brand_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            room.room_id,
            room.shop_id,
        )
        if envelope.type != "live.room.session_started":
            return None
        session = envelope.parse(live_events.SessionStarted)
        t = tx(conn)
        await grant_for_session(
            t, session_id=session.session_id, room_id=session.room_id, brand_id=room.shop_id
        )
        return t.committed

    async def on_score(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        score = envelope.parse(ScoreCurrent)
        if score.kind not in ("shop", "creator"):
            return None
        await conn.execute(
            """INSERT INTO bands AS b (subject_key, band, chuanliu_eligible, traffic_weight,
                   computed_at) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (subject_key) DO UPDATE SET band = EXCLUDED.band,
                   chuanliu_eligible = EXCLUDED.chuanliu_eligible,
                   traffic_weight = EXCLUDED.traffic_weight, computed_at = EXCLUDED.computed_at
               WHERE b.computed_at <= EXCLUDED.computed_at""",
            score.subject_key,
            score.band,
            score.resources.chuanliu_eligible,
            score.resources.traffic_weight,
            score.computed_at,
        )
        return None

    async def on_penalty(conn: Connection, envelope: Envelope) -> AfterCommit | None:
        penalty = envelope.parse(PenaltyFacts)
        subjects = {penalty.subject_id} | ({penalty.shop_id} if penalty.shop_id else set())
        if envelope.type == "moderation.penalty.applied":
            restrictive = [m for m in penalty.measures if m.kind in RESTRICTIVE_MEASURES]
            if not restrictive:
                return None
            forever = any(m.until is None for m in restrictive)
            until = None if forever else max(m.until for m in restrictive if m.until)
            for subject in subjects:
                await conn.execute(
                    "INSERT INTO penalties (penalty_id, subject_id, until) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
                    penalty.penalty_id,
                    subject,
                    until,
                )
        elif envelope.type == "moderation.penalty.revoked":
            await conn.execute(
                "UPDATE penalties SET revoked = true WHERE penalty_id = $1", penalty.penalty_id
            )
        return None

    table: dict[str, Handler] = {t: on_order for t in ev.ORDER_EVENT_TYPES}
    table.update(
        {
            "live.room.created": on_room,
            "live.room.session_started": on_room,
            "scoring.score-latest.current": on_score,
            "moderation.penalty.applied": on_penalty,
            "moderation.penalty.revoked": on_penalty,
        }
    )
    return table
