"""Fuzz every HTTP API from its own OpenAPI document (schemathesis), against the real process.

Each service runs as a real process on the session's broker and database. Every operation
of its ``/openapi.json`` gets valid and invalid requests (positive and negative generation)
sent with a token of a role the route admits (tests/unit/test_authorization_matrix.py), so
requests pass the role check and reach validation and the use cases. Every answer must be
below 500, and every 4xx must be a problem document (RFC 9457) whose status matches.
Afterwards each service's own invariants are checked in its schema: nothing half-written.

Budget: ``FUZZ_EXAMPLES`` examples per operation and generation mode (default 12), so CI
time stays bounded; raise it locally for a longer hunt (``FUZZ_EXAMPLES=500 make test
PYTEST_ARGS='-k fuzz'``). Failures print the request as a curl command to replay.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from laotie_common.auth import Role, mint_token
from laotie_common.settings import ServiceSettings
from schemathesis import GenerationMode
from schemathesis.core.result import Err, Ok

from tests.integration.infra import Infra
from tests.integration.kit import running_service
from tests.unit.test_authorization_matrix import MATRIX, SETTINGS

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))


# Per service: SQL queries that must return no row after the fuzzing (each names what broke).
def _emitted(table: str, key: str, event_type: str) -> str:
    """Rows of ``table`` whose creating event is missing from the outbox: a half-write."""
    return (
        f"SELECT '{table} row without its {event_type} event: ' || t.{key} FROM {table} t"
        f" WHERE NOT EXISTS (SELECT 1 FROM outbox x WHERE x.event_type LIKE '%{event_type}'"
        f" AND convert_from(x.payload, 'UTF8') LIKE '%' || t.{key} || '%')"
    )


# Per service: SQL queries that must return no row after the fuzzing (each names what broke).
INVARIANTS: dict[str, list[str]] = {
    "orders": [
        _emitted("products", "product_id", "orders.product.listed"),
        _emitted("orders", "order_id", "orders.order.placed"),
    ],
    "live": [
        _emitted("rooms", "room_id", "live.room.created"),
        _emitted("sessions", "session_id", "live.room.session_started"),
        _emitted("comments", "comment_id", "live.comment.posted"),
    ],
    "moderation": [],
    "scoring": [],
    "chuanliu": [],
}


def _token(role: Role) -> str:
    return mint_token(
        ServiceSettings(**SETTINGS),
        subject=f"fuzz-{role}",
        role=role,
        shop_id="fuzz-shop" if role is Role.SELLER else None,
    )


def _headers(service: str, method: str, path: str) -> dict[str, str]:
    roles = MATRIX[service].get((method, path))
    if roles is None:  # public, health and readiness routes
        return {}
    role = sorted(roles, key=list(Role).index)[0]
    return {"Authorization": f"Bearer {_token(role)}"}


def _check(response: schemathesis.Response, curl: str) -> None:
    status = response.status_code
    assert status < 500, f"{status} for:\n{curl}\n{response.text[:500]}"
    if status >= 400:
        kind = (response.headers.get("content-type") or [""])[0]
        assert kind.startswith("application/problem+json"), f"{status} {kind} for:\n{curl}"
        body = response.json()
        assert body.get("status") == status, f"{body} for:\n{curl}"
        assert body.get("title"), f"{body} for:\n{curl}"


@pytest.mark.parametrize("service", list(MATRIX))
async def test_fuzz_api_from_its_openapi_document(infra: Infra, service: str) -> None:
    module = f"laotie_{service}"
    async with running_service(module, infra.kafka_bootstrap, infra.database_url) as proc:
        async with httpx.AsyncClient(base_url=proc.url) as http:
            document = (await http.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        results = list(schema.get_all_operations())
        invalid = [r.err() for r in results if isinstance(r, Err)]
        assert invalid == [], f"the OpenAPI document has invalid operations: {invalid}"
        operations = [r.ok() for r in results if isinstance(r, Ok)]
        assert operations, "the OpenAPI document lists no operation"
        statuses: dict[int, int] = {}
        for operation in operations:
            headers = _headers(service, operation.method.upper(), operation.path)
            _fuzz_operation(operation, proc.url, headers, statuses)
        print(
            f"\n{service}: {len(operations)} operations,"
            f" answers by status {sorted(statuses.items())}"
        )
        assert statuses, "no request was sent"
        conn = await asyncpg.connect(
            infra.database_url, server_settings={"search_path": proc.env_vars["DB_SCHEMA"]}
        )
        try:
            broken = [row[0] for query in INVARIANTS[service] for row in await conn.fetch(query)]
        finally:
            await conn.close()
        assert broken == [], broken


def _fuzz_operation(
    operation: Any, url: str, headers: dict[str, str], statuses: dict[int, int]
) -> None:
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        response = case.call(base_url=url, headers=headers, timeout=10)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        _check(response, case.as_curl_command(headers=headers, base_url=url))

    fuzz()
