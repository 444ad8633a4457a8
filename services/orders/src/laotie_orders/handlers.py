"""What the orders service applies from other services' streams: each handler parses its
event and calls a use case in the unit of work it is given.

- ``moderation.penalty``: penalties delist products and restrict shops; revocations undo
  exactly what their penalty imposed, a rectified product's ban is lifted
  (``usecases.enforcement``);
- ``moderation.violation``: a shop profile found diverting is hidden.
"""

from __future__ import annotations

from laotie_common.envelope import parsed
from laotie_contracts.moderation import (
    DelistingLifted,
    PenaltyApplied,
    PenaltyRevoked,
    ViolationDetected,
)

from laotie_orders.usecases import enforcement

HANDLERS = {
    "moderation.penalty.applied": parsed(PenaltyApplied, enforcement.apply_penalty),
    "moderation.penalty.revoked": parsed(PenaltyRevoked, enforcement.revoke_penalty),
    "moderation.penalty.delisting_lifted": parsed(DelistingLifted, enforcement.lift_delisting),
    "moderation.violation.detected": parsed(ViolationDetected, enforcement.hide_profile),
}
