"""Who may read what Chuanliu knows: a brand's money and grants are its own sellers' and the
operators'; a creator's contribution the creator's and the operators'; the budget and the
buyers behind grants only the operators'."""

from __future__ import annotations

from laotie_common.auth import Principal, Role
from laotie_common.problems import Forbidden


def require_brand(principal: Principal, brand_id: str) -> None:
    if principal.role is Role.OPERATOR:
        return
    if principal.role is Role.SELLER and principal.shop_id == brand_id:
        return
    raise Forbidden("only the brand's own sellers and operators see this")


def require_creator(principal: Principal, creator_id: str) -> None:
    if principal.role is Role.OPERATOR:
        return
    if principal.role is Role.ANCHOR and principal.subject == creator_id:
        return
    raise Forbidden("only the creator and operators see this")


def sees_buyers(principal: Principal) -> bool:
    """Buyer ids behind grants are personal data: operators only."""
    return principal.role is Role.OPERATOR
