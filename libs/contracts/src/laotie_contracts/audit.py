"""Operator and reviewer actions (审计), and the steps of a seller's rectification (整改): one
topic per service that takes them,
``<service>.audit``, keyed by the actor. Each event is also a row of the service's
``audit_log`` table, written in the action's own transaction: who did what, to what, when
and why. An action that was refused (4xx) changed nothing and is not recorded."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, create_model

from laotie_contracts.common import Id, UtcTime
from laotie_contracts.events import Event, event
from laotie_contracts.topics import AUDITED


class ActionRecorded(Event):
    """An operator or reviewer did something through a service's API, or a seller took a
    step the platform keeps a trail of (editing and resubmitting a banned product)."""

    audit_id: Id
    actor_id: Id = Field(description="The token's subject.")
    actor_role: Literal["operator", "reviewer", "seller"]
    action: str = Field(description="Method and route template, e.g. 'PUT /budget'.")
    target: dict[str, str] = Field(description="The route's path parameters: what was acted on.")
    reason: str | None = Field(description="The reason given in the request, if any.")
    details: dict[str, Any] | None = Field(description="The request's body as received.")
    status_code: int = Field(description="The answer: 200 or 201.")
    recorded_at: UtcTime


def _recorded(service: str) -> type[ActionRecorded]:
    model = create_model(
        f"{service.capitalize()}ActionRecorded",
        __base__=ActionRecorded,
        __module__=__name__,
        __doc__=f"An operator's, reviewer's or audited seller's action on the {service} service.",
    )
    return event(f"{service}.audit.action_recorded", topic=f"{service}.audit", key="actor_id")(
        model
    )


RECORDED: dict[str, type[ActionRecorded]] = {service: _recorded(service) for service in AUDITED}
