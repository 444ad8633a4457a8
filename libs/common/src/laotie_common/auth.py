"""Bearer tokens (JWT) with a role and a subject; every command route declares its roles.

In clusters the services hold only the issuer's public keys (``JWT_JWKS_FILE``, EdDSA or
RS256) and cannot mint tokens; HS256 with a shared key is for local development
(``LAOTIE_ENV=local``, see :class:`~laotie_common.settings.ServiceSettings`). Every token must
say when it was issued and live at most ``JWT_MAX_LIFETIME_S``.

Roles: ``buyer`` (own orders), ``seller`` (of shop ``shop_id``), ``anchor`` (own rooms),
``reviewer`` (reports and appeals), ``operator`` (budgets, policies), ``service``
(machine callers). Ownership is checked by the route against ``principal.subject`` /
``principal.shop_id``; this module checks signature, expiry, audience and role.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
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
        """Stable identity for per-caller stores (Idempotency-Key scope): a seller acting for
        another shop is another caller."""
        return f"{self.role}:{self.subject}:{self.shop_id or ''}"


def mint_token(
    settings: ServiceSettings,
    *,
    subject: str,
    role: Role | str,
    ttl_s: int = 3600,
    shop_id: str | None = None,
    private_key: str | None = None,
    kid: str | None = None,
) -> str:
    """A token for ``subject``: HS256 with the settings' key, or, given an Ed25519
    ``private_key`` (PEM), EdDSA under key id ``kid`` (what an issuer does)."""
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
    if private_key is not None:
        return jwt.encode(
            claims, private_key, algorithm="EdDSA", headers={"kid": kid} if kid else None
        )
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def decode_token(settings: ServiceSettings, token: str) -> Principal:
    try:
        key, algorithms = _verifying_key(settings, token)
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "role", "exp", "iat"]},
        )
        role = Role(claims["role"])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the bearer token has expired") from exc
    except (jwt.InvalidTokenError, jwt.PyJWKError, ValueError, KeyError) as exc:
        raise Unauthorized(f"the bearer token is invalid: {exc}") from exc
    if int(claims["exp"]) - int(claims["iat"]) > settings.jwt_max_lifetime_s:
        raise Unauthorized(
            f"the bearer token is valid for longer than {settings.jwt_max_lifetime_s} s"
        )
    if role is Role.SELLER and not claims.get("shop_id"):
        raise Unauthorized("a seller token must name its shop (shop_id claim)")
    return Principal(subject=str(claims["sub"]), role=role, shop_id=claims.get("shop_id"))


def _verifying_key(settings: ServiceSettings, token: str) -> tuple[Any, list[str]]:
    """The key and algorithm a token must be verified with: one of the issuer's public keys
    (by the token's ``kid``) when a JWKS is configured, else the local HS256 key."""
    if settings.jwt_jwks_file is None:
        return settings.jwt_secret.get_secret_value(), ["HS256"]
    keys = _jwks(str(settings.jwt_jwks_file), settings.jwt_jwks_file.stat().st_mtime_ns)
    kid = jwt.get_unverified_header(token).get("kid")
    found = keys[kid] if kid else (keys.keys[0] if len(keys.keys) == 1 else None)
    if found is None:
        raise ValueError("the token names no key id (kid) and the JWKS has several keys")
    return found.key, [found.algorithm_name or "EdDSA"]


@functools.lru_cache(maxsize=4)
def _jwks(path: str, mtime_ns: int) -> jwt.PyJWKSet:
    """The JWKS file, read again whenever it changes (key rotation without a restart)."""
    return jwt.PyJWKSet.from_json(Path(path).read_text(encoding="utf-8"))


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
