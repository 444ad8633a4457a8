"""Appeals (申诉): the penalised shop or anchor appeals a penalty within the window; a
reviewer upholds it (the penalty is revoked) or rejects it (its points are booked)."""

from __future__ import annotations

from typing import Any

from laotie_common import metrics
from laotie_common.auth import Principal
from laotie_common.ids import new_id
from laotie_common.problems import Conflict, NotFound

from laotie_moderation import queries
from laotie_moderation.access import may_speak_for
from laotie_moderation.domain.decisions import check_appealable
from laotie_moderation.usecases import Tx
from laotie_moderation.usecases.penalties import book_points, revoke_penalty


async def file_appeal(tx: Tx, principal: Principal, penalty_id: str, reason: str) -> dict[str, Any]:
    penalty = await queries.get_penalty(tx.conn, penalty_id, lock=True)
    if penalty is None or not may_speak_for(
        principal, penalty["subject_type"], penalty["subject_id"]
    ):
        raise NotFound(f"no penalty {penalty_id} of yours")
    check_appealable(penalty["code"], penalty["status"], penalty["appeal_deadline"], tx.now)
    row = await tx.conn.fetchrow(
        "INSERT INTO appeals (appeal_id, penalty_id, filed_by, reason, status, filed_at)"
        " VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (penalty_id) DO NOTHING RETURNING *",
        new_id(),
        penalty_id,
        principal.subject,
        reason,
        tx.now,
    )
    if row is None:
        raise Conflict("this penalty has been appealed already", reason="appealed_already")
    return dict(row)


async def decide_appeal(
    tx: Tx, principal: Principal, appeal_id: str, upheld: bool, note: str
) -> dict[str, Any]:
    appeal = await queries.get_appeal(tx.conn, appeal_id, lock=True)
    if appeal["status"] != "pending":
        raise Conflict(
            f"the appeal was decided already ({appeal['status']})", reason="decided_already"
        )
    penalty = await queries.get_penalty(tx.conn, appeal["penalty_id"], lock=True)
    assert penalty is not None
    outcome = "upheld" if upheld else "rejected"
    row = await tx.conn.fetchrow(
        "UPDATE appeals SET status = $2, decided_at = $3, decided_by = $4, note = $5"
        " WHERE appeal_id = $1 RETURNING *",
        appeal_id,
        outcome,
        tx.now,
        principal.subject,
        note,
    )
    tx.after_commit.append(metrics.MODERATION_APPEALS.labels(outcome).inc)
    if upheld:
        await revoke_penalty(tx, penalty, f"appeal {appeal_id} upheld: {note}".strip())
    else:
        await book_points(tx, penalty)
    return dict(row) if row else {}
