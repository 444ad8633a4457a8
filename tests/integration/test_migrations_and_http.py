"""Migrations under concurrency, and the shared HTTP side of a service on real infrastructure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from laotie_common.auth import Role, mint_token
from laotie_common.migrations import COMMON_MIGRATIONS, migrate
from laotie_common.service import Service
from laotie_probe.probe import ProbeSettings, build

from tests.integration.infra import Infra
from tests.integration.kit import PROBE_MIGRATIONS, ProbeProcess, eventually


async def test_concurrent_migrations_apply_each_file_once(infra: Infra, unique: str) -> None:
    schema = f"mig_{unique}"
    sources = [("common", COMMON_MIGRATIONS), ("probe", PROBE_MIGRATIONS)]
    results = await asyncio.gather(
        *(migrate(infra.database_url, schema, sources) for _ in range(5))
    )
    files = [
        f"{name}/{sql.stem}" for name, folder in sources for sql in sorted(folder.glob("*.sql"))
    ]
    common = ["common/0001_plumbing", "common/0002_prune", "common/0003_audit"]
    assert files[:4] == [*common, "probe/0001_probe"]
    applied = [r for r in results if r]
    assert len(applied) == 1, f"exactly one runner applied the files: {results}"
    assert applied[0] == files, "every file, in order"
    conn = await asyncpg.connect(infra.database_url)
    try:
        rows = await conn.fetchval(f"SELECT count(*) FROM {schema}.schema_migrations")
    finally:
        await conn.close()
    assert rows == len(files), "each file recorded once"


async def test_a_changed_applied_migration_is_refused(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    schema = f"mig_{unique}"
    (tmp_path / "0001_thing.sql").write_text("CREATE TABLE thing (id int);")
    assert await migrate(infra.database_url, schema, [("x", tmp_path)]) == ["x/0001_thing"]
    (tmp_path / "0001_thing.sql").write_text("CREATE TABLE thing (id bigint);")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        await migrate(infra.database_url, schema, [("x", tmp_path)])


@pytest.fixture
async def probe_http(
    probe_settings: ProbeSettings,
) -> AsyncIterator[tuple[httpx.AsyncClient, Service]]:
    service = build(probe_settings)
    app = service.asgi()
    await service.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            yield client, service
    finally:
        await service.stop()


def _auth(settings: ProbeSettings, role: Role = Role.OPERATOR) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings, subject='t', role=role)}"}


async def test_idempotency_key_returns_the_first_answer(
    probe_http: tuple[httpx.AsyncClient, Service],
    probe_settings: ProbeSettings,
    db: asyncpg.Connection,
) -> None:
    client, _ = probe_http
    headers = {**_auth(probe_settings), "Idempotency-Key": "k-1"}
    body = {"probe_key": "idem", "count": 3}
    first = await client.post("/probes", json=body, headers=headers)
    again = await client.post("/probes", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await db.fetchval("SELECT count(*) FROM outbox") == 3, "the retry wrote nothing"

    other = await client.post("/probes", json={"probe_key": "idem", "count": 4}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert "different request" in other.json()["detail"]


async def test_http_errors_are_problem_documents(
    probe_http: tuple[httpx.AsyncClient, Service],
    probe_settings: ProbeSettings,
) -> None:
    client, _ = probe_http
    anonymous = await client.post("/probes", json={"probe_key": "x"})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["status"] == 401

    buyer = await client.post(
        "/probes", json={"probe_key": "x"}, headers=_auth(probe_settings, Role.BUYER)
    )
    assert buyer.status_code == 403
    assert "role buyer" in buyer.json()["detail"]

    forged = await client.post(
        "/probes", json={"probe_key": "x"}, headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert forged.status_code == 401

    invalid = await client.post(
        "/probes", json={"probe_key": "", "count": -1}, headers=_auth(probe_settings)
    )
    assert invalid.status_code == 422
    fields = {e["field"] for e in invalid.json()["errors"]}
    assert fields == {"body.probe_key", "body.count"}

    huge = await client.post(
        "/probes",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={**_auth(probe_settings), "content-type": "application/json"},
    )
    assert huge.status_code == 413


async def test_health_readiness_metrics_and_openapi(
    probe_http: tuple[httpx.AsyncClient, Service],
) -> None:
    client, _ = probe_http
    assert (await client.get("/healthz")).json()["status"] == "ok"

    async def ready() -> httpx.Response | None:
        response = await client.get("/readyz")
        return response if response.status_code == 200 else None

    response = await eventually(ready, timeout=10, what="/readyz to answer 200")
    assert response.json()["checks"] == {"postgres": True, "kafka": True, "consumer:probe": True}
    metrics = (await client.get("/metrics")).text
    assert "laotie_outbox_backlog_events" in metrics
    assert 'laotie_http_requests_total{method="GET",route="/readyz"' in metrics
    spec = (await client.get("/openapi.json")).json()
    assert "/probes" in spec["paths"]
    assert spec["paths"]["/probes"]["post"]["security"] == [{"HTTPBearer": []}], (
        "command routes declare bearer auth"
    )
    bearer = spec["components"]["securitySchemes"]["HTTPBearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")


async def test_a_service_outside_local_development_refuses_the_built_in_signing_key(
    probe_settings: ProbeSettings,
) -> None:
    """Regression (issue 18, row 2): run any way but the shipped manifests, a service fell back
    silently to the key written in settings.py. Now, as a real process with LAOTIE_ENV left at
    its default (production) and no key of its own, it exits at once and says why."""
    process = ProbeProcess(probe_settings, {"LAOTIE_ENV": "production"}).start()
    assert await process.wait_exit(timeout=60) != 0
    assert "refusing to start" in process.log()
