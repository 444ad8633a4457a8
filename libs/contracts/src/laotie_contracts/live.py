"""Events of the ``live`` service: ``live.room`` and ``live.comment``.

A brand's own room is a *self-broadcast* (品牌自播): its sessions carry
``self_broadcast=true`` and the brand's ``shop_id``, which Chuanliu keys on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from laotie_contracts.common import Fen, Id, UtcTime
from laotie_contracts.events import Event, event

ROOM_TOPIC = "live.room"
COMMENT_TOPIC = "live.comment"
PROFILE_TOPIC = "live.profile"

OwnerType = Literal["anchor", "creator", "brand"]


class RoomFacts(Event):
    room_id: Id
    owner_type: OwnerType
    owner_id: Id = Field(description="The anchor or creator, or for a brand room its shop id.")
    shop_id: str | None = Field(default=None, description="The brand's shop (brand rooms).")
    title: str
    occurred_at: UtcTime


@event("live.room.created", topic=ROOM_TOPIC, key="room_id")
class RoomCreated(RoomFacts):
    pass


class SessionFacts(RoomFacts):
    session_id: Id
    self_broadcast: bool
    started_at: UtcTime


@event("live.room.session_started", topic=ROOM_TOPIC, key="room_id")
class SessionStarted(SessionFacts):
    pass


class SessionTotals(BaseModel):
    gmv_fen: Fen = Field(description="Paid orders attributed to the session.")
    refunded_fen: Fen
    net_gmv_fen: int
    orders: int = Field(ge=0)
    buyers: int = Field(ge=0)
    unique_viewers: int = Field(ge=0)
    peak_viewers: int = Field(ge=0)
    comments: int = Field(ge=0)
    conversion: float = Field(ge=0, description="Buyers / unique viewers (0 with no viewers).")


@event("live.room.session_ended", topic=ROOM_TOPIC, key="room_id")
class SessionEnded(SessionFacts):
    ended_at: UtcTime
    reason: Literal["owner", "operator", "force_closed"]
    totals: SessionTotals


@event("live.room.force_closed", topic=ROOM_TOPIC, key="room_id")
class SessionForceClosed(SessionFacts):
    """Moderation banned the owner from going live: the running session was closed."""

    penalty_id: str
    live_ban_until: UtcTime | None


class PinFacts(SessionFacts):
    product_id: Id


@event("live.room.product_pinned", topic=ROOM_TOPIC, key="room_id")
class ProductPinned(PinFacts):
    pass


@event("live.room.product_unpinned", topic=ROOM_TOPIC, key="room_id")
class ProductUnpinned(PinFacts):
    reason: Literal["owner", "product_unavailable", "session_ended"]


# --- live.comment -------------------------------------------------------------------------
class CommentFacts(Event):
    comment_id: Id
    session_id: Id
    room_id: Id
    author_id: Id
    author_role: Literal["viewer", "owner"] = Field(
        description="owner: the room's anchor/creator or the brand's seller; else a viewer."
    )
    room_owner_id: Id
    room_owner_type: OwnerType | None = None
    room_shop_id: str | None = None
    text: str = Field(max_length=2000)
    posted_at: UtcTime


@event("live.comment.posted", topic=COMMENT_TOPIC, key="session_id")
class CommentPosted(CommentFacts):
    pass


@event("live.comment.hidden", topic=COMMENT_TOPIC, key="session_id")
class CommentHidden(CommentFacts):
    violation_id: str
    violation_code: str
    hidden_at: UtcTime


# --- live.profile -----------------------------------------------------------------------
@event("live.profile.changed", topic=PROFILE_TOPIC, key="owner_id")
class ProfileChanged(Event):
    """An anchor or creator wrote their own profile text (简介): moderation scans it like a
    title. ``revision_id`` names this text: a decision on it (hiding it) never reaches a
    later one."""

    owner_type: Literal["anchor", "creator"]
    owner_id: Id
    text: str
    revision_id: Id
    occurred_at: UtcTime
