"""HTTP entry points of the Chuanliu service: uplift, creator contribution, the budget."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from laotie_common.auth import Principal, Role, require
from laotie_common.db import Connection
from laotie_common.idempotency import run_command
from laotie_common.problems import NotFound, Unprocessable
from laotie_common.service import Service
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from laotie_chuanliu.bridge import Tx, budget_view, set_budget, uplift
from laotie_chuanliu.policy import ChuanliuPolicy


class SetBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_impressions: StrictInt = Field(ge=0, le=10**12)


def chuanliu_router(service: Service, policy: ChuanliuPolicy) -> APIRouter:
    router = APIRouter(tags=["chuanliu"])

    @router.get(
        "/brands/{brand_id}/uplift",
        summary="Attributed / non-attributed self-broadcast GMV, per day and in total",
    )
    async def brand_uplift(
        brand_id: str,
        since: Annotated[date | None, Query(alias="from")] = None,
        until: Annotated[date | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        today = policy.day_of(datetime.now(UTC))[0]
        until = until or today
        since = since or until - timedelta(days=29)
        if since > until:
            raise Unprocessable("'from' must not be after 'to'")
        async with service.pool.acquire() as conn:
            return await uplift(conn, brand_id, since, until)

    @router.get(
        "/creators/{creator_id}/contribution",
        summary="Brand GMV a creator's distribution led to, and the traffic it earned",
    )
    async def contribution(creator_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            by_brand = await conn.fetch(
                "SELECT brand_id, count(*) AS orders, sum(gmv_fen - refunded_fen) AS gmv_fen"
                " FROM self_broadcast_orders WHERE attributed AND via_creator_id = $1"
                " GROUP BY brand_id ORDER BY brand_id",
                creator_id,
            )
            rewards = await conn.fetchrow(
                "SELECT count(*) AS rewards, coalesce(sum(impressions), 0) AS impressions"
                " FROM rewards WHERE creator_id = $1",
                creator_id,
            )
            assert rewards is not None
        return {
            "creator_id": creator_id,
            "attributed_gmv_fen": sum(int(r["gmv_fen"]) for r in by_brand),
            "attributed_orders": sum(int(r["orders"]) for r in by_brand),
            "by_brand": [{**dict(r), "gmv_fen": int(r["gmv_fen"])} for r in by_brand],
            "rewards": int(rewards["rewards"]),
            "reward_impressions": int(rewards["impressions"]),
        }

    @router.get(
        "/sessions/{session_id}/grants",
        summary="What a brand's session start earned: the decision and its grants",
    )
    async def session_grants(session_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            trigger = await conn.fetchrow(
                "SELECT * FROM triggers WHERE session_id = $1", session_id
            )
            if trigger is None:
                raise NotFound(f"no decision for session {session_id} (yet)")
            grants = await conn.fetch(
                "SELECT buyer_id, via_creator_id, affinity, impressions, granted_at FROM grants"
                " WHERE session_id = $1 ORDER BY affinity DESC",
                session_id,
            )
        return {**dict(trigger), "grants_detail": [dict(g) for g in grants]}

    @router.get("/budget", summary="Today's budget, what is granted and left, and the pacing")
    async def get_budget() -> dict[str, Any]:
        async with service.pool.acquire() as conn, conn.transaction():
            return await budget_view(Tx(conn, datetime.now(UTC), policy))

    @router.put("/budget", summary="Set the daily impression budget (operators)")
    async def put_budget(
        body: SetBudget, request: Request, who: Annotated[Principal, require(Role.OPERATOR)]
    ) -> Any:
        async def command(conn: Connection) -> dict[str, Any]:
            return await set_budget(
                Tx(conn, datetime.now(UTC), policy), body.daily_impressions, who.subject
            )

        return await run_command(request, service.pool, who, command, payload=body.model_dump())

    return router
