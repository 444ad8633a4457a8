"""HTTP entry points of the moderation service: reports, appeals, subjects, rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from laotie_common.auth import Principal, Role, require
from laotie_common.problems import NotFound
from laotie_common.service import Service
from laotie_common.uow import CommandRunner
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from laotie_moderation import usecases
from laotie_moderation.policy import Policy
from laotie_moderation.usecases import Tx

Id = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
ANYONE = (Role.BUYER, Role.SELLER, Role.ANCHOR, Role.REVIEWER, Role.OPERATOR, Role.SERVICE)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileReport(Body):
    subject_type: Literal["shop", "anchor", "creator"]
    subject_id: Id
    shop_id: Id | None = None
    kind: Literal["counterfeit", "not_as_described", "diversion"]
    order_id: Id | None = None
    product_id: Id | None = None
    text: Text


class Decision(Body):
    upheld: StrictBool
    note: Annotated[str, Field(max_length=2000)] = ""


class FileAppeal(Body):
    penalty_id: Id
    reason: Text


def moderation_router(service: Service, policy: Policy) -> APIRouter:
    router = APIRouter()

    command = CommandRunner(lambda: service.pool, lambda conn, now: Tx(conn, now, policy))

    @router.post(
        "/reports",
        status_code=201,
        tags=["reports"],
        summary="Report a shop or anchor (buyers): 举报",
    )
    async def report(
        body: FileReport, request: Request, who: Annotated[Principal, require(Role.BUYER)]
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.file_report(tx, who, body.model_dump()),
            created=True,
        )

    @router.get("/reports/{report_id}", tags=["reports"], summary="A report and its outcome")
    async def get_report(
        report_id: str, who: Annotated[Principal, require(*ANYONE)]
    ) -> dict[str, Any]:
        row = await service.pool.fetchrow("SELECT * FROM reports WHERE report_id = $1", report_id)
        staff = who.role in (Role.REVIEWER, Role.OPERATOR)
        if row is None or not (staff or row["reporter_id"] == who.subject):
            raise NotFound(f"no report {report_id}")
        return dict(row)

    @router.post(
        "/reports/{report_id}/decide",
        tags=["reports"],
        summary="Uphold or dismiss a report (reviewers)",
    )
    async def decide_report(
        report_id: str,
        body: Decision,
        request: Request,
        who: Annotated[Principal, require(Role.REVIEWER, Role.OPERATOR)],
    ) -> Any:
        return await command(
            request, who, body, lambda tx: usecases.decide_report(tx, who, report_id, body.upheld)
        )

    @router.post(
        "/appeals",
        status_code=201,
        tags=["appeals"],
        summary="Appeal a penalty within the window (the penalised seller or anchor)",
    )
    async def appeal(
        body: FileAppeal,
        request: Request,
        who: Annotated[Principal, require(Role.SELLER, Role.ANCHOR)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.file_appeal(tx, who, body.penalty_id, body.reason),
            created=True,
        )

    @router.post(
        "/appeals/{appeal_id}/decide",
        tags=["appeals"],
        summary="Uphold (revoke the penalty) or reject an appeal (reviewers)",
    )
    async def decide_appeal(
        appeal_id: str,
        body: Decision,
        request: Request,
        who: Annotated[Principal, require(Role.REVIEWER, Role.OPERATOR)],
    ) -> Any:
        return await command(
            request,
            who,
            body,
            lambda tx: usecases.decide_appeal(tx, who, appeal_id, body.upheld, body.note),
        )

    @router.get(
        "/subjects/{subject_type}/{subject_id}",
        tags=["subjects"],
        summary="Current measures, points and history of a shop, anchor or viewer",
    )
    async def subject(
        subject_type: Literal["shop", "anchor", "creator", "viewer", "product"],
        subject_id: str,
        who: Annotated[Principal, require(*ANYONE)],
    ) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            return await usecases.subject_view(
                conn, policy, subject_type, subject_id, datetime.now(UTC)
            )

    @router.get("/violations", tags=["subjects"], summary="Recent decisions, newest first (staff)")
    async def violations(
        who: Annotated[Principal, require(Role.REVIEWER, Role.OPERATOR)],
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[dict[str, Any]]:
        rows = await service.pool.fetch(
            "SELECT v.violation_id, v.subject_type, v.subject_id, v.code, v.severity, v.degree,"
            " v.decided_by, v.occurred_at, v.evidence->>'text' AS text, p.penalty_id,"
            " p.measures, p.points, p.points_status, p.status AS penalty_status"
            " FROM violations v LEFT JOIN penalties p USING (violation_id)"
            " ORDER BY v.occurred_at DESC LIMIT $1",
            limit,
        )
        return [
            {**dict(r), "measures": usecases.decode_json(r["measures"]) if r["measures"] else []}
            for r in rows
        ]

    @router.get("/rules", tags=["rules"], summary="The active rule set and its version")
    async def rules() -> dict[str, Any]:
        return policy.model_dump()

    return router
