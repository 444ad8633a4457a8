"""Reports (举报): a buyer reports a shop or anchor; a reviewer upholds the report (a
violation is decided on its evidence) or dismisses it."""

from __future__ import annotations

from typing import Any

from laotie_common.auth import Principal
from laotie_common.ids import new_id
from laotie_common.problems import Conflict

from laotie_moderation import queries
from laotie_moderation.domain.decisions import report_charges, report_evidence
from laotie_moderation.usecases import Tx
from laotie_moderation.usecases.penalties import record_violation


async def file_report(tx: Tx, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    row = await tx.conn.fetchrow(
        "INSERT INTO reports (report_id, reporter_id, subject_type, subject_id, shop_id, kind,"
        " order_id, product_id, text, status, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10) RETURNING *",
        new_id(),
        principal.subject,
        body["subject_type"],
        body["subject_id"],
        body.get("shop_id"),
        body["kind"],
        body.get("order_id"),
        body.get("product_id"),
        body["text"],
        tx.now,
    )
    assert row is not None
    return dict(row)


async def decide_report(
    tx: Tx, principal: Principal, report_id: str, upheld: bool
) -> dict[str, Any]:
    report = await queries.get_report(tx.conn, report_id, lock=True)
    if report["status"] != "pending":
        raise Conflict("the report was decided already", reason="decided_already")
    violation_id = None
    if upheld:
        violation_id = await _charge(tx, principal, dict(report))
    row = await tx.conn.fetchrow(
        "UPDATE reports SET status = $2, decided_at = $3, decided_by = $4, violation_id = $5"
        " WHERE report_id = $1 RETURNING *",
        report_id,
        "upheld" if upheld else "dismissed",
        tx.now,
        principal.subject,
        violation_id,
    )
    return dict(row) if row else {}


async def _charge(tx: Tx, principal: Principal, report: dict[str, Any]) -> str | None:
    """Decide the violations an upheld report makes (``report_charges``); the id of the one
    against the report's own subject."""
    sale = await queries.sale_of(tx.conn, report["order_id"])
    evidence = report_evidence(report["report_id"], report["product_id"], report["text"])
    decided = [
        await record_violation(
            tx,
            code=code,
            subject=subject,
            decided_by=f"reviewer:{principal.subject}",
            evidence=evidence,
        )
        for code, subject in report_charges(tx.policy, report, dict(sale) if sale else None)
    ]
    return decided[0][0] if decided[0] else None
