"""Fuzz every HTTP API from its own OpenAPI document (schemathesis), against the real process.

Each service runs as a real process on the session's broker and database. Every operation
of its ``/openapi.json`` gets valid and invalid requests (positive and negative generation)
sent with a token of a role the route admits (tests/unit/test_authorization_matrix.py), so
requests pass the role check and reach validation and the use cases. Every answer must be
below 500, and every 4xx must be a problem document (RFC 9457) whose status matches.

That the requests got past validation is counted, not assumed: every operation must have
answers that only its use case gives (a 2xx, or a ``not-found`` / ``conflict`` /
``forbidden`` problem), and every service with commands must have commands answered 2xx.
Afterwards the service's schema is held against the test's own record of what was
acknowledged: the rows of each table a command creates are exactly the ids its 2xx answers
returned (no row without an answer, no answer without its row), each with its event in the
outbox where the command emits one; the last budget acknowledged is the budget stored. Rows
the consumers wrote meanwhile (each service reads the shared topics from the beginning) must
have their events too: nothing half-written. Scoring has no commands; its consumer starts at
the end of the topics and is fed paid orders enough to score a shop and a product while the
fuzzing runs, so its invariants (every score change in the history and announced, the
current score its newest entry) have rows to hold.

Budget: ``FUZZ_EXAMPLES`` examples per operation and generation mode (default 12), so CI
time stays bounded; raise it locally for a longer hunt (``FUZZ_EXAMPLES=500 make test
PYTEST_ARGS='-k fuzz'``). Failures print the request as a curl command to replay.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
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
from tests.integration.kit import (
    eventually,
    group_at_end,
    order_events,
    publish,
    running_service,
)
from tests.unit.test_authorization_matrix import MATRIX, SETTINGS

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
PROBLEMS = "https://laotie.dev/problems/"
# Problems only a use case gives (a lookup, a rule, an ownership check): the request passed
# auth and validation. "forbidden" is one of them here because every request carries a role
# the route admits, so the role check never refuses it; only the use case's ownership check
# (a seller of another shop, ...) does.
FROM_A_USE_CASE = {PROBLEMS + t for t in ("not-found", "conflict", "forbidden")}

Operation = tuple[str, str]  # (METHOD, path template)

# Per service: the commands that create rows, as (id field of the 2xx answer, table). Only
# these commands write those tables (no consumer does), so the table must hold exactly the
# ids the test was answered with.
CREATES: dict[str, dict[Operation, tuple[str, str]]] = {
    "orders": {
        ("POST", "/shops"): ("shop_id", "shops"),
        ("POST", "/products"): ("product_id", "products"),
        ("POST", "/orders"): ("order_id", "orders"),
        ("POST", "/orders/{order_id}/refunds"): ("refund_id", "refunds"),
    },
    "live": {
        ("POST", "/rooms"): ("room_id", "rooms"),
        ("POST", "/rooms/{room_id}/sessions"): ("session_id", "sessions"),
        ("POST", "/sessions/{session_id}/comments"): ("comment_id", "comments"),
    },
    "moderation": {
        ("POST", "/reports"): ("report_id", "reports"),
        ("POST", "/appeals"): ("appeal_id", "appeals"),
    },
    "scoring": {},
    "chuanliu": {},
}

# Commands that succeed on an empty schema, so the fuzzing must get 2xx answers from them.
MUST_SUCCEED: dict[str, set[Operation]] = {
    "orders": {("POST", "/shops")},
    "live": {("POST", "/rooms")},
    "moderation": {("POST", "/reports")},
    "scoring": set(),  # no commands: its reads must reach the database (2xx) instead
    "chuanliu": {("PUT", "/budget")},
}


def _emitted(table: str, key: str, event_type: str) -> str:
    """Rows of ``table`` without the event that created them in the outbox: a half-write."""
    return (
        f"SELECT '{table} row without its {event_type} event: ' || t.{key} FROM {table} t"
        f" WHERE NOT EXISTS (SELECT 1 FROM outbox x WHERE x.event_type = '{event_type}'"
        f" AND convert_from(x.payload, 'UTF8')::jsonb ->> '{key}' = t.{key})"
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
    "moderation": [
        _emitted("violations", "violation_id", "moderation.violation.detected"),
        _emitted("penalties", "penalty_id", "moderation.penalty.applied"),
    ],
    "scoring": [
        # Every score change is in the history and announced, and the current score is the
        # newest entry of its history (a same score from another sample moves no history).
        "SELECT 'score_history row without its scoring.score.changed event: '"
        " || h.kind || ':' || h.subject_id FROM score_history h WHERE NOT EXISTS"
        " (SELECT 1 FROM outbox x WHERE x.event_type = 'scoring.score.changed'"
        " AND x.key = h.kind || ':' || h.subject_id"
        " AND (convert_from(x.payload, 'UTF8')::jsonb ->> 'computed_at')::timestamptz"
        " = h.computed_at)",
        "SELECT 'score ' || s.kind || ':' || s.subject_id || ' is not its newest history entry'"
        " FROM scores s WHERE NOT EXISTS (SELECT 1 FROM (SELECT h.value, h.band"
        " FROM score_history h WHERE (h.kind, h.subject_id) = (s.kind, s.subject_id)"
        " ORDER BY h.computed_at DESC LIMIT 1) newest"
        " WHERE (newest.value, newest.band) = (s.value, s.band))",
    ],
    "chuanliu": [
        _emitted("grants", "grant_id", "chuanliu.traffic.granted"),
        _emitted("rewards", "reward_id", "chuanliu.traffic.creator_rewarded"),
    ],
}


# The tables the invariants read, per service (their row counts are printed).
CHECKED: dict[str, list[str]] = {
    "orders": ["shops", "products", "orders", "refunds"],
    "live": ["rooms", "sessions", "comments"],
    "moderation": ["reports", "appeals", "violations", "penalties"],
    "scoring": ["scores", "score_history"],
    "chuanliu": ["budget_settings", "grants", "rewards"],
}


@dataclass
class Tally:
    """What the fuzzing was answered, per operation: the test's own record."""

    statuses: Counter[int] = field(default_factory=Counter)
    reached: Counter[Operation] = field(default_factory=Counter)  # answers from a use case
    succeeded: Counter[Operation] = field(default_factory=Counter)  # 2xx answers
    created: dict[Operation, set[str]] = field(default_factory=dict)  # ids in 2xx answers
    budgets: list[int] = field(default_factory=list)  # acknowledged PUT /budget, in order


def _token(role: Role) -> str:
    return mint_token(
        ServiceSettings(**SETTINGS),
        subject=f"fuzz-{role}",
        role=role,
        shop_id="fuzz-shop" if role is Role.SELLER else None,
    )


# Where the first admitted role would make every valid request fail in the use case: a
# seller creates only the shop in their token, once; an operator creates any shop.
ROLE_FOR: dict[tuple[str, str, str], Role] = {("orders", "POST", "/shops"): Role.OPERATOR}


def _headers(service: str, method: str, path: str) -> dict[str, str]:
    roles = MATRIX[service].get((method, path))
    if roles is None:  # public, health and readiness routes
        return {}
    role = ROLE_FOR.get((service, method, path)) or sorted(roles, key=list(Role).index)[0]
    assert role in roles
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


def _record(
    service: str, op: Operation, case: Any, response: schemathesis.Response, tally: Tally
) -> None:
    status = response.status_code
    tally.statuses[status] += 1
    if 200 <= status < 300:
        tally.reached[op] += 1
        tally.succeeded[op] += 1
        if op in CREATES[service]:
            id_field, _ = CREATES[service][op]
            tally.created.setdefault(op, set()).add(str(response.json()[id_field]))
        replayed = (response.headers.get("idempotent-replayed") or [""])[0] == "true"
        if op == ("PUT", "/budget") and not replayed:
            tally.budgets.append(int(case.body["daily_impressions"]))
    elif 400 <= status < 500 and response.json().get("type") in FROM_A_USE_CASE:
        tally.reached[op] += 1


SCORED_ORDERS = 30  # the shop kind's min_sample_orders in the score policy


def _paid_orders(shop: str) -> list[Any]:
    """Enough matured, shipped and reviewed orders of one shop (and product) for scoring to
    score both (every weighted dimension measured)."""
    return order_events(shop, SCORED_ORDERS, good=True)


async def _scored(conn: asyncpg.Connection, shop: str) -> bool:
    """The shop and its product both have a score."""
    kinds = await conn.fetch(
        "SELECT kind FROM scores WHERE (kind, subject_id) IN (('shop', $1), ('product', $2))",
        shop,
        f"{shop}-p",
    )
    return sorted(r["kind"] for r in kinds) == ["product", "shop"]


@pytest.mark.parametrize("service", list(MATRIX))
async def test_fuzz_api_from_its_openapi_document(infra: Infra, service: str) -> None:
    module = f"laotie_{service}"
    env: dict[str, str] = {}
    shop = f"fuzz-scored-{uuid.uuid4().hex[:8]}"
    if service == "scoring":
        # Scoring has no commands: what it writes comes from its consumer. It starts at the
        # end of the shared topics and gets paid orders enough for scores, applied while
        # the fuzzing runs, so its invariants have rows to hold.
        env["CONSUMER_GROUP"] = await group_at_end(infra.kafka_bootstrap, "scoring")
    async with running_service(module, infra.kafka_bootstrap, infra.database_url, **env) as proc:
        if service == "scoring":
            await publish(infra.kafka_bootstrap, *_paid_orders(shop))
        async with httpx.AsyncClient(base_url=proc.url) as http:
            document = (await http.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        results = list(schema.get_all_operations())
        invalid = [r.err() for r in results if isinstance(r, Err)]
        assert invalid == [], f"the OpenAPI document has invalid operations: {invalid}"
        operations = [r.ok() for r in results if isinstance(r, Ok)]
        assert operations, "the OpenAPI document lists no operation"
        tally = Tally()
        for operation in operations:
            op = (operation.method.upper(), operation.path)
            _fuzz_operation(service, op, operation, proc.url, tally)
        print(
            f"\n{service}: {len(operations)} operations,"
            f" answers by status {sorted(tally.statuses.items())},"
            f" 2xx by operation {sorted(tally.succeeded.items())}"
        )
        ops = {(o.method.upper(), o.path) for o in operations}
        assert MUST_SUCCEED[service] <= ops, "a command to succeed is not in the document"
        assert set(CREATES[service]) <= ops, "a creating command is not in the document"
        unreached = sorted(op for op in ops if not tally.reached[op])
        assert unreached == [], f"no request reached the use case of {unreached}"
        failed = sorted(op for op in MUST_SUCCEED[service] if not tally.succeeded[op])
        assert failed == [], f"no 2xx answer from {failed}"
        assert sum(tally.succeeded.values()) > 0, "no request succeeded"

        conn = await asyncpg.connect(
            infra.database_url, server_settings={"search_path": proc.env_vars["DB_SCHEMA"]}
        )
        try:
            if service == "scoring":
                await eventually(
                    lambda: _scored(conn, shop),
                    timeout=60,
                    what="scores from the paid orders",
                )
            checked = {
                t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in CHECKED[service]
            }
            print(f"{service}: rows checked {checked}")
            broken = [row[0] for query in INVARIANTS[service] for row in await conn.fetch(query)]
            for op, (id_field, table) in CREATES[service].items():
                stored = {r[0] for r in await conn.fetch(f"SELECT {id_field} FROM {table}")}
                answered = tally.created.get(op, set())
                if stored != answered:
                    broken.append(
                        f"{table}: rows without a 2xx answer {sorted(stored - answered)[:5]},"
                        f" 2xx answers without a row {sorted(answered - stored)[:5]}"
                    )
            if service == "chuanliu":
                assert tally.budgets, "no PUT /budget was acknowledged (but a replay)"
                row = await conn.fetchrow(
                    "SELECT daily_impressions, updated_by FROM budget_settings"
                )
                stored_budget = (row["daily_impressions"], row["updated_by"]) if row else None
                if stored_budget != (tally.budgets[-1], "fuzz-operator"):
                    broken.append(
                        f"budget_settings {stored_budget}, last acknowledged"
                        f" {tally.budgets[-1]} by fuzz-operator"
                    )
        finally:
            await conn.close()
        assert broken == [], broken


def _fuzz_operation(service: str, op: Operation, operation: Any, url: str, tally: Tally) -> None:
    headers = _headers(service, *op)
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
        _check(response, case.as_curl_command(headers=headers, base_url=url))
        _record(service, op, case, response, tally)

    fuzz()
