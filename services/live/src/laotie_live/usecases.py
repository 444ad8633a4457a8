"""The live use cases: each runs in the caller's transaction and writes its events to the
outbox. Routes and consumers call these; nothing here commits or publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import asyncpg
from laotie_common import metrics
from laotie_common.auth import Principal, Role
from laotie_common.db import Connection
from laotie_common.ids import new_id
from laotie_common.problems import Conflict, Forbidden, NotFound
from laotie_common.uow import UnitOfWork
from laotie_contracts import live as ev
from laotie_contracts.live import SessionTotals

from laotie_live.domain import is_room_owner
from laotie_live.stats import session_stats

SOURCE = "/laotie/live"


@dataclass
class Tx(UnitOfWork):
    source: ClassVar[str] = SOURCE


# --- facts for events -------------------------------------------------------------------------
def _room_facts(room: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        "room_id": room["room_id"],
        "owner_type": room["owner_type"],
        "owner_id": room["owner_id"],
        "shop_id": room["shop_id"],
        "title": room["title"],
        "occurred_at": now,
    }


def _session_facts(room: asyncpg.Record, session: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        **_room_facts(room, now),
        "title": session["title"],
        "session_id": session["session_id"],
        "self_broadcast": session["self_broadcast"],
        "started_at": session["started_at"],
    }


# --- rooms and sessions ----------------------------------------------------------------------
async def create_room(
    tx: Tx,
    principal: Principal,
    *,
    owner_type: str,
    title: str,
    owner_id: str | None,
    shop_id: str | None,
) -> dict[str, Any]:
    if principal.role is Role.ANCHOR:
        if owner_type == "brand":
            raise Forbidden("brand rooms are opened by the brand's sellers")
        owner_id, shop_id = principal.subject, None
    elif principal.role is Role.SELLER:
        owner_type, owner_id, shop_id = "brand", principal.shop_id, principal.shop_id
    elif principal.role is Role.OPERATOR:
        if owner_type == "brand":
            owner_id = shop_id
        if not owner_id:
            raise Conflict("an operator must name the room's owner (owner_id or shop_id)")
    else:
        raise Forbidden("rooms are opened by anchors, creators, brand sellers or operators")
    room = await tx.conn.fetchrow(
        "INSERT INTO rooms (room_id, owner_type, owner_id, shop_id, title)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *",
        new_id(),
        owner_type,
        owner_id,
        shop_id,
        title,
    )
    assert room is not None
    await tx.emit(ev.RoomCreated(**_room_facts(room, tx.now)))
    return dict(room)


async def get_room(conn: Connection, room_id: str, *, lock: bool = False) -> asyncpg.Record:
    room = await conn.fetchrow(
        f"SELECT * FROM rooms WHERE room_id = $1{' FOR UPDATE' if lock else ''}",  # noqa: S608
        room_id,
    )
    if room is None:
        raise NotFound(f"no room {room_id}")
    return room


async def active_live_ban(
    conn: Connection, room: asyncpg.Record, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM live_bans WHERE subject_id = ANY($1::text[]) AND revoked_at IS NULL"
        " AND (until IS NULL OR until > $2) ORDER BY until DESC NULLS FIRST LIMIT 1",
        [s for s in (room["owner_id"], room["shop_id"]) if s],
        now,
    )


async def start_session(
    tx: Tx, principal: Principal, room_id: str, title: str | None
) -> dict[str, Any]:
    room = await get_room(tx.conn, room_id, lock=True)
    if not is_room_owner(principal, room["owner_type"], room["owner_id"], room["shop_id"]):
        raise Forbidden("only the room's owner starts its sessions")
    ban = await active_live_ban(tx.conn, room, tx.now)
    if ban is not None:
        until = "for good" if ban["until"] is None else f"until {ban['until'].isoformat()}"
        raise Conflict(
            f"the owner is banned from going live {until}",
            reason="live_banned",
            penalty_id=ban["penalty_id"],
        )
    live = await tx.conn.fetchval(
        "SELECT session_id FROM sessions WHERE room_id = $1 AND ended_at IS NULL", room_id
    )
    if live is not None:
        raise Conflict(f"room {room_id} is already live (session {live})", reason="already_live")
    session = await tx.conn.fetchrow(
        "INSERT INTO sessions (session_id, room_id, title, self_broadcast, started_at)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *",
        new_id(),
        room_id,
        title or room["title"],
        room["owner_type"] == "brand",
        tx.now,
    )
    assert session is not None
    await tx.emit(ev.SessionStarted(**_session_facts(room, session, tx.now)))
    tx.after_commit.append(metrics.LIVE_SESSIONS_STARTED.labels(room["owner_type"]).inc)
    return dict(session)


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


def _require_owner(principal: Principal, room: asyncpg.Record, *, operators: bool = False) -> None:
    if operators and principal.role is Role.OPERATOR:
        return
    if not is_room_owner(principal, room["owner_type"], room["owner_id"], room["shop_id"]):
        raise Forbidden("only the room's owner may do this")


async def end_session(tx: Tx, principal: Principal, session_id: str) -> dict[str, Any]:
    session, room = await get_session(tx.conn, session_id, lock=True)
    _require_owner(principal, room, operators=True)
    if session["ended_at"] is not None:
        raise Conflict(f"session {session_id} has ended already", reason="not_live")
    reason = "operator" if principal.role is Role.OPERATOR else "owner"
    return dict(await close_session(tx, session, room, reason))


async def close_session(
    tx: Tx, session: asyncpg.Record, room: asyncpg.Record, reason: str
) -> asyncpg.Record:
    """End a live session: unpin everything, publish its totals."""
    for pin in await tx.conn.fetch(
        "UPDATE pins SET unpinned_at = $2, unpin_reason = 'session_ended'"
        " WHERE session_id = $1 AND unpinned_at IS NULL RETURNING product_id",
        session["session_id"],
        tx.now,
    ):
        await tx.emit(
            ev.ProductUnpinned(
                **_session_facts(room, session, tx.now),
                product_id=pin["product_id"],
                reason="session_ended",
            )
        )
    totals = SessionTotals(
        **{
            k: v
            for k, v in (await session_stats(tx.conn, session["session_id"])).items()
            if k != "concurrent_viewers"
        }
    )
    ended = await tx.conn.fetchrow(
        "UPDATE sessions SET ended_at = $2, end_reason = $3, totals = $4::jsonb"
        " WHERE session_id = $1 RETURNING *",
        session["session_id"],
        tx.now,
        reason,
        totals.model_dump_json(),
    )
    assert ended is not None
    await tx.emit(
        ev.SessionEnded(
            **_session_facts(room, ended, tx.now), ended_at=tx.now, reason=reason, totals=totals
        )
    )
    tx.after_commit.append(metrics.LIVE_SESSIONS_ENDED.labels(reason).inc)
    return ended


# --- pinned products (挂车) ----------------------------------------------------------------
async def _live_session(
    tx: Tx, principal: Principal, session_id: str
) -> tuple[asyncpg.Record, asyncpg.Record]:
    session, room = await get_session(tx.conn, session_id, lock=True)
    _require_owner(principal, room)
    if session["ended_at"] is not None:
        raise Conflict(f"session {session_id} is not live", reason="not_live")
    return session, room


async def pin(tx: Tx, principal: Principal, session_id: str, product_id: str) -> dict[str, Any]:
    session, room = await _live_session(tx, principal, session_id)
    # FOR SHARE: a delisting applied concurrently either waits for this pin (and then unpins
    # it) or is seen here; without it both commit and the pin outlives the delisting.
    product = await tx.conn.fetchrow(
        "SELECT * FROM products WHERE product_id = $1 FOR SHARE", product_id
    )
    if product is None:
        raise Conflict(
            f"product {product_id} is unknown here (not listed, or not yet seen)",
            reason="product_unknown",
        )
    if product["status"] != "active":
        raise Conflict(
            f"product {product_id} is {product['status']}: only active products can be pinned",
            reason="product_not_active",
        )
    row = await tx.conn.fetchrow(
        "INSERT INTO pins (session_id, product_id, pinned_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (session_id, product_id) DO UPDATE SET pinned_at = $3,"
        " unpinned_at = NULL, unpin_reason = NULL WHERE pins.unpinned_at IS NOT NULL"
        " RETURNING *",
        session_id,
        product_id,
        tx.now,
    )
    if row is None:
        raise Conflict(f"product {product_id} is pinned already", reason="already_pinned")
    await tx.emit(ev.ProductPinned(**_session_facts(room, session, tx.now), product_id=product_id))
    return dict(row)


async def unpin(tx: Tx, principal: Principal, session_id: str, product_id: str) -> dict[str, Any]:
    session, room = await _live_session(tx, principal, session_id)
    row = await tx.conn.fetchrow(
        "UPDATE pins SET unpinned_at = $3, unpin_reason = 'owner' WHERE session_id = $1"
        " AND product_id = $2 AND unpinned_at IS NULL RETURNING *",
        session_id,
        product_id,
        tx.now,
    )
    if row is None:
        raise NotFound(f"product {product_id} is not pinned in session {session_id}")
    await tx.emit(
        ev.ProductUnpinned(
            **_session_facts(room, session, tx.now), product_id=product_id, reason="owner"
        )
    )
    return dict(row)


# --- viewers and comments -------------------------------------------------------------------
async def record_viewers(tx: Tx, session_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    session, _ = await get_session(tx.conn, session_id)
    rows = await tx.conn.fetch(
        "INSERT INTO viewer_events (session_id, viewer_id, at, action)"
        " SELECT DISTINCT $1, v, a, x"
        " FROM unnest($2::text[], $3::timestamptz[], $4::text[]) AS t(v, a, x)"
        # One lock order for every batch, so concurrent batches cannot deadlock.
        " ORDER BY 2, 3, 4 ON CONFLICT DO NOTHING RETURNING action",
        session_id,
        [e["viewer_id"] for e in events],
        [e["at"] for e in events],
        [e["action"] for e in events],
    )
    applied = len(rows)
    joins = sum(1 for r in rows if r["action"] == "join")
    by_action = {"join": sum(1 for e in events if e["action"] == "join")}
    by_action["leave"] = len(events) - by_action["join"]

    def count() -> None:
        metrics.LIVE_VIEWER_EVENTS.labels("join", "applied").inc(joins)
        metrics.LIVE_VIEWER_EVENTS.labels("leave", "applied").inc(applied - joins)
        metrics.LIVE_VIEWER_EVENTS.labels("join", "duplicate").inc(by_action["join"] - joins)
        metrics.LIVE_VIEWER_EVENTS.labels("leave", "duplicate").inc(
            by_action["leave"] - (applied - joins)
        )

    tx.after_commit.append(count)
    return {
        "session_id": session["session_id"],
        "received": len(events),
        "applied": applied,
        "duplicates": len(events) - applied,
    }


async def post_comment(tx: Tx, principal: Principal, session_id: str, text: str) -> dict[str, Any]:
    session, room = await get_session(tx.conn, session_id)
    if session["ended_at"] is not None:
        raise Conflict(f"session {session_id} is not live", reason="not_live")
    owner = is_room_owner(principal, room["owner_type"], room["owner_id"], room["shop_id"])
    role = "owner" if owner else "viewer"
    comment = await tx.conn.fetchrow(
        "INSERT INTO comments (comment_id, session_id, room_id, author_id, author_role, text,"
        " posted_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        new_id(),
        session_id,
        room["room_id"],
        principal.subject,
        role,
        text,
        tx.now,
    )
    assert comment is not None
    await tx.emit(ev.CommentPosted(**_comment_facts(comment, room)))
    tx.after_commit.append(metrics.LIVE_COMMENTS.labels(role).inc)
    return dict(comment)


def _comment_facts(comment: asyncpg.Record, room: asyncpg.Record) -> dict[str, Any]:
    return {
        "comment_id": comment["comment_id"],
        "session_id": comment["session_id"],
        "room_id": comment["room_id"],
        "author_id": comment["author_id"],
        "author_role": comment["author_role"],
        "room_owner_id": room["owner_id"],
        "room_owner_type": room["owner_type"],
        "room_shop_id": room["shop_id"],
        "text": comment["text"],
        "posted_at": comment["posted_at"],
    }
