"""Who may act on a shop, an order or a refund: its buyer, a seller of its shop, the
logistics service, platform staff. Pure: each check takes the principal and what it acts on."""

from __future__ import annotations

from typing import Any

from laotie_common.auth import Principal, Role
from laotie_common.problems import Forbidden

STAFF = (Role.OPERATOR, Role.SERVICE, Role.REVIEWER)


def require_buyer(principal: Principal, buyer_id: str) -> None:
    if principal.role is not Role.BUYER or principal.subject != buyer_id:
        raise Forbidden("only the order's buyer may do this")


def require_seller(principal: Principal, shop_id: str) -> None:
    if principal.role is not Role.SELLER or principal.shop_id != shop_id:
        raise Forbidden(f"only a seller of shop {shop_id} may do this")


def require_operator(principal: Principal) -> None:
    if principal.role is not Role.OPERATOR:
        raise Forbidden("only platform operators may do this")


def require_logistics(principal: Principal) -> None:
    if principal.role not in (Role.SERVICE, Role.OPERATOR):
        raise Forbidden("deliveries are reported by the logistics service or an operator")


def require_reviewer(principal: Principal) -> None:
    if principal.role not in (Role.REVIEWER, Role.OPERATOR):
        raise Forbidden("disputes are decided by platform reviewers")


def may_place(principal: Principal) -> Forbidden | None:
    """Why ``principal`` may not place an order (the refusal, not raised), or None."""
    return None if principal.role is Role.BUYER else Forbidden("only buyers place orders")


def can_read_order(principal: Principal, row: Any) -> bool:
    """Staff read every order, a buyer their own, a seller their shop's (``row``: an order,
    or any row with its ``buyer_id`` and ``shop_id``)."""
    if principal.role in STAFF:
        return True
    if principal.role is Role.BUYER:
        return bool(principal.subject == row["buyer_id"])
    if principal.role is Role.SELLER:
        return bool(principal.shop_id == row["shop_id"])
    return False


def new_shop_owner(
    principal: Principal, shop_id: str | None, owner_id: str
) -> tuple[str | None, str]:
    """The (shop, owner) of a shop ``principal`` creates: a seller only the shop named in
    their token, as its owner; an operator whichever they name."""
    if principal.role is Role.SELLER:
        if shop_id not in (None, principal.shop_id):
            raise Forbidden("a seller creates only the shop named in their token")
        return principal.shop_id, principal.subject
    if principal.role is not Role.OPERATOR:
        raise Forbidden("only operators and sellers create shops")
    return shop_id, owner_id


def orders_in_view(
    principal: Principal, buyer_id: str | None, shop_id: str | None
) -> tuple[str | None, str | None]:
    """The (buyer, shop) filter of an order listing: a buyer sees their own, a seller their
    shop's, staff what they ask for."""
    if principal.role is Role.BUYER:
        return principal.subject, None
    if principal.role is Role.SELLER:
        return buyer_id, principal.shop_id
    if principal.role not in STAFF:
        raise Forbidden("only buyers, sellers and platform staff list orders")
    return buyer_id, shop_id
