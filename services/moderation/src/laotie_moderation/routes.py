"""HTTP entry points of the moderation service: reports, appeals, subjects, rules. Each
parses its input and calls a use case (commands) or a query (reads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from laotie_common.auth import Principal, Role, require
from laotie_common.entry import Commands, Reading, config
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from laotie_moderation import queries
from laotie_moderation.access import is_staff, require_rectification_view, require_subject_view
from laotie_moderation.policy import Policy
from laotie_moderation.usecases import appeals, rectification, reports

Id = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
ANYONE = (Role.BUYER, Role.SELLER, Role.ANCHOR, Role.REVIEWER, Role.OPERATOR, Role.SERVICE)
PolicyDep = Annotated[Policy, Depends(config)]


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
    note: Annotated[str, Field(max_length=2000, description="Why: kept in the audit trail.")] = ""


class RectificationDecision(Body):
    accepted: StrictBool = Field(description="True: the product's content delistings end.")
    note: Annotated[str, Field(min_length=1, max_length=2000, description="Why (audited).")]


class FileAppeal(Body):
    penalty_id: Id
    reason: Text


Buyer = Annotated[Principal, require(Role.BUYER)]
Penalised = Annotated[Principal, require(Role.SELLER, Role.ANCHOR)]
Staff = Annotated[Principal, require(Role.REVIEWER, Role.OPERATOR)]
Anyone = Annotated[Principal, require(*ANYONE)]

router = APIRouter()


@router.post(
    "/reports", status_code=201, tags=["reports"], summary="Report a shop or anchor (buyers): 举报"
)
async def report(body: FileReport, command: Commands, who: Buyer) -> Any:
    return await command(who, body, lambda tx: reports.file_report(tx, who, body.model_dump()))


@router.get("/reports/{report_id}", tags=["reports"], summary="A report and its outcome")
async def get_report(report_id: str, who: Anyone, conn: Reading) -> dict[str, Any]:
    return await queries.report_seen_by(conn, who, report_id)


@router.post(
    "/reports/{report_id}/decide",
    tags=["reports"],
    summary="Uphold or dismiss a report (reviewers)",
)
async def decide_report(report_id: str, body: Decision, command: Commands, who: Staff) -> Any:
    return await command(
        who, body, lambda tx: reports.decide_report(tx, who, report_id, body.upheld)
    )


@router.post(
    "/appeals",
    status_code=201,
    tags=["appeals"],
    summary="Appeal a penalty within the window (the penalised seller or anchor)",
)
async def appeal(body: FileAppeal, command: Commands, who: Penalised) -> Any:
    return await command(
        who, body, lambda tx: appeals.file_appeal(tx, who, body.penalty_id, body.reason)
    )


@router.post(
    "/appeals/{appeal_id}/decide",
    tags=["appeals"],
    summary="Uphold (revoke the penalty) or reject an appeal (reviewers)",
)
async def decide_appeal(appeal_id: str, body: Decision, command: Commands, who: Staff) -> Any:
    return await command(
        who, body, lambda tx: appeals.decide_appeal(tx, who, appeal_id, body.upheld, body.note)
    )


@router.get(
    "/subjects/{subject_type}/{subject_id}",
    tags=["subjects"],
    summary="Current measures, points and a page of the history of a shop, anchor or viewer"
    " (the subject itself and staff)",
)
async def subject(
    subject_type: Literal["shop", "anchor", "creator", "viewer", "product"],
    subject_id: str,
    who: Anyone,
    conn: Reading,
    policy: PolicyDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    require_subject_view(who, subject_type, subject_id)
    return await queries.subject_view(
        conn,
        policy,
        subject_type,
        subject_id,
        datetime.now(UTC),
        limit=limit,
        offset=offset,
        staff=is_staff(who),
    )


@router.get("/violations", tags=["subjects"], summary="Recent decisions, newest first (staff)")
async def violations(
    who: Staff, conn: Reading, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    return await queries.recent_violations(conn, limit)


@router.get(
    "/rectifications",
    tags=["rectification"],
    summary="Resubmitted products by status, oldest first: the reviewers' queue (staff)",
)
async def rectifications(
    who: Staff,
    conn: Reading,
    status: Literal["in_review", "accepted", "rejected"] = "in_review",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return await queries.rectifications(conn, status, limit)


@router.get(
    "/rectifications/{rectification_id}",
    tags=["rectification"],
    summary="A resubmission (整改) and its outcome (the shop's sellers and staff)",
)
async def get_rectification(rectification_id: str, who: Anyone, conn: Reading) -> dict[str, Any]:
    row = await queries.get_rectification(conn, rectification_id)
    require_rectification_view(who, row["shop_id"], rectification_id)
    return queries.rectification_view(row)


@router.post(
    "/rectifications/{rectification_id}/decide",
    tags=["rectification"],
    summary="Accept (lift the product's content delistings) or reject a resubmission the"
    " re-scan could not pass (reviewers)",
)
async def decide_rectification(
    rectification_id: str, body: RectificationDecision, command: Commands, who: Staff
) -> Any:
    return await command(
        who,
        body,
        lambda tx: rectification.decide_rectification(
            tx, who, rectification_id, body.accepted, body.note
        ),
    )


@router.get("/rules", tags=["rules"], summary="The active rule set and its version")
async def rules(policy: PolicyDep) -> dict[str, Any]:
    return policy.model_dump()
