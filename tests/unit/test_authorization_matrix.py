"""Who may call what: every route of every service against the matrix below.

A route missing from the matrix fails the test, so a new route must state its roles here.
Role checks run before any database access, so the apps are not started. Ownership (a
seller of *another* shop, a buyer of *another* order, an anchor of *another* room) is
checked by the use cases and proven in tests/integration (test_orders, test_live,
test_moderation_rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from laotie_common.auth import Role, mint_token
from laotie_common.service import Service
from laotie_common.settings import ServiceSettings

B, S, A, R, OP, V = (
    Role.BUYER,
    Role.SELLER,
    Role.ANCHOR,
    Role.REVIEWER,
    Role.OPERATOR,
    Role.SERVICE,
)
ANY = frozenset(Role)
PUBLIC = None  # no token needed: health, catalogue and published figures

MATRIX: dict[str, dict[tuple[str, str], frozenset[Role] | None]] = {
    "orders": {
        ("POST", "/shops"): frozenset({OP, S}),
        ("GET", "/shops/{shop_id}"): PUBLIC,
        ("PUT", "/shops/{shop_id}/profile"): frozenset({S}),
        ("POST", "/shops/{shop_id}/brand-verification"): frozenset({OP}),
        ("POST", "/products"): frozenset({S}),
        ("GET", "/products"): PUBLIC,
        ("GET", "/products/{product_id}"): PUBLIC,
        ("PATCH", "/products/{product_id}/skus/{sku_id}"): frozenset({S}),
        ("POST", "/products/{product_id}/delist"): frozenset({S}),
        ("POST", "/products/{product_id}/relist"): frozenset({S}),
        ("PATCH", "/products/{product_id}"): frozenset({S}),
        ("POST", "/products/{product_id}/resubmit"): frozenset({S}),
        ("POST", "/products/{product_id}/distribution-plans"): frozenset({S}),
        ("GET", "/products/{product_id}/distribution-plans"): ANY,
        ("POST", "/distribution-plans/{plan_id}/promotions"): frozenset({A}),
        ("POST", "/orders"): frozenset({B}),
        ("GET", "/live-rooms/{room_id}"): ANY,
        ("GET", "/orders"): frozenset({B, S, OP, V, R}),  # anchors list no orders
        ("GET", "/orders/{order_id}"): ANY,
        ("POST", "/orders/{order_id}/pay"): frozenset({B}),
        ("POST", "/orders/{order_id}/cancel"): frozenset({B}),
        ("POST", "/orders/{order_id}/deliver"): frozenset({V, OP}),
        ("POST", "/orders/{order_id}/confirm"): frozenset({B}),
        ("POST", "/orders/{order_id}/ship"): frozenset({S}),
        ("POST", "/orders/{order_id}/review"): frozenset({B}),
        ("POST", "/orders/{order_id}/refunds"): frozenset({B}),
        ("GET", "/orders/{order_id}/refunds"): ANY,
        ("GET", "/refunds/{refund_id}"): ANY,
        ("POST", "/refunds/{refund_id}/approve"): frozenset({S}),
        ("POST", "/refunds/{refund_id}/receive"): frozenset({S}),
        ("POST", "/refunds/{refund_id}/escalate"): frozenset({B}),
        ("POST", "/refunds/{refund_id}/reject"): frozenset({S}),
        ("POST", "/refunds/{refund_id}/return"): frozenset({B}),
        ("POST", "/refunds/{refund_id}/decide"): frozenset({R, OP}),
    },
    "live": {
        ("POST", "/rooms"): frozenset({A, S, OP}),
        ("PUT", "/profiles/{owner_type}/{owner_id}"): frozenset({A}),
        ("GET", "/profiles/{owner_type}/{owner_id}"): PUBLIC,
        ("GET", "/rooms/{room_id}"): PUBLIC,
        ("POST", "/rooms/{room_id}/sessions"): frozenset({A, S}),
        ("GET", "/sessions/{session_id}"): PUBLIC,
        ("POST", "/sessions/{session_id}/end"): frozenset({A, S, OP}),
        ("POST", "/sessions/{session_id}/pins"): frozenset({A, S}),
        ("DELETE", "/sessions/{session_id}/pins/{product_id}"): frozenset({A, S}),
        ("POST", "/sessions/{session_id}/viewers"): frozenset({V, OP}),
        ("POST", "/sessions/{session_id}/comments"): ANY,
        ("GET", "/sessions/{session_id}/comments"): ANY,
        ("GET", "/sessions/{session_id}/stats"): PUBLIC,
    },
    "moderation": {
        ("POST", "/reports"): frozenset({B}),
        ("GET", "/reports/{report_id}"): ANY,
        ("POST", "/reports/{report_id}/decide"): frozenset({R, OP}),
        ("POST", "/appeals"): frozenset({S, A}),
        ("POST", "/appeals/{appeal_id}/decide"): frozenset({R, OP}),
        ("GET", "/subjects/{subject_type}/{subject_id}"): ANY,
        ("GET", "/violations"): frozenset({R, OP}),
        ("GET", "/rectifications"): frozenset({R, OP}),
        ("GET", "/rectifications/{rectification_id}"): ANY,
        ("POST", "/rectifications/{rectification_id}/decide"): frozenset({R, OP}),
        ("GET", "/rules"): PUBLIC,
    },
    "scoring": {
        ("GET", "/scores/{kind}/{subject_id}"): PUBLIC,
        ("GET", "/scores/{kind}/{subject_id}/history"): PUBLIC,
        ("GET", "/scores/{kind}/{subject_id}/resources"): PUBLIC,
        ("GET", "/scores"): PUBLIC,
        ("GET", "/policy"): PUBLIC,
    },
    "chuanliu": {
        ("GET", "/brands/{brand_id}/uplift"): frozenset({S, OP}),
        ("GET", "/creators/{creator_id}/contribution"): frozenset({A, OP}),
        ("GET", "/sessions/{session_id}/grants"): frozenset({S, OP}),
        ("GET", "/budget"): frozenset({OP}),
        ("PUT", "/budget"): frozenset({OP}),
    },
}
OPERATIONS = {("GET", "/healthz"), ("GET", "/readyz")}
SETTINGS: dict[str, Any] = dict(
    database_url="postgresql://nobody@127.0.0.1:1/none", kafka_bootstrap_servers="127.0.0.1:1"
)


def builders() -> dict[str, Callable[[], Service]]:
    from laotie_chuanliu import bootstrap as chuanliu
    from laotie_live import bootstrap as live
    from laotie_moderation import bootstrap as moderation
    from laotie_orders import bootstrap as orders
    from laotie_scoring import bootstrap as scoring

    return {
        name: (lambda m=module: m.build(m.Settings(**SETTINGS)))  # type: ignore[misc]
        for name, module in {
            "orders": orders,
            "live": live,
            "moderation": moderation,
            "scoring": scoring,
            "chuanliu": chuanliu,
        }.items()
    }


def _routes(service: Service) -> set[tuple[str, str]]:
    spec = service.asgi().openapi()
    return {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}


@pytest.mark.parametrize("name", list(MATRIX))
def test_every_route_is_in_the_matrix(name: str) -> None:
    routes = _routes(builders()[name]()) - OPERATIONS
    assert routes == set(MATRIX[name]), "routes and matrix differ"


def _cases() -> list[tuple[str, str, str, frozenset[Role]]]:
    return [
        (name, method, path, roles)
        for name, table in MATRIX.items()
        for (method, path), roles in table.items()
        if roles is not None
    ]


def _token(role: Role) -> str:
    settings = ServiceSettings(**SETTINGS)
    return mint_token(
        settings,
        subject=f"someone-{role}",
        role=role,
        shop_id="shop-x" if role is Role.SELLER else None,
    )


@pytest.mark.parametrize(
    ("name", "method", "path", "allowed"), _cases(), ids=[f"{n}:{m} {p}" for n, m, p, _ in _cases()]
)
async def test_roles_are_enforced(
    name: str, method: str, path: str, allowed: frozenset[Role]
) -> None:
    app = builders()[name]().asgi()
    url = path.replace("{", "").replace("}", "")  # any id will do: roles are checked first
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        anonymous = await client.request(method, url, json={})
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["content-type"] == "application/problem+json"
        for role in Role:
            response = await client.request(
                method, url, json={}, headers={"Authorization": f"Bearer {_token(role)}"}
            )
            if role in allowed:
                assert response.status_code not in (401, 403), (role, response.text)
            else:
                assert response.status_code == 403, (role, response.text)
                assert response.headers["content-type"] == "application/problem+json"


def test_every_service_that_takes_staff_commands_keeps_an_audit_trail() -> None:
    """A command an operator or reviewer may run is recorded by the command runner and
    published with the service's audit event: every service that takes one has it."""
    from laotie_contracts.topics import AUDITED

    staff = {R, OP}
    taking = {
        name
        for name, table in MATRIX.items()
        for (method, _), roles in table.items()
        if method != "GET" and roles is not None and roles & staff
    }
    assert taking == set(AUDITED)
    for name in MATRIX:
        runner = builders()[name]().commands
        assert (runner.audit is not None) == (name in AUDITED), name
