"""Live's reads: rooms, sessions, bans, comments, and session statistics (viewers from the
report timeline, sales from the session's orders; both recomputed from their facts, so they
are replay-safe)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from laotie_common.db import Connection
from laotie_common.problems import NotFound

from laotie_live.domain import session_totals

VIEWERS_SQL = """
WITH ordered AS (
    SELECT viewer_id, at, action,
           lag(action) OVER (PARTITION BY viewer_id ORDER BY at, action) AS previous
    FROM viewer_events WHERE session_id = $1
), deltas AS (
    SELECT at, (action = 'join')::int - (coalesce(previous, 'leave') = 'join')::int AS d
    FROM ordered
), timeline AS (
    -- RANGE: reports at the same instant are summed together before the peak is taken.
    SELECT sum(d) OVER (ORDER BY at RANGE UNBOUNDED PRECEDING) AS running FROM deltas
)
SELECT coalesce((SELECT sum(d) FROM deltas), 0) AS concurrent,
       coalesce((SELECT max(running) FROM timeline), 0) AS peak,
       (SELECT count(DISTINCT viewer_id) FROM viewer_events
        WHERE session_id = $1 AND action = 'join') AS unique_viewers
"""

SALES_SQL = """
SELECT coalesce(sum(paid_fen) FILTER (WHERE paid), 0) AS gmv_fen,
       coalesce(sum(refunded_fen), 0) AS refunded_fen,
       count(*) FILTER (WHERE paid) AS orders,
       count(DISTINCT buyer_id) FILTER (WHERE paid) AS buyers
FROM session_orders WHERE session_id = $1
"""


async def session_stats(conn: Connection, session_id: str) -> dict[str, Any]:
    viewers = await conn.fetchrow(VIEWERS_SQL, session_id)
    sales = await conn.fetchrow(SALES_SQL, session_id)
    comments = await conn.fetchval(
        "SELECT count(*) FROM comments WHERE session_id = $1", session_id
    )
    assert viewers is not None
    assert sales is not None
    totals = session_totals(
        gmv_fen=int(sales["gmv_fen"]),
        refunded_fen=int(sales["refunded_fen"]),
        orders=int(sales["orders"]),
        buyers=int(sales["buyers"]),
        unique_viewers=int(viewers["unique_viewers"]),
        peak_viewers=int(viewers["peak"]),
        comments=int(comments or 0),
    )
    return {**totals.model_dump(), "concurrent_viewers": int(viewers["concurrent"])}


async def get_room(conn: Connection, room_id: str, *, lock: bool = False) -> asyncpg.Record:
    room = await conn.fetchrow(
        f"SELECT * FROM rooms WHERE room_id = $1{' FOR UPDATE' if lock else ''}",  # noqa: S608
        room_id,
    )
    if room is None:
        raise NotFound(f"no room {room_id}")
    return room


async def get_session(
    conn: Connection, session_id: str, *, lock: bool = False
) -> tuple[asyncpg.Record, asyncpg.Record]:
    session = await conn.fetchrow(
        f"SELECT * FROM sessions WHERE session_id = $1{' FOR UPDATE' if lock else ''}",  # noqa: S608
        session_id,
    )
    if session is None:
        raise NotFound(f"no session {session_id}")
    return session, await get_room(conn, session["room_id"])


async def live_session_id(conn: Connection, room_id: str) -> str | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT session_id FROM sessions WHERE room_id = $1 AND ended_at IS NULL", room_id
    )


async def room(conn: Connection, room_id: str) -> dict[str, Any]:
    """A room and the id of its live session (None when it is not live)."""
    return {
        **dict(await get_room(conn, room_id)),
        "live_session_id": await live_session_id(conn, room_id),
    }


async def session(conn: Connection, session_id: str) -> dict[str, Any]:
    """A session and the products pinned in it now, in pinning order."""
    row, _ = await get_session(conn, session_id)
    pins = await conn.fetch(
        "SELECT product_id FROM pins WHERE session_id = $1"
        " AND unpinned_at IS NULL ORDER BY pinned_at",
        session_id,
    )
    return {**dict(row), "pinned_products": [p["product_id"] for p in pins]}


async def stats(conn: Connection, session_id: str) -> dict[str, Any]:
    row, _ = await get_session(conn, session_id)
    return {
        "session_id": session_id,
        "live": row["ended_at"] is None,
        **await session_stats(conn, session_id),
    }


async def comments(
    conn: Connection, session_id: str, *, include_hidden: bool, limit: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM comments WHERE session_id = $1 AND ($2 OR hidden_at IS NULL)"
        " ORDER BY posted_at DESC LIMIT $3",
        session_id,
        include_hidden,
        limit,
    )
    return [dict(r) for r in rows]


async def active_live_ban(
    conn: Connection, room: asyncpg.Record, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM live_bans WHERE subject_id = ANY($1::text[]) AND revoked_at IS NULL"
        " AND (until IS NULL OR until > $2) ORDER BY until DESC NULLS FIRST LIMIT 1",
        [s for s in (room["owner_id"], room["shop_id"]) if s],
        now,
    )


async def session_live_at(conn: Connection, room_id: str, at: datetime) -> str | None:
    """The session of ``room_id`` that was live at ``at``, if any."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT session_id FROM sessions WHERE room_id = $1 AND started_at <= $2"
        " AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at DESC LIMIT 1",
        room_id,
        at,
    )


async def profile(conn: Connection, owner_type: str, owner_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT * FROM profiles WHERE owner_type = $1 AND owner_id = $2", owner_type, owner_id
    )
    if row is None:
        raise NotFound(f"no profile of {owner_type} {owner_id}")
    return profile_view(row)


def profile_view(row: asyncpg.Record) -> dict[str, Any]:
    """A profile as anyone sees it: a hidden one without its text."""
    view = dict(row)
    if row["hidden"]:
        view["text"] = ""  # hidden by moderation until its owner writes another
    return view
