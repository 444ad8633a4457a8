"""The facts live's events carry, built from its rows (one place for each event's shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


def room_facts(room: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        "room_id": room["room_id"],
        "owner_type": room["owner_type"],
        "owner_id": room["owner_id"],
        "shop_id": room["shop_id"],
        "title": room["title"],
        "occurred_at": now,
    }


def session_facts(room: asyncpg.Record, session: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        **room_facts(room, now),
        "title": session["title"],
        "session_id": session["session_id"],
        "self_broadcast": session["self_broadcast"],
        "started_at": session["started_at"],
    }


def comment_facts(comment: asyncpg.Record, room: asyncpg.Record) -> dict[str, Any]:
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
