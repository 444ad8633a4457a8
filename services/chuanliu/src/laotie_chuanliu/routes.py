"""HTTP entry points of the Chuanliu service: uplift, creator contribution, the budget. Each
parses its input and calls a use case (commands) or a query (reads)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from laotie_common.auth import Principal, Role, require
from laotie_common.entry import Commands, Reading, config
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from laotie_chuanliu import domain, queries, usecases
from laotie_chuanliu.policy import ChuanliuPolicy

PolicyDep = Annotated[ChuanliuPolicy, Depends(config)]


class SetBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_impressions: StrictInt = Field(ge=0, le=10**12)


router = APIRouter(tags=["chuanliu"])


@router.get(
    "/brands/{brand_id}/uplift",
    summary="Attributed / non-attributed self-broadcast GMV, per day and in total",
)
async def brand_uplift(
    brand_id: str,
    policy: PolicyDep,
    conn: Reading,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    today = policy.day_of(datetime.now(UTC))[0]
    since, until = domain.uplift_window(today, since, until)
    return await queries.uplift(conn, brand_id, since, until)


@router.get(
    "/creators/{creator_id}/contribution",
    summary="Brand GMV a creator's distribution led to, and the traffic it earned",
)
async def contribution(creator_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.contribution(conn, creator_id)


@router.get(
    "/sessions/{session_id}/grants",
    summary="What a brand's session start earned: the decision and its grants",
)
async def session_grants(session_id: str, conn: Reading) -> dict[str, Any]:
    return await queries.session_grants(conn, session_id)


@router.get("/budget", summary="Today's budget, what is granted and left, and the pacing")
async def get_budget(policy: PolicyDep, conn: Reading) -> dict[str, Any]:
    return await queries.budget_view(conn, policy, datetime.now(UTC))


@router.put("/budget", summary="Set the daily impression budget (operators)")
async def put_budget(
    body: SetBudget,
    command: Commands,
    who: Annotated[Principal, require(Role.OPERATOR)],
) -> Any:
    return await command(
        who,
        body,
        lambda tx: usecases.set_budget(tx, body.daily_impressions, who.subject),
    )
