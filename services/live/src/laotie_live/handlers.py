"""What the live service applies from other services' streams: each handler parses its
event and calls a use case in the unit of work it is given (``usecases`` says what each
does).

- ``orders.order``: sales attributed to a live room count toward its session;
- ``orders.product``: the catalogue pins are checked against;
- ``moderation.penalty``: live bans close sessions and refuse new ones;
- ``moderation.violation``: a comment or a profile found violating is hidden.
"""

from __future__ import annotations

from laotie_common.envelope import parsed
from laotie_contracts.moderation import PenaltyApplied, PenaltyRevoked, ViolationDetected
from laotie_contracts.orders import ORDER_EVENT_TYPES, PRODUCT_EVENT_TYPES, OrderFacts, ProductFacts

from laotie_live import usecases

HANDLERS = {
    **dict.fromkeys(ORDER_EVENT_TYPES, parsed(OrderFacts, usecases.credit_order)),
    **dict.fromkeys(PRODUCT_EVENT_TYPES, parsed(ProductFacts, usecases.mirror_product)),
    "moderation.penalty.applied": parsed(PenaltyApplied, usecases.apply_live_ban),
    "moderation.penalty.revoked": parsed(PenaltyRevoked, usecases.lift_live_ban),
    "moderation.violation.detected": parsed(ViolationDetected, usecases.hide_content),
}
