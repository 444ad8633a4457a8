"""Bearer tokens (JWT, HS256) with a role and a subject; every command route declares its roles.

Roles: ``buyer`` (own orders), ``seller`` (of shop ``shop_id``), ``anchor`` (own rooms),
``reviewer`` (reports and appeals), ``operator`` (budgets, policies), ``service``
(machine callers). Ownership is checked by the route against ``principal.subject`` /
``principal.shop_id``; this module checks signature, expiry, audience and role.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from laotie_common.problems import Forbidden, Unauthorized
from laotie_common.settings import ServiceSettings


class Role(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    ANCHOR = "anchor"
    REVIEWER = "reviewer"
    OPERATOR = "operator"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    shop_id: str | None = None

    @property
    def key(self) -> str:
        """Stable identity for per-caller stores (Idempotency-Key scope)."""
        return f"{self.role}:{self.subject}"


def mint_token(
    settings: ServiceSettings,
    *,
    subject: str,
    role: Role | str,
    ttl_s: int = 3600,
    shop_id: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "role": str(Role(role)),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    if shop_id is not None:
        claims["shop_id"] = shop_id
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def decode_token(settings: ServiceSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "role", "exp"]},
        )
        role = Role(claims["role"])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the bearer token has expired") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise Unauthorized(f"the bearer token is invalid: {exc}") from exc
    if role is Role.SELLER and not claims.get("shop_id"):
        raise Unauthorized("a seller token must name its shop (shop_id claim)")
    return Principal(subject=str(claims["sub"]), role=role, shop_id=claims.get("shop_id"))


_bearer = HTTPBearer(auto_error=False, description="JWT with `sub`, `role` (and `shop_id`).")


def require(*roles: Role) -> Any:
    """A FastAPI dependency: the caller's principal, if it holds one of ``roles``."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("this route needs a bearer token (Authorization: Bearer …)")
        settings: ServiceSettings = request.app.state.settings
        principal = decode_token(settings, credentials.credentials)
        if roles and principal.role not in roles:
            allowed = ", ".join(str(r) for r in roles)
            raise Forbidden(f"role {principal.role} may not do this; allowed: {allowed}")
        return principal

    return Depends(dependency)
