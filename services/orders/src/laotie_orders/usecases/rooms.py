"""The live rooms as ``live.room`` tells of them: their owners, and which session is live.

A session's start and end arrive in order (the topic is keyed by room); an end names its
session, so a late end of an earlier session does not close a later one.
"""

from __future__ import annotations

from laotie_contracts.live import RoomFacts, SessionFacts

from laotie_orders.usecases.unit import Tx

UPSERT_ROOM = """
INSERT INTO live_rooms (room_id, owner_type, owner_id, shop_id, session_id, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (room_id) DO UPDATE SET owner_type = $2, owner_id = $3, shop_id = $4,
    session_id = COALESCE($5, live_rooms.session_id), updated_at = $6
"""


async def room_created(tx: Tx, room: RoomFacts) -> None:
    await _upsert(tx, room, None)


async def session_started(tx: Tx, session: SessionFacts) -> None:
    await _upsert(tx, session, session.session_id)


async def session_ended(tx: Tx, session: SessionFacts) -> None:
    await _upsert(tx, session, None)
    await tx.conn.execute(
        "UPDATE live_rooms SET session_id = NULL WHERE room_id = $1 AND session_id = $2",
        session.room_id,
        session.session_id,
    )


async def _upsert(tx: Tx, room: RoomFacts, session_id: str | None) -> None:
    await tx.conn.execute(
        UPSERT_ROOM,
        room.room_id,
        room.owner_type,
        room.owner_id,
        room.shop_id,
        session_id,
        room.occurred_at,
    )
