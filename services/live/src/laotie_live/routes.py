"""HTTP entry points of the live service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from laotie_common.auth import Principal, Role, require
from laotie_common.problems import Forbidden
from laotie_common.service import Service
from laotie_common.uow import CommandRunner
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from laotie_live import usecases
from laotie_live.stats import session_stats
from laotie_live.usecases import Tx

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


def live_router(service: Service) -> APIRouter:
    router = APIRouter()

    command = CommandRunner(lambda: service.pool, lambda conn, now: Tx(conn, now))

    @router.post("/rooms", status_code=201, tags=["rooms"], summary="Open a live room")
    async def create_room(
        body: CreateRoom,
        request: Request,
        who: Annotated[Principal, require(Role.ANCHOR, Role.SELLER, Role.OPERATOR)],
    ) -> Any:
        return await command(
            request,
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
            created=True,
        )

    @router.get("/rooms/{room_id}", tags=["rooms"], summary="A room and its live session")
    async def get_room(room_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            room = dict(await usecases.get_room(conn, room_id))
            room["live_session_id"] = await conn.fetchval(
                "SELECT session_id FROM sessions WHERE room_id = $1 AND ended_at IS NULL", room_id
            )
        return room

    @router.post(
        "/rooms/{room_id}/sessions",
        status_code=201,
        tags=["sessions"],
        summary="Go live (the room's owner)",
    )
    async def start(
        room_id: str,
        body: StartSession,
        request: Request,
        who: Annotated[Principal, require(Role.ANCHOR, Role.SELLER)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.start_session(tx, who, room_id, body.title),
            created=True,
        )

    @router.get("/sessions/{session_id}", tags=["sessions"], summary="A session")
    async def get_session(session_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            session, _ = await usecases.get_session(conn, session_id)
            pins = await conn.fetch(
                "SELECT product_id FROM pins WHERE session_id = $1"
                " AND unpinned_at IS NULL ORDER BY pinned_at",
                session_id,
            )
        return {**dict(session), "pinned_products": [p["product_id"] for p in pins]}

    @router.post(
        "/sessions/{session_id}/end",
        tags=["sessions"],
        summary="End the session (owner or operator)",
    )
    async def end(
        session_id: str,
        request: Request,
        who: Annotated[Principal, require(Role.ANCHOR, Role.SELLER, Role.OPERATOR)],
    ) -> Any:
        return await command(
            request, who, None, lambda tx: usecases.end_session(tx, who, session_id)
        )

    @router.post(
        "/sessions/{session_id}/pins",
        status_code=201,
        tags=["sessions"],
        summary="Pin an active product to the cart (挂车)",
    )
    async def pin(
        session_id: str,
        body: Pin,
        request: Request,
        who: Annotated[Principal, require(Role.ANCHOR, Role.SELLER)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.pin(tx, who, session_id, body.product_id),
            created=True,
        )

    @router.delete(
        "/sessions/{session_id}/pins/{product_id}", tags=["sessions"], summary="Unpin a product"
    )
    async def unpin(
        session_id: str,
        product_id: str,
        request: Request,
        who: Annotated[Principal, require(Role.ANCHOR, Role.SELLER)],
    ) -> Any:
        return await command(
            request, who, None, lambda tx: usecases.unpin(tx, who, session_id, product_id)
        )

    @router.post(
        "/sessions/{session_id}/viewers",
        tags=["sessions"],
        summary="Report viewer joins and leaves in a batch (player edge service)",
    )
    async def viewers(
        session_id: str,
        body: ViewerBatch,
        request: Request,
        who: Annotated[Principal, require(Role.SERVICE, Role.OPERATOR)],
    ) -> Any:
        events = [e.model_dump() for e in body.events]
        return await command(
            request, who, body, lambda tx: usecases.record_viewers(tx, session_id, events)
        )

    @router.post(
        "/sessions/{session_id}/comments",
        status_code=201,
        tags=["comments"],
        summary="Post a comment",
    )
    async def comment(
        session_id: str,
        body: PostComment,
        request: Request,
        who: Annotated[Principal, require(*ANYONE)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.post_comment(tx, who, session_id, body.text),
            created=True,
        )

    @router.get(
        "/sessions/{session_id}/comments",
        tags=["comments"],
        summary="Comments, newest first (hidden ones only for staff)",
    )
    async def comments(
        session_id: str,
        who: Annotated[Principal, require(*ANYONE)],
        include_hidden: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[dict[str, Any]]:
        if include_hidden and who.role not in (Role.OPERATOR, Role.REVIEWER):
            raise Forbidden("only platform staff see hidden comments")
        rows = await service.pool.fetch(
            "SELECT * FROM comments WHERE session_id = $1 AND ($2 OR hidden_at IS NULL)"
            " ORDER BY posted_at DESC LIMIT $3",
            session_id,
            include_hidden,
            limit,
        )
        return [dict(r) for r in rows]

    @router.get(
        "/sessions/{session_id}/stats",
        tags=["sessions"],
        summary="Real-time stats: GMV, orders, buyers, viewers, conversion",
    )
    async def stats(session_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            session, _ = await usecases.get_session(conn, session_id)
            return {
                "session_id": session_id,
                "live": session["ended_at"] is None,
                **await session_stats(conn, session_id),
            }

    return router
