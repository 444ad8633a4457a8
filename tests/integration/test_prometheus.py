"""A real Prometheus (Debian's package) with Laotie's generated rules, scraping real services.

Orders, live and scoring run as processes; traffic goes through the orders API (live and
scoring apply the events it publishes). Prometheus (rules evaluated every 2 s instead of
30 s, otherwise the same rules.yml) must then have loaded exactly the rules the code
defines, every one healthy, and return finite values for the recording rules the dashboards
and alerts use: the raw counters equal to the traffic the test drove, the rates of that
traffic above zero, the availability error ratio exactly zero (no 5xx was driven).

The traffic comes in two rounds: a labelled series first appears with the count it already
has, and ``rate`` sees no increase in a series' first sample, so only the second round
(sent once Prometheus has the first) makes every driven rate positive.
"""

from __future__ import annotations

import functools
import json
import math
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from laotie_artefacts import observability
from laotie_common.settings import ServiceSettings
from laotie_contracts import TOPICS
from laotie_evening.client import OrdersApi
from laotie_stack.procs import free_port
from laotie_stack.prometheus import PrometheusNode

from tests.integration.infra import ROOT, Infra
from tests.integration.kit import eventually, running_service

pytestmark = pytest.mark.integration

ORDERS, PRICE_FEN = 5, 9900
JOBS = ("orders", "live", "scoring")
# (route, status) -> POST requests one round sends to the orders service; nothing else POSTs.
ROUND = {
    ("/shops", "201"): 1,
    ("/products", "201"): 1,
    ("/orders", "201"): ORDERS,
    ("/orders/{order_id}/pay", "200"): ORDERS,
}
PROBES = {"/metrics", "/readyz", "/healthz"}  # Prometheus's scrapes and readiness checks


def _values(node: PrometheusNode, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
    """The instant vector of ``expr`` as {label values: value}; NaN stays NaN."""
    found: dict[tuple[str, ...], float] = {}
    for series in node.query(expr):
        key = tuple(series["metric"].get(label, "") for label in labels)
        assert key not in found, f"{expr}: two series for {key}"
        found[key] = float(series["value"][1])
    return found


def _observe(node: PrometheusNode) -> dict[str, Any]:
    """What the checks below compare, in one place so a timeout can show all of it."""
    windows = observability.WINDOWS
    return {
        "requests": _values(
            node, 'laotie_http_requests_total{job="orders",method="POST"}', "route", "status"
        ),
        "request_rates": {
            k: v
            for k, v in _values(
                node, 'laotie:http_requests:rate5m{job="orders"}', "route", "status"
            ).items()
            if k[0] not in PROBES
        },
        "http_errors": _values(node, 'laotie:http_errors:ratio_rate5m{job="orders"}', "route"),
        "gmv": _values(node, 'laotie_orders_gmv_fen_total{job="orders"}', "channel"),
        "gmv_rate": _values(node, "laotie:orders_gmv_fen:rate5m", "channel"),
        "live_records": _values(
            node,
            'laotie:consumer_records:rate5m{job="live",topic="orders.order",outcome="applied"}',
            "consumer",
        ),
        "lag": _values(node, "laotie:consumer_lag:sum", "job", "consumer", "topic"),
        "applied_events": _values(
            node, 'laotie_consumer_event_age_seconds_count{topic="orders.order"}', "job"
        ),
        "event_age_p95": _values(
            node, 'laotie:consumer_event_age:p95_5m{topic="orders.order"}', "job", "consumer"
        ),
        "availability": {
            w: _values(node, f"laotie:slo_order_availability:error_ratio_rate{w}") for w in windows
        },
        "latency": {
            w: _values(node, f"laotie:slo_order_latency:error_ratio_rate{w}") for w in windows
        },
    }


async def _drive(api: OrdersApi) -> None:
    """One round: a shop, a product, ORDERS orders placed and paid (shop_page channel)."""
    seller = await api.new_shop()
    product = await api.new_product(seller, stock=50, price_fen=PRICE_FEN)
    sku = product["skus"][0]["sku_id"]
    for _ in range(ORDERS):
        buyer = api.buyer()
        placed = (await api.order(buyer, sku)).json()
        await api.post(f"/orders/{placed['order_id']}/pay", buyer, expect=200)


def _counted(seen: dict[str, Any], rounds: int) -> list[str]:
    """The raw counters against the rounds driven so far."""
    problems = []
    driven = {k: float(n * rounds) for k, n in ROUND.items()}
    if seen["requests"] != driven:
        problems.append(f"POST request counters {seen['requests']} != driven {driven}")
    gmv = {("shop_page",): float(rounds * ORDERS * PRICE_FEN)}
    if seen["gmv"] != gmv:
        problems.append(f"GMV counter {seen['gmv']} != {gmv}")
    # The consumers' series must exist before the next round, or a batch that applies both
    # rounds at once leaves the series' first sample at its final count: a rate of 0.
    if set(seen["applied_events"]) != {("live",), ("scoring",)}:
        problems.append(f"consumers' applied-event series: {seen['applied_events']}")
    return problems


def _problems(seen: dict[str, Any]) -> list[str]:
    """Everything that is not yet (or not at all) as the two rounds of traffic imply."""
    problems = _counted(seen, 2)

    def finite_and_positive(name: str, values: dict[Any, float]) -> None:
        if not values or not all(math.isfinite(v) and v > 0 for v in values.values()):
            problems.append(f"{name}: {values} (want series, each finite and > 0)")

    if set(seen["request_rates"]) != set(ROUND):
        problems.append(f"request rates for {set(seen['request_rates'])} != {set(ROUND)}")
    finite_and_positive("laotie:http_requests:rate5m", seen["request_rates"])
    if seen["http_errors"] != {}:
        problems.append(f"laotie:http_errors:ratio_rate5m without any 5xx: {seen['http_errors']}")
    if set(seen["gmv_rate"]) != {("shop_page",)}:
        problems.append(f"laotie:orders_gmv_fen:rate5m channels: {seen['gmv_rate']}")
    finite_and_positive("laotie:orders_gmv_fen:rate5m", seen["gmv_rate"])
    finite_and_positive("live applying orders.order", seen["live_records"])
    consumed = {(job, t.name) for t in TOPICS for job in JOBS if job in t.consumers}
    lags = {(job, topic): v for (job, _, topic), v in seen["lag"].items()}
    if set(lags) != consumed or not all(math.isfinite(v) and v >= 0 for v in lags.values()):
        problems.append(f"laotie:consumer_lag:sum: {lags} (want >= 0 for each of {consumed})")
    ages = {job for (job, _), v in seen["event_age_p95"].items() if math.isfinite(v) and v >= 0}
    if ages != {"live", "scoring"}:
        problems.append(f"p95 event age of orders.order: {seen['event_age_p95']}")
    for w, values in seen["availability"].items():
        if values != {(): 0.0}:
            problems.append(f"availability error ratio over {w}: {values} (want exactly 0)")
    for w, values in seen["latency"].items():
        if len(values) != 1 or not all(math.isfinite(v) and 0 <= v <= 1 for v in values.values()):
            problems.append(f"latency error ratio over {w}: {values} (want one, in [0, 1])")
    return problems


def _formatter(node: PrometheusNode) -> Callable[[str], str]:
    """PromQL as Prometheus itself prints it (numbers and spacing normalised), memoised."""

    @functools.cache
    def formatted(expr: str) -> str:
        url = f"{node.url}/api/v1/format_query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return str(json.load(response)["data"])

    return formatted


def _loaded(groups: list[dict[str, Any]], fmt: Callable[[str], str]) -> list[tuple[Any, ...]]:
    """The rules Prometheus reports: (group, kind, name, query, for, labels, annotations)."""
    return sorted(
        (
            group["name"],
            rule["type"],
            rule["name"],
            fmt(rule["query"]),
            rule.get("duration", 0),
            tuple(sorted(rule.get("labels", {}).items())),
            tuple(sorted(rule.get("annotations", {}).items())),
        )
        for group in groups
        for rule in group["rules"]
    )


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(duration[:-1]) * units[duration[-1]]


def _defined(fmt: Callable[[str], str]) -> list[tuple[Any, ...]]:
    """The same, from the code that generates rules.yml."""
    found: list[tuple[Any, ...]] = []
    for group in observability.rule_groups():
        for rule in group["rules"]:
            if "record" in rule:
                found.append(
                    (group["name"], "recording", rule["record"], fmt(rule["expr"]), 0, (), ())
                )
            else:
                found.append(
                    (
                        group["name"],
                        "alerting",
                        rule["alert"],
                        fmt(rule["expr"]),
                        _seconds(rule["for"]),
                        tuple(sorted(rule["labels"].items())),
                        tuple(sorted(rule["annotations"].items())),
                    )
                )
    return sorted(found)


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
            last: dict[str, Any] = {}

            async def first_round_scraped() -> bool:
                last.clear()
                last.update(_observe(node))
                return not _counted(last, 1)

            await _drive(api)
            try:
                await eventually(first_round_scraped, timeout=60, what="the first round")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n" + "\n".join(_counted(last, 1))) from None
            await _drive(api)

            async def as_driven() -> bool:
                last.clear()
                last.update(_observe(node))
                return not _problems(last)

            try:
                await eventually(as_driven, timeout=90, interval=1, what="the driven traffic")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n" + "\n".join(_problems(last))) from None
            print(f"\nPrometheus saw: {last}")

            groups = node.rules()
            fmt = _formatter(node)
            loaded, defined = _loaded(groups, fmt), _defined(fmt)
            assert {
                "missing": [r for r in defined if r not in loaded],
                "unexpected": [r for r in loaded if r not in defined],
            } == {"missing": [], "unexpected": []}, "exactly the rules the code defines"
            assert loaded == defined, "each rule once"
            rules = [r for g in groups for r in g["rules"]]
            unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
            assert unhealthy == []
            firing = [r["name"] for r in rules if r.get("state") == "firing"]
            assert "LaotieTargetDown" not in firing
        finally:
            node.stop()
