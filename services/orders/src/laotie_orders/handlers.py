"""What the orders service applies from other services' streams: each handler parses its
event and calls a use case in the unit of work it is given.

- ``moderation.penalty``: penalties delist products and restrict shops; revocations undo
  exactly what their penalty imposed, a rectified product's ban is lifted
  (``usecases.enforcement``);
- ``moderation.violation``: a shop profile found diverting is hidden;
- ``live.room``: which rooms exist, who owns them and which session is live in each, for
  live-room orders (``usecases.rooms``).
"""

from __future__ import annotations

from laotie_common.envelope import parsed
from laotie_contracts.live import RoomCreated, SessionEnded, SessionForceClosed, SessionStarted
from laotie_contracts.moderation import (
    DelistingLifted,
    PenaltyApplied,
    PenaltyRevoked,
    ViolationDetected,
)

from laotie_orders.usecases import enforcement, rooms

HANDLERS = {
    "moderation.penalty.applied": parsed(PenaltyApplied, enforcement.apply_penalty),
    "moderation.penalty.revoked": parsed(PenaltyRevoked, enforcement.revoke_penalty),
    "moderation.penalty.delisting_lifted": parsed(DelistingLifted, enforcement.lift_delisting),
    "moderation.violation.detected": parsed(ViolationDetected, enforcement.hide_profile),
    "live.room.created": parsed(RoomCreated, rooms.room_created),
    "live.room.session_started": parsed(SessionStarted, rooms.session_started),
    "live.room.session_ended": parsed(SessionEnded, rooms.session_ended),
    "live.room.force_closed": parsed(SessionForceClosed, rooms.session_ended),
}
