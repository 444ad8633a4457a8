"""Live-room rules without I/O: who owns a room.

Viewer counts are the SQL's in ``stats.py``, defined on the *timeline* of reports, not on
their arrival order: a viewer is present from a join until the next leave; a repeated join
or leave changes nothing; reports at one instant count together; reports arriving late or
twice give the same counts.
"""

from __future__ import annotations

from laotie_common.auth import Principal, Role


def is_room_owner(
    principal: Principal, owner_type: str, owner_id: str, shop_id: str | None
) -> bool:
    """The anchor or creator who owns the room, or a seller of the brand's shop."""
    if owner_type == "brand":
        return principal.role is Role.SELLER and principal.shop_id == shop_id
    return principal.role is Role.ANCHOR and principal.subject == owner_id
