"""Live's use cases: each runs in the caller's unit of work and writes its events to the
outbox. Routes (commands) and handlers (other services' facts) call these; nothing here
commits or publishes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg
from laotie_common import metrics
from laotie_common.auth import Principal, Role
from laotie_common.ids import new_id
from laotie_common.problems import Conflict, Forbidden, NotFound
from laotie_common.uow import UnitOfWork
from laotie_contracts import live as ev
from laotie_contracts import orders as order_events
from laotie_contracts.live import SessionTotals
from laotie_contracts.moderation import PenaltyApplied, PenaltyRevoked, ViolationDetected

from laotie_live import queries
from laotie_live.access import new_room_owner, owns, require_owner
from laotie_live.domain import LIVE_BAN_MEASURES
from laotie_live.facts import comment_facts, room_facts, session_facts
from laotie_live.queries import get_room, get_session

SOURCE = "/laotie/live"


@dataclass
class Tx(UnitOfWork):
    source: ClassVar[str] = SOURCE


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
    owner_type, owner_id, shop_id = new_room_owner(principal, owner_type, owner_id, shop_id)
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
    await tx.emit(ev.RoomCreated(**room_facts(room, tx.now)))
    return dict(room)


async def start_session(
    tx: Tx, principal: Principal, room_id: str, title: str | None
) -> dict[str, Any]:
    room = await get_room(tx.conn, room_id, lock=True)
    if not owns(principal, room):
        raise Forbidden("only the room's owner starts its sessions")
    ban = await queries.active_live_ban(tx.conn, room, tx.now)
    if ban is not None:
        until = "for good" if ban["until"] is None else f"until {ban['until'].isoformat()}"
        raise Conflict(
            f"the owner is banned from going live {until}",
            reason="live_banned",
            penalty_id=ban["penalty_id"],
        )
    live = await queries.live_session_id(tx.conn, room_id)
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
    await tx.emit(ev.SessionStarted(**session_facts(room, session, tx.now)))
    tx.after_commit.append(metrics.LIVE_SESSIONS_STARTED.labels(room["owner_type"]).inc)
    return dict(session)


async def end_session(tx: Tx, principal: Principal, session_id: str) -> dict[str, Any]:
    session, room = await get_session(tx.conn, session_id, lock=True)
    require_owner(principal, room, operators=True)
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
                **session_facts(room, session, tx.now),
                product_id=pin["product_id"],
                reason="session_ended",
            )
        )
    totals = SessionTotals(
        **{
            k: v
            for k, v in (await queries.session_stats(tx.conn, session["session_id"])).items()
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
            **session_facts(room, ended, tx.now), ended_at=tx.now, reason=reason, totals=totals
        )
    )
    tx.after_commit.append(metrics.LIVE_SESSIONS_ENDED.labels(reason).inc)
    return ended


# --- pinned products (挂车) ----------------------------------------------------------------
async def _live_session(
    tx: Tx, principal: Principal, session_id: str
) -> tuple[asyncpg.Record, asyncpg.Record]:
    session, room = await get_session(tx.conn, session_id, lock=True)
    require_owner(principal, room)
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
    await tx.emit(ev.ProductPinned(**session_facts(room, session, tx.now), product_id=product_id))
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
            **session_facts(room, session, tx.now), product_id=product_id, reason="owner"
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
    role = "owner" if owns(principal, room) else "viewer"
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
    await tx.emit(ev.CommentPosted(**comment_facts(comment, room)))
    tx.after_commit.append(metrics.LIVE_COMMENTS.labels(role).inc)
    return dict(comment)


# --- other services' facts ----------------------------------------------------------------
async def credit_order(tx: Tx, facts: order_events.OrderFacts) -> None:
    """A sale attributed to a live room counts toward the session live when it was placed;
    every column is set from the order's facts (idempotent, order-insensitive)."""
    attribution = facts.attribution
    if attribution.channel != "live_room" or not attribution.room_id:
        return
    session_id = await queries.session_live_at(tx.conn, attribution.room_id, facts.placed_at)
    if session_id is None:
        return  # placed while the room was not live: no session to credit
    paid = facts.was_paid()
    was_paid = await tx.conn.fetchval(
        "SELECT paid FROM session_orders WHERE order_id = $1 FOR UPDATE", facts.order_id
    )
    await tx.conn.execute(
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
    if paid and not was_paid:
        tx.after_commit.append(lambda: metrics.LIVE_ROOM_GMV_FEN.inc(facts.total_fen))


async def mirror_product(tx: Tx, product: order_events.ProductFacts) -> None:
    """Keep the catalogue pins are checked against; a product that stops being active is
    unpinned from every live session."""
    await tx.conn.execute(
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
        return
    pins = await tx.conn.fetch(
        "UPDATE pins SET unpinned_at = $2, unpin_reason = 'product_unavailable'"
        " WHERE product_id = $1 AND unpinned_at IS NULL RETURNING session_id",
        product.product_id,
        tx.now,
    )
    for pinned in pins:
        session, room = await get_session(tx.conn, pinned["session_id"])
        await tx.emit(
            ev.ProductUnpinned(
                **session_facts(room, session, tx.now),
                product_id=product.product_id,
                reason="product_unavailable",
            )
        )


async def apply_live_ban(tx: Tx, penalty: PenaltyApplied) -> None:
    """A live ban closes the owner's running sessions at once and refuses new ones until it
    ends or is revoked."""
    bans = [m for m in penalty.measures if m.kind in LIVE_BAN_MEASURES]
    if not bans:
        return
    subjects = {penalty.subject_id} | ({penalty.shop_id} if penalty.shop_id else set())
    forever = any(m.kind == "close" for m in bans)
    until = None if forever else max((m.until for m in bans if m.until), default=None)
    if until is not None and until <= tx.now:
        return  # already over
    for subject in subjects:
        await tx.conn.execute(
            "INSERT INTO live_bans (penalty_id, subject_id, until) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            penalty.penalty_id,
            subject,
            until,
        )
    running = await tx.conn.fetch(
        "SELECT s.session_id FROM sessions s JOIN rooms r USING (room_id)"
        " WHERE s.ended_at IS NULL AND (r.owner_id = ANY($1::text[]) OR r.shop_id = ANY($1))"
        " FOR UPDATE OF s",
        list(subjects),
    )
    for row in running:
        session, room = await get_session(tx.conn, row["session_id"])
        await tx.emit(
            ev.SessionForceClosed(
                **session_facts(room, session, tx.now),
                penalty_id=penalty.penalty_id,
                live_ban_until=until,
            )
        )
        await close_session(tx, session, room, "force_closed")


async def lift_live_ban(tx: Tx, penalty: PenaltyRevoked) -> None:
    await tx.conn.execute(
        "UPDATE live_bans SET revoked_at = now() WHERE penalty_id = $1 AND revoked_at IS NULL",
        penalty.penalty_id,
    )


async def write_profile(
    tx: Tx, principal: Principal, owner_type: str, owner_id: str, text: str
) -> dict[str, Any]:
    """An anchor's or creator's own profile text, a new revision (shown again if an earlier
    one was hidden); moderation scans it (``live.profile.changed``)."""
    if principal.role is not Role.ANCHOR or principal.subject != owner_id:
        raise Forbidden("only the anchor or creator writes their own profile")
    row = await tx.conn.fetchrow(
        "INSERT INTO profiles (owner_type, owner_id, text, revision_id, updated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner_id) DO UPDATE SET"
        " text = excluded.text, revision_id = excluded.revision_id, hidden = false,"
        " updated_at = excluded.updated_at WHERE profiles.owner_type = excluded.owner_type"
        " RETURNING *",
        owner_type,
        owner_id,
        text,
        new_id(),
        tx.now,
    )
    if row is None:
        raise Conflict(
            f"{owner_id} has a profile of another kind than {owner_type}", reason="other_kind"
        )
    await tx.emit(
        ev.ProfileChanged(
            owner_type=owner_type,
            owner_id=owner_id,
            text=text,
            revision_id=row["revision_id"],
            occurred_at=tx.now,
        )
    )
    return queries.profile_view(row)


async def hide_content(tx: Tx, violation: ViolationDetected) -> None:
    """What a violation says to hide: a comment, or that revision of a profile."""
    if not violation.hide_content:
        return
    if violation.evidence.source_type == "profile":
        await tx.conn.execute(
            "UPDATE profiles SET hidden = true WHERE revision_id = $1",
            violation.evidence.source_id,
        )
    elif violation.evidence.source_type == "comment":
        await hide_comment(tx, violation)


async def hide_comment(tx: Tx, violation: ViolationDetected) -> None:
    """A comment found violating is hidden (once)."""
    evidence = violation.evidence
    comment = await tx.conn.fetchrow(
        "UPDATE comments SET hidden_at = $2, hidden_violation_id = $3"
        " WHERE comment_id = $1 AND hidden_at IS NULL RETURNING *",
        evidence.source_id,
        tx.now,
        violation.violation_id,
    )
    if comment is None:
        return  # unknown here, or hidden already
    room = await get_room(tx.conn, comment["room_id"])
    await tx.emit(
        ev.CommentHidden(
            **comment_facts(comment, room),
            violation_id=violation.violation_id,
            violation_code=violation.code,
            hidden_at=tx.now,
        )
    )
    tx.after_commit.append(metrics.LIVE_COMMENTS_HIDDEN.inc)
