"""HTTP entry points of the scoring service: scores, their history, the policy. Each parses
its input and calls a query."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from laotie_common.entry import Reading, config

from laotie_scoring import queries
from laotie_scoring.domain import ScorePolicy

KindParam = Literal["shop", "product", "creator"]
PolicyDep = Annotated[ScorePolicy, Depends(config)]

router = APIRouter(tags=["scores"])


@router.get(
    "/scores/{kind}/{subject_id}",
    summary="A subject's score: value, band, components, window, policy version",
)
async def get_score(
    kind: KindParam, subject_id: str, conn: Reading, policy: PolicyDep
) -> dict[str, Any]:
    return await queries.score(conn, policy, kind, subject_id, datetime.now(UTC))


@router.get(
    "/scores/{kind}/{subject_id}/resources",
    summary="What the subject may use now (traffic weight; subsidy, campaign, paid promotion"
    " and Chuanliu eligibility), by its band or, without a score, the policy's default",
)
async def get_resources(
    kind: KindParam, subject_id: str, conn: Reading, policy: PolicyDep
) -> dict[str, Any]:
    return await queries.resources(conn, policy, kind, subject_id, datetime.now(UTC))


@router.get("/scores/{kind}/{subject_id}/history", summary="Every change, oldest first")
async def history(
    kind: KindParam,
    subject_id: str,
    conn: Reading,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    return await queries.history(conn, kind, subject_id, limit)


@router.get("/scores", summary="Scored subjects of a kind, best first")
async def list_scores(
    kind: KindParam, conn: Reading, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return await queries.scores(conn, kind, limit)


@router.get("/policy", summary="The active score policy and its version")
async def get_policy(policy: PolicyDep) -> dict[str, Any]:
    return policy.model_dump()
