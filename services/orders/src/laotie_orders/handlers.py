"""What the orders service applies from other services' streams: each handler parses its
event and calls a use case in the unit of work it is given.

- ``moderation.penalty``: penalties delist products and restrict shops; revocations undo
  exactly what their penalty imposed (``usecases.enforcement``).
"""

from __future__ import annotations

from laotie_common.envelope import Envelope
from laotie_contracts.moderation import PenaltyApplied, PenaltyRevoked

from laotie_orders.usecases import Tx, enforcement


async def on_penalty_applied(tx: Tx, envelope: Envelope) -> None:
    await enforcement.apply_penalty(tx, envelope.parse(PenaltyApplied))


async def on_penalty_revoked(tx: Tx, envelope: Envelope) -> None:
    await enforcement.revoke_penalty(tx, envelope.parse(PenaltyRevoked))


HANDLERS = {
    "moderation.penalty.applied": on_penalty_applied,
    "moderation.penalty.revoked": on_penalty_revoked,
}
