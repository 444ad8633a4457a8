"""Who may act: the penalised shop or anchor speaks for its penalties, platform staff decide,
a reporter sees its own reports."""

from __future__ import annotations

from laotie_common.auth import Principal, Role
from laotie_common.problems import Forbidden, NotFound

STAFF = (Role.REVIEWER, Role.OPERATOR)


def is_staff(principal: Principal) -> bool:
    return principal.role in STAFF


def may_speak_for(principal: Principal, subject_type: str, subject_id: str) -> bool:
    """A shop's sellers speak for the shop, an anchor or creator for itself."""
    if subject_type == "shop":
        return principal.role is Role.SELLER and principal.shop_id == subject_id
    return principal.role is Role.ANCHOR and principal.subject == subject_id


def may_see_report(principal: Principal, reporter_id: str) -> bool:
    return is_staff(principal) or reporter_id == principal.subject


def require_subject_view(principal: Principal, subject_type: str, subject_id: str) -> None:
    """A subject's standing and history: staff, and the subject itself."""
    if not (is_staff(principal) or may_speak_for(principal, subject_type, subject_id)):
        raise Forbidden("only platform staff and the subject itself see its history")


def require_rectification_view(principal: Principal, shop_id: str, rectification_id: str) -> None:
    """A resubmission: staff and the shop's sellers; to anyone else it does not exist."""
    if not (is_staff(principal) or may_speak_for(principal, "shop", shop_id)):
        raise NotFound(f"no rectification {rectification_id}")
