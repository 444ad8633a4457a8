"""HTTP entry points of the live service: each parses its input and calls a use case
(commands) or a query (reads)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from laotie_common.auth import Principal, Role, require
from laotie_common.entry import Commands, Reading
from laotie_common.problems import Forbidden
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from laotie_live import queries, usecases
from laotie_live.access import may_see_hidden

Id = Annotated[str, Field(min_length=1, max_length=100)]
Title = Annotated[str, Field(min_length=1, max_length=200)]
ANYONE = (Role.BUYER, Role.SELLER, Role.ANCHOR, Role.REVIEWER, Role.OPERATOR, Role.SERVICE)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRoom(Body):
    owner_type: Literal["anchor", "creator", "brand"]
    title: Title
    owner_id: Id | None = Field(default=None, description="Operators only: the owner.")
    shop_id: Id | None = Field(default=None, description="Operators only: a brand's shop.")


class StartSession(Body):
    title: Title | None = None


class Pin(Body):
    product_id: Id


class ViewerReport(Body):
    viewer_id: Id
    action: Literal["join", "leave"]
    at: AwareDatetime


class ViewerBatch(Body):
    events: list[ViewerReport] = Field(min_length=1, max_length=10_000)


class PostComment(Body):
    text: Annotated[str, Field(min_length=1, max_length=500)]


class Profile(Body):
    text: Annotated[str, Field(max_length=2000)]


ProfileOwner = Literal["anchor", "creator"]
Anchor = Annotated[Principal, require(Role.ANCHOR)]
Owner = Annotated[Principal, require(Role.ANCHOR, Role.SELLER)]
OwnerOrOperator = Annotated[Principal, require(Role.ANCHOR, Role.SELLER, Role.OPERATOR)]
EdgeService = Annotated[Principal, require(Role.SERVICE, Role.OPERATOR)]
Anyone = Annotated[Principal, require(*ANYONE)]

router = APIRouter()


@router.put(
    "/profiles/{owner_type}/{owner_id}",
    tags=["profiles"],
    summary="Write your own profile text (anchors and creators), scanned by moderation",
)
async def write_profile(
    owner_type: ProfileOwner, owner_id: str, body: Profile, command: Commands, who: Anchor
) -> Any:
    return await command(
        who, body, lambda tx: usecases.write_profile(tx, who, owner_type, owner_id, body.text)
    )


@router.get("/profiles/{owner_type}/{owner_id}", tags=["profiles"], summary="A profile")
async def profile(owner_type: ProfileOwner, owner_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.profile(conn, owner_type, owner_id)


@router.post("/rooms", status_code=201, tags=["rooms"], summary="Open a live room")
async def create_room(body: CreateRoom, command: Commands, who: OwnerOrOperator) -> Any:
    return await command(
        who,
        body,
        lambda tx: usecases.create_room(
            tx,
            who,
            owner_type=body.owner_type,
            title=body.title,
            owner_id=body.owner_id,
            shop_id=body.shop_id,
        ),
    )


@router.get("/rooms/{room_id}", tags=["rooms"], summary="A room and its live session")
async def get_room(room_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.room(conn, room_id)


@router.post(
    "/rooms/{room_id}/sessions",
    status_code=201,
    tags=["sessions"],
    summary="Go live (the room's owner)",
)
async def start(room_id: str, body: StartSession, command: Commands, who: Owner) -> Any:
    return await command(who, body, lambda tx: usecases.start_session(tx, who, room_id, body.title))


@router.get("/sessions/{session_id}", tags=["sessions"], summary="A session")
async def get_session(session_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.session(conn, session_id)


@router.post(
    "/sessions/{session_id}/end", tags=["sessions"], summary="End the session (owner or operator)"
)
async def end(session_id: str, command: Commands, who: OwnerOrOperator) -> Any:
    return await command(who, None, lambda tx: usecases.end_session(tx, who, session_id))


@router.post(
    "/sessions/{session_id}/pins",
    status_code=201,
    tags=["sessions"],
    summary="Pin an active product to the cart (挂车)",
)
async def pin(session_id: str, body: Pin, command: Commands, who: Owner) -> Any:
    return await command(who, body, lambda tx: usecases.pin(tx, who, session_id, body.product_id))


@router.delete(
    "/sessions/{session_id}/pins/{product_id}", tags=["sessions"], summary="Unpin a product"
)
async def unpin(session_id: str, product_id: str, command: Commands, who: Owner) -> Any:
    return await command(who, None, lambda tx: usecases.unpin(tx, who, session_id, product_id))


@router.post(
    "/sessions/{session_id}/viewers",
    tags=["sessions"],
    summary="Report viewer joins and leaves in a batch (player edge service)",
)
async def viewers(session_id: str, body: ViewerBatch, command: Commands, who: EdgeService) -> Any:
    events = [e.model_dump() for e in body.events]
    return await command(who, body, lambda tx: usecases.record_viewers(tx, session_id, events))


@router.post(
    "/sessions/{session_id}/comments", status_code=201, tags=["comments"], summary="Post a comment"
)
async def comment(session_id: str, body: PostComment, command: Commands, who: Anyone) -> Any:
    return await command(
        who, body, lambda tx: usecases.post_comment(tx, who, session_id, body.text)
    )


@router.get(
    "/sessions/{session_id}/comments",
    tags=["comments"],
    summary="Comments, newest first (hidden ones only for staff)",
)
async def comments(
    session_id: str,
    who: Anyone,
    conn: Reading,
    include_hidden: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    if include_hidden and not may_see_hidden(who):
        raise Forbidden("only platform staff see hidden comments")
    return await queries.comments(conn, session_id, include_hidden=include_hidden, limit=limit)


@router.get(
    "/sessions/{session_id}/stats",
    tags=["sessions"],
    summary="Real-time stats: GMV, orders, buyers, viewers, conversion",
)
async def stats(session_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.stats(conn, session_id)
