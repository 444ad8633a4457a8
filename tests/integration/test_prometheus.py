"""A real Prometheus (Debian's package) with Laotie's generated rules, scraping real services.

Orders and live run as processes; traffic goes through the orders API and live applies the
product events. Prometheus (rules evaluated every 2 s instead of 30 s, otherwise the same
rules.yml) must then return data for the recording rules the dashboards and alerts use, and
report every rule healthy (no evaluation error).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest
from laotie_common.settings import ServiceSettings
from laotie_dev.client import OrdersApi
from laotie_dev.procs import free_port
from laotie_dev.prometheus import PrometheusNode

from tests.integration.infra import ROOT, Infra
from tests.integration.kit import eventually, running_service

pytestmark = pytest.mark.integration

RECORDED = {
    "laotie:http_requests:rate5m": 'job="orders"',
    "laotie:consumer_records:rate5m": 'job="live"',
    "laotie:consumer_lag:sum": 'job="live"',
    "laotie:slo_order_availability:error_ratio_rate5m": "",
    "laotie:slo_order_latency:error_ratio_rate5m": "",
}


async def test_recording_rules_return_data_from_the_running_services(infra: Infra) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    async with (
        running_service("laotie_orders", infra.kafka_bootstrap, infra.database_url) as orders,
        running_service("laotie_live", infra.kafka_bootstrap, infra.database_url) as live,
        running_service("laotie_scoring", infra.kafka_bootstrap, infra.database_url) as scoring,
        httpx.AsyncClient(base_url=orders.url, timeout=30) as client,
    ):
        node = PrometheusNode(
            ROOT,
            Path(tempfile.mkdtemp(prefix="laotie-prometheus-")),
            free_port(),
            {
                "orders": f"127.0.0.1:{orders.port}",
                "live": f"127.0.0.1:{live.port}",
                "scoring": f"127.0.0.1:{scoring.port}",
            },
            scrape_interval="1s",
            rule_interval="2s",
        )
        node.start()
        try:
            api = OrdersApi(client, settings)
            seller = await api.new_shop()
            product = await api.new_product(seller, stock=50)
            sku = product["skus"][0]["sku_id"]
            for _ in range(5):
                buyer = api.buyer()
                placed = (await api.order(buyer, sku)).json()
                await api.post(f"/orders/{placed['order_id']}/pay", buyer, expect=200)

            last: dict[str, int] = {}

            async def recorded() -> dict[str, int] | None:
                last.update(
                    {
                        name: len(node.query(f"{name}{{{sel}}}" if sel else name))
                        for name, sel in RECORDED.items()
                    }
                )
                return dict(last) if all(last.values()) else None

            try:
                found = await eventually(recorded, timeout=90, interval=1, what="recording rules")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; series per rule: {last}") from None
            groups = node.rules()
            rules = [r for g in groups for r in g["rules"]]
            unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
            print(f"\nseries per recording rule: {found}; rules loaded: {len(rules)}")
            assert unhealthy == []
            assert len(rules) >= len(RECORDED)
            firing = [r["name"] for r in rules if r.get("state") == "firing"]
            assert "LaotieTargetDown" not in firing
        finally:
            node.stop()
