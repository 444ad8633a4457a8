"""The audit trail (审计) of operator and reviewer actions.

Every command an operator or a reviewer runs through a service's API, and every command a
route marks ``audited`` (a seller's rectification, 整改), appends one row to
the service's ``audit_log`` and publishes one ``<service>.audit.action_recorded`` event, in
the command's own transaction: the trail holds exactly the actions that took effect (a
refused one rolled back with them), and a replayed Idempotency-Key, which runs nothing,
records nothing. The command runner calls :func:`record`, so no route can forget it.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import Request
from laotie_contracts.audit import ActionRecorded

from laotie_common.auth import Principal, Role

if TYPE_CHECKING:
    from laotie_common.uow import UnitOfWork

STAFF = frozenset({Role.OPERATOR, Role.REVIEWER})
REASON_FIELDS = ("reason", "note")  # where a body gives its why

INSERT = """
INSERT INTO audit_log (audit_id, recorded_at, actor_role, actor_id, action, target, reason,
                       details, status_code)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9)
"""


def action_of(request: Request) -> str:
    """``METHOD /route/{template}``: the same action whatever it was done to."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def reason_in(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    given = [str(payload[f]) for f in REASON_FIELDS if payload.get(f)]
    return given[0] if given else None


async def record(
    unit: UnitOfWork,
    recorded: type[ActionRecorded] | None,
    request: Request,
    principal: Principal,
    payload: Any,
    status_code: int,
) -> None:
    """Append the action to the trail, in ``unit``'s transaction, and publish it as
    ``recorded`` (a tool outside the topic registry, such as the probe, keeps the row only)."""
    entry = (recorded or ActionRecorded)(
        audit_id=str(uuid.uuid4()),
        actor_id=principal.subject,
        actor_role=principal.role.value,
        action=action_of(request),
        target={name: str(value) for name, value in request.path_params.items()},
        reason=reason_in(payload),
        details=payload if isinstance(payload, dict) else None,
        status_code=status_code,
        recorded_at=unit.now,
    )
    await unit.conn.execute(
        INSERT,
        entry.audit_id,
        entry.recorded_at,
        entry.actor_role,
        entry.actor_id,
        entry.action,
        json.dumps(entry.target),
        entry.reason,
        json.dumps(entry.details) if entry.details is not None else None,
        entry.status_code,
    )
    if recorded is not None:
        await unit.emit(entry)
