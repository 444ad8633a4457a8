"""Who may act on a room: its owner (the anchor or creator, or a seller of the brand's
shop), sometimes an operator."""

from __future__ import annotations

import asyncpg
from laotie_common.auth import Principal, Role
from laotie_common.problems import Conflict, Forbidden


def is_room_owner(
    principal: Principal, owner_type: str, owner_id: str, shop_id: str | None
) -> bool:
    """The anchor or creator who owns the room, or a seller of the brand's shop."""
    if owner_type == "brand":
        return principal.role is Role.SELLER and principal.shop_id == shop_id
    return principal.role is Role.ANCHOR and principal.subject == owner_id


def owns(principal: Principal, room: asyncpg.Record) -> bool:
    return is_room_owner(principal, room["owner_type"], room["owner_id"], room["shop_id"])


def require_owner(principal: Principal, room: asyncpg.Record, *, operators: bool = False) -> None:
    if operators and principal.role is Role.OPERATOR:
        return
    if not owns(principal, room):
        raise Forbidden("only the room's owner may do this")


def new_room_owner(
    principal: Principal, owner_type: str, owner_id: str | None, shop_id: str | None
) -> tuple[str, str | None, str | None]:
    """The (owner type, owner, shop) of a room ``principal`` opens: anchors and creators
    their own, sellers their brand's, operators whoever they name."""
    if principal.role is Role.ANCHOR:
        if owner_type == "brand":
            raise Forbidden("brand rooms are opened by the brand's sellers")
        return owner_type, principal.subject, None
    if principal.role is Role.SELLER:
        return "brand", principal.shop_id, principal.shop_id
    if principal.role is Role.OPERATOR:
        if owner_type == "brand":
            owner_id = shop_id
        if not owner_id:
            raise Conflict("an operator must name the room's owner (owner_id or shop_id)")
        return owner_type, owner_id, shop_id
    raise Forbidden("rooms are opened by anchors, creators, brand sellers or operators")


def may_see_hidden(principal: Principal) -> bool:
    return principal.role in (Role.OPERATOR, Role.REVIEWER)
