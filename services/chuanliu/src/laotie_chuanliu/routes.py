"""HTTP entry points of the Chuanliu service: uplift, creator contribution, the budget. Each
parses its input and calls a use case (commands) or a query (reads)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from laotie_common.auth import Principal, Role, require
from laotie_common.entry import Commands, Reading, config
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from laotie_chuanliu import domain, queries, usecases
from laotie_chuanliu.access import require_brand, require_creator, sees_buyers
from laotie_chuanliu.policy import ChuanliuPolicy

PolicyDep = Annotated[ChuanliuPolicy, Depends(config)]


class SetBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_impressions: StrictInt = Field(ge=0, le=10**12)
    reason: str = Field(default="", max_length=2000, description="Why: kept in the audit trail.")


router = APIRouter(tags=["chuanliu"])


Operator = Annotated[Principal, require(Role.OPERATOR)]
BrandOrOperator = Annotated[Principal, require(Role.SELLER, Role.OPERATOR)]
CreatorOrOperator = Annotated[Principal, require(Role.ANCHOR, Role.OPERATOR)]


@router.get(
    "/brands/{brand_id}/uplift",
    summary="Attributed / non-attributed self-broadcast GMV, per day and in total, and the"
    " granted buyers against the holdout (the brand's sellers, operators)",
)
async def brand_uplift(
    brand_id: str,
    who: BrandOrOperator,
    policy: PolicyDep,
    conn: Reading,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    require_brand(who, brand_id)
    today = policy.day_of(datetime.now(UTC))[0]
    since, until = domain.uplift_window(today, since, until)
    window = math.ceil(policy.attribution.window_days)
    return await queries.uplift(conn, brand_id, since, until, window)


@router.get(
    "/creators/{creator_id}/contribution",
    summary="Brand GMV a creator's distribution led to, and the traffic it earned"
    " (the creator, operators)",
)
async def contribution(creator_id: str, who: CreatorOrOperator, conn: Reading) -> dict[str, Any]:
    require_creator(who, creator_id)
    return await queries.contribution(conn, creator_id)


@router.get(
    "/sessions/{session_id}/grants",
    summary="What a brand's session start earned: the decision and a page of its grants"
    " (the brand's sellers without buyer ids, operators)",
)
async def session_grants(
    session_id: str,
    who: BrandOrOperator,
    conn: Reading,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    decision = await queries.session_decision(conn, session_id)
    require_brand(who, decision["brand_id"])
    page = await queries.session_grants(
        conn, session_id, limit=limit, offset=offset, buyers=sees_buyers(who)
    )
    return {**decision, **page}


@router.get("/budget", summary="Today's budget, what is granted and left, and the pacing")
async def get_budget(_: Operator, policy: PolicyDep, conn: Reading) -> dict[str, Any]:
    return await queries.budget_view(conn, policy, datetime.now(UTC))


@router.put("/budget", summary="Set the daily impression budget (operators)")
async def put_budget(body: SetBudget, command: Commands, who: Operator) -> Any:
    return await command(
        who, body, lambda tx: usecases.set_budget(tx, body.daily_impressions, who.subject)
    )
