"""What the live service applies from other services' streams: each handler parses its
event and calls a use case in the unit of work it is given (``usecases`` says what each
does).

- ``orders.order``: sales attributed to a live room count toward its session;
- ``orders.product``: the catalogue pins are checked against;
- ``moderation.penalty``: live bans close sessions and refuse new ones;
- ``moderation.violation``: a comment found violating is hidden.
"""

from __future__ import annotations

from laotie_common.envelope import Envelope
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import PenaltyApplied, PenaltyRevoked, ViolationDetected

from laotie_live import usecases
from laotie_live.usecases import Tx


async def on_order_fact(tx: Tx, envelope: Envelope) -> None:
    await usecases.credit_order(tx, envelope.parse(order_events.OrderFacts))


async def on_product_fact(tx: Tx, envelope: Envelope) -> None:
    await usecases.mirror_product(tx, envelope.parse(order_events.ProductFacts))


async def on_penalty_applied(tx: Tx, envelope: Envelope) -> None:
    await usecases.apply_live_ban(tx, envelope.parse(PenaltyApplied))


async def on_penalty_revoked(tx: Tx, envelope: Envelope) -> None:
    await usecases.lift_live_ban(tx, envelope.parse(PenaltyRevoked))


async def on_violation(tx: Tx, envelope: Envelope) -> None:
    await usecases.hide_comment(tx, envelope.parse(ViolationDetected))


HANDLERS = {
    **dict.fromkeys(order_events.ORDER_EVENT_TYPES, on_order_fact),
    **dict.fromkeys(order_events.PRODUCT_EVENT_TYPES, on_product_fact),
    "moderation.penalty.applied": on_penalty_applied,
    "moderation.penalty.revoked": on_penalty_revoked,
    "moderation.violation.detected": on_violation,
}
