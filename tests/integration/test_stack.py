"""`make up` / `make down` on real infrastructure: services start, answer, and stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
from laotie_contracts import all_topics
from laotie_stack import prometheus
from laotie_stack.kafka import KafkaNode, ensure_jars
from laotie_stack.procs import pid_alive
from laotie_stack.stack import discover_services

from tests.integration.infra import ROOT, Infra
from tests.integration.kit import eventually


def _laotie(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laotie_cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


async def test_up_starts_every_service_and_down_stops_them(infra: Infra, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LAOTIE_HOME": str(tmp_path),
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
    }
    services = discover_services(ROOT)
    assert set(services) == {"orders", "live", "moderation", "scoring", "chuanliu"}

    first = _laotie(["up"], env)
    assert first.returncode == 0, first.stderr
    try:
        stack_env = dict(
            line.split("=", 1) for line in (tmp_path / "stack.env").read_text().splitlines()
        )
        assert stack_env["KAFKA_BOOTSTRAP_SERVERS"] == infra.kafka_bootstrap
        assert stack_env["DATABASE_URL"] == infra.database_url
        async with httpx.AsyncClient(timeout=5) as http:
            for name in services:
                ready = await http.get(f"{stack_env[f'{name.upper()}_URL']}/readyz")
                assert ready.status_code == 200, (name, ready.text)

        again = _laotie(["up"], env)
        assert again.returncode == 0, again.stderr
        # ...and Prometheus (make deploy-tools installs it, make test needs it) once more.
        assert prometheus.available(), "prometheus is not installed: make deploy-tools"
        assert again.stderr.count("already running") == len(services) + 1, "up is idempotent"
        state = json.loads((tmp_path / "stack.json").read_text())
        async with httpx.AsyncClient(timeout=5) as http:

            async def scraped() -> set[str] | None:
                url = f"{state['prometheus']['url']}/api/v1/targets"
                targets = (await http.get(url)).json()["data"]["activeTargets"]
                jobs = {t["labels"]["job"] for t in targets if t["health"] == "up"}
                return jobs if jobs == set(services) else None

            await eventually(scraped, timeout=60, what="Prometheus to scrape every service")

        listed = (
            KafkaNode(ROOT, ensure_jars(ROOT, ROOT / ".laotie"), ROOT, 0, 0)
            .tool(
                "org.apache.kafka.tools.TopicCommand",
                "--bootstrap-server",
                infra.kafka_bootstrap,
                "--list",
            )
            .stdout.split()
        )
        assert {t.name for t in all_topics()} <= set(listed), "Kafka's own tool sees the topics"

        conn = await asyncpg.connect(infra.database_url)
        try:
            migrated = {
                r["table_schema"]
                for r in await conn.fetch(
                    "SELECT table_schema FROM information_schema.tables"
                    " WHERE table_name = 'schema_migrations'"
                )
            }
        finally:
            await conn.close()
        assert set(services) <= migrated, "every service's schema is migrated"
        pids = [s["pid"] for s in state["services"].values()] + [state["prometheus"]["pid"]]
    finally:
        down = _laotie(["down"], env)
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if pid_alive(pid)], "down leaves no process behind"
    assert not (tmp_path / "stack.env").exists()
