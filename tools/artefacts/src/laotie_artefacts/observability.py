"""Recording rules, alerts (with their runbooks) and Grafana dashboards, from one source.

Everything queries the metric catalogue (``laotie_common.metrics``); ``metric_names`` in
``PromQL`` expressions are checked against it by tests/unit/test_deploy.py. Services carry
no ``service`` label: Prometheus's ``job`` label is the service name (the ServiceMonitor's
``jobLabel`` in clusters, the scrape job locally).

SLOs of the order pipeline (docs/design.md, section 7):
- availability: 99.9 % of order API requests answered without a 5xx;
- end-to-end latency: 99 % of order events applied by each consumer within 5 s of commit.
Alerts on them are multi-window burn rates (Google SRE workbook): 14.4x over 1 h and 5 m,
6x over 6 h and 30 m page; 1x over 3 d and 6 h opens a ticket.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from laotie_contracts.topics import SERVICES

RUNBOOKS = "docs/runbooks/alerts.md"
SLOS = {
    "order_availability": {
        "objective": 0.999,
        "what": "order API requests answered without a 5xx",
        # `or vector(0)`: no 5xx series at all is a ratio of 0, not an absent one.
        "errors": 'sum(rate(laotie_http_requests_total{job="orders",status=~"5.."}[W])) or vector(0)',
        "total": 'sum(rate(laotie_http_requests_total{job="orders"}[W]))',
    },
    "order_latency": {
        "objective": 0.99,
        "what": "order events applied by each consumer within 5 s of their commit",
        "errors": (
            'sum(rate(laotie_consumer_event_age_seconds_count{topic="orders.order"}[W]))'
            ' - sum(rate(laotie_consumer_event_age_seconds_bucket{topic="orders.order",le="5.0"}[W]))'
        ),
        "total": 'sum(rate(laotie_consumer_event_age_seconds_count{topic="orders.order"}[W]))',
    },
}
WINDOWS = ("5m", "30m", "1h", "6h", "3d")
BURNS = (  # (severity, factor, long window, short window, for)
    ("page", 14.4, "1h", "5m", "2m"),
    ("page", 6.0, "6h", "30m", "15m"),
    ("ticket", 1.0, "3d", "6h", "1h"),
)


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    meaning: str
    steps: tuple[str, ...]
    # promtool unit tests: (input series -> promtool values, eval time, label sets that fire)
    cases: tuple[tuple[dict[str, str], str, tuple[dict[str, str], ...]], ...] = ()

    def rule(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, "team": "laotie"},
            "annotations": {
                "summary": self.summary,
                "runbook_url": f"{RUNBOOKS}#{self.name.lower()}",
            },
        }


def recording_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "record": "laotie:http_requests:rate5m",
            "expr": "sum by (job, route, status) (rate(laotie_http_requests_total[5m]))",
        },
        {
            "record": "laotie:http_errors:ratio_rate5m",
            "expr": (
                'sum by (job, route) (rate(laotie_http_requests_total{status=~"5.."}[5m]))'
                " / sum by (job, route) (rate(laotie_http_requests_total[5m]))"
            ),
        },
        {
            "record": "laotie:consumer_lag:sum",
            "expr": "sum by (job, consumer, topic) (laotie_consumer_lag_records)",
        },
        {
            "record": "laotie:consumer_records:rate5m",
            "expr": (
                "sum by (job, consumer, topic, outcome) (rate(laotie_consumer_records_total[5m]))"
            ),
        },
        {
            "record": "laotie:consumer_errors:ratio_rate5m",
            "expr": (
                "sum by (job, consumer) (rate(laotie_consumer_errors_total[5m]))"
                " / sum by (job, consumer) (rate(laotie_consumer_records_total[5m]))"
            ),
        },
        {
            "record": "laotie:consumer_event_age:p95_5m",
            "expr": (
                "histogram_quantile(0.95, sum by (job, consumer, topic, le)"
                " (rate(laotie_consumer_event_age_seconds_bucket[5m])))"
            ),
        },
        {
            "record": "laotie:orders_gmv_fen:rate5m",
            "expr": "sum by (channel) (rate(laotie_orders_gmv_fen_total[5m]))",
        },
    ]
    for slo, spec in SLOS.items():
        for window in WINDOWS:
            errors = str(spec["errors"]).replace("[W]", f"[{window}]")
            total = str(spec["total"]).replace("[W]", f"[{window}]")
            rules.append(
                {
                    "record": f"laotie:slo_{slo}:error_ratio_rate{window}",
                    "expr": f"({errors}) / ({total})",
                }
            )
    return rules


def alerts() -> list[Alert]:
    found: list[Alert] = []
    for slo, spec in SLOS.items():
        budget = round(1 - float(spec["objective"]), 6)  # type: ignore[arg-type]
        for severity, factor, long, short, for_ in BURNS:
            speed = {14.4: "Fast", 6.0: "Medium", 1.0: "Slow"}[factor]
            name = "LaotieSlo" + "".join(p.title() for p in slo.split("_")) + f"Burn{speed}"
            threshold = f"({factor} * {budget})"
            found.append(
                Alert(
                    name=name,
                    expr=(
                        f"laotie:slo_{slo}:error_ratio_rate{long} > {threshold}"
                        f" and laotie:slo_{slo}:error_ratio_rate{short} > {threshold}"
                    ),
                    for_=for_,
                    severity=severity,
                    summary=(
                        f"{spec['what']}: error budget burning {factor}x"
                        f" over {long} (and still over {short})"
                    ),
                    meaning=(
                        f"At this rate the 30-day budget of the {spec['objective']:.1%} SLO"
                        f" ({spec['what']}) is gone in {30 / factor:.1f} days."
                    ),
                    steps=(
                        "Open the Laotie overview dashboard: which service's errors or lag rose?",
                        "Availability: `laotie:http_errors:ratio_rate5m` by route; the orders"
                        " log (`error` events) names the exception; `laotie_dependency_up`.",
                        "Latency: `laotie:consumer_lag:sum` and `laotie:consumer_event_age:p95_5m`"
                        " by consumer; a slow consumer is scaled by KEDA up to its partitions.",
                    ),
                )
            )
    found += [
        Alert(
            "LaotieConsumerLagHigh",
            "sum by (job, consumer) (laotie_consumer_lag_records) > 5000",
            "10m",
            "page",
            "{{ $labels.consumer }} is more than 5000 records behind",
            "A consumer group is far behind its topics: effects (stats, scores, grants,"
            " enforcement) are late.",
            (
                "Is the consumer running and assigned? `laotie_consumer_assigned_partitions`.",
                "Errors? `laotie:consumer_errors:ratio_rate5m`; transient errors (database,"
                " broker) retry in place and show in `laotie_consumer_errors_total`.",
                "Slow handler? `laotie_consumer_handle_seconds`; KEDA scales to the"
                " partition count, beyond that only a faster handler helps.",
            ),
        ),
        Alert(
            "LaotieConsumerLagGrowing",
            "sum by (job, consumer) (deriv(laotie_consumer_lag_records[15m])) > 5"
            " and sum by (job, consumer) (laotie_consumer_lag_records) > 500",
            "15m",
            "ticket",
            "{{ $labels.consumer }} falls further behind",
            "Input outpaces the consumer for a sustained period; lag will page if it goes on.",
            (
                "Compare `laotie:consumer_records:rate5m` with the producing service's"
                " `laotie_outbox_published_total` rate.",
                "Check KEDA's ScaledObject status (`kubectl get scaledobject`).",
            ),
        ),
        Alert(
            "LaotieOutboxBacklogOld",
            "max by (job) (laotie_outbox_oldest_age_seconds) > 60",
            "5m",
            "page",
            "{{ $labels.job }} has events unpublished for over a minute",
            "Committed facts are not reaching Kafka: every subscriber is blind to them.",
            (
                "Does a replica lead the relay? `sum by (job) (laotie_outbox_relay_leader)`"
                " must be 1.",
                "Publishing failures? `laotie_outbox_publish_failures_total` and the relay's"
                " log lines; broker reachable and our KafkaUser's ACLs intact?",
            ),
        ),
        Alert(
            "LaotieConsumerStuck",
            "max by (job, consumer) (laotie_consumer_stuck_records) > 0",
            "5m",
            "page",
            "{{ $labels.consumer }} has a record it cannot apply: its partition does not move",
            "A record keeps failing with a transient error (a lock held, a timeout, a"
            " dependency down) for several retry cycles; it is not dead-lettered, so its"
            " partition waits behind it while the others go on.",
            (
                "The consumer's log: 'record stuck' names topic, partition and offset, and the"
                " error of each attempt ('record left in place').",
                "A lock? `SELECT * FROM pg_stat_activity WHERE wait_event_type = 'Lock'` and"
                " the blocking transaction (`pg_blocking_pids`); end it if it is stuck.",
            ),
        ),
        Alert(
            "LaotieHttpShedding",
            "sum by (job, reason) (rate(laotie_http_shed_total[5m])) > 1",
            "10m",
            "ticket",
            "{{ $labels.job }} sheds requests ({{ $labels.reason }})",
            "Requests are refused to keep the service answering: at its in-flight limit"
            " ('overloaded') or closed for sending too slowly ('slow_client'). Clients see 503"
            " with Retry-After; shed requests are not processed.",
            (
                "Overloaded: `laotie_http_in_flight_requests` at `HTTP_MAX_IN_FLIGHT`? Scale out,"
                " or find the slow dependency (the route's p99, Postgres' `pg_stat_activity`).",
                "Slow clients: one source address holding many connections is an attack; see"
                " the ingress' logs. A whole region slow: raise `HTTP_HEADER_TIMEOUT_S`.",
            ),
        ),
        Alert(
            "LaotieOutboxStalled",
            "max by (job) (laotie_outbox_backlog_events) > 0 and on (job)"
            " (time() - max by (job) (laotie_outbox_last_publish_timestamp_seconds)) > 60",
            "2m",
            "page",
            "{{ $labels.job }} has published nothing for over a minute while events wait",
            "The relay is stuck or has no leader: the outbox grows and subscribers fall behind.",
            (
                "The relay's log: 'not acknowledged within' means Kafka does not answer —"
                " broker health, network, our KafkaUser's ACLs.",
                "`sum by (job) (laotie_outbox_relay_leader)` must be 1; 0 means no replica"
                " holds the relay lock (Postgres reachable?).",
            ),
        ),
        Alert(
            "LaotieDeadLetters",
            "sum by (job, consumer, reason) (increase(laotie_dead_letters_total[10m])) > 0",
            "0m",
            "ticket",
            "{{ $labels.consumer }} parked records: {{ $labels.reason }}",
            "Records were moved to the service's dead-letter topic: their effect is missing"
            " until they are replayed.",
            (
                "`make dlq SERVICE=<service>` (or `laotie dlq list <service>`) lists them with"
                " reasons; `ACTION=show REFS=p:o` shows one.",
                "Poison from a producer: tell its owner. A bug of ours: fix, deploy, then"
                " `laotie dlq replay <service> --reason '...'`; replays are idempotent.",
            ),
        ),
        Alert(
            "LaotieConsumerErrorRatio",
            "laotie:consumer_errors:ratio_rate5m > 0.05",
            "10m",
            "page",
            "{{ $labels.consumer }} fails over 5% of its records",
            "Handlers fail often; records retry (transient) or are dead-lettered (unknown).",
            (
                "`laotie_consumer_errors_total` by `error_class` says which kind.",
                "Transient (database, broker): check those first; unknown: the log's"
                " `exception` field, then roll back the last deploy.",
            ),
        ),
        Alert(
            "LaotieHttpErrorRatio",
            "laotie:http_errors:ratio_rate5m > 0.05"
            " and sum by (job, route) (laotie:http_requests:rate5m) > 0.1",
            "10m",
            "page",
            "{{ $labels.job }} {{ $labels.route }} answers 5xx to over 5% of requests",
            "A route fails for many callers.",
            (
                "503s: a dependency is away (`laotie_dependency_up`); 500s: the log's"
                " `unhandled error in route` lines carry the exception.",
            ),
        ),
        Alert(
            "LaotieDependencyDown",
            "min by (job, dependency) (laotie_dependency_up) == 0",
            "2m",
            "page",
            "{{ $labels.job }} cannot reach {{ $labels.dependency }}",
            "Readiness fails: the pods leave the Service, consumers retry in place.",
            (
                "Kafka: Strimzi `Kafka` status and the KafkaUser Secret; Postgres: the"
                " CloudNativePG `Cluster` status and failover events.",
            ),
        ),
        Alert(
            "LaotieChuanliuBudgetExhausted",
            "max(laotie_chuanliu_budget_left_impressions) == 0"
            ' and sum(increase(laotie_chuanliu_refusals_total{reason="budget"}[30m])) > 0',
            "15m",
            "ticket",
            "Chuanliu's daily budget is spent and brands are being refused",
            "Today's impression budget is gone; brand sessions get no traffic until the"
            " Asia/Shanghai midnight.",
            (
                "Expected late in the day; early in the day pacing is off: check"
                " `laotie_chuanliu_budget_grantable_impressions` over the day.",
                "An operator may raise it: `PUT /budget` on chuanliu (role operator).",
            ),
        ),
        Alert(
            "LaotieChuanliuPacingStalled",
            "max(laotie_chuanliu_budget_left_impressions) > 0"
            " and max(laotie_chuanliu_budget_grantable_impressions) == 0"
            " and sum(increase(laotie_chuanliu_refusals_total[1h])) > 0",
            "1h",
            "ticket",
            "Chuanliu holds budget back but grants nothing",
            "Budget is left for the day but pacing allows none now: the pacing curve or the"
            " clock is wrong.",
            ("Compare the policy's pacing (GET /budget) with the Asia/Shanghai time.",),
        ),
        Alert(
            "LaotieModerationBacklog",
            'sum(laotie_consumer_lag_records{job="moderation"}) > 1000'
            " or histogram_quantile(0.95, sum by (le)"
            " (rate(laotie_moderation_detection_latency_seconds_bucket[10m]))) > 60",
            "10m",
            "page",
            "The Thunder Plan (雷霆计划) is behind: violations are found late",
            "Comments and products wait long for detection; diverting anchors stay live.",
            (
                "Moderation's consumer lag by topic (`laotie:consumer_lag:sum`); scale"
                " moderation (KEDA) or check its database.",
            ),
        ),
        Alert(
            "LaotieTargetDown",
            'up{job=~"' + "|".join(SERVICES) + '"} == 0',
            "5m",
            "page",
            "{{ $labels.job }} pod {{ $labels.instance }} does not answer scrapes",
            "A replica is down or unreachable.",
            ("`kubectl describe pod`; crash loops show the exit reason in the log.",),
        ),
    ]
    return found


def _slo_cases(slo: str) -> dict[str, dict[str, str]]:
    """(firing inputs, quiet inputs) for an SLO's burn-rate alerts: 9 % errors vs none."""
    if slo == "order_availability":
        ok = 'laotie_http_requests_total{job="orders",method="POST",route="/orders",status="201"}'
        bad = 'laotie_http_requests_total{job="orders",method="POST",route="/orders",status="500"}'
        return {"fire": {ok: "0+10x480", bad: "0+1x480"}, "quiet": {ok: "0+10x480", bad: "0x480"}}
    labels = 'job="live",consumer="live",topic="orders.order"'
    count = f"laotie_consumer_event_age_seconds_count{{{labels}}}"
    fast = f'laotie_consumer_event_age_seconds_bucket{{{labels},le="5.0"}}'
    return {
        "fire": {count: "0+100x480", fast: "0+80x480"},
        "quiet": {count: "0+100x480", fast: "0+100x480"},
    }


def alert_cases() -> dict[str, list[tuple[dict[str, str], str, list[dict[str, str]]]]]:
    """promtool unit tests per alert: (input series, eval time, label sets expected to fire).
    Every alert has at least one case that fires and one that stays quiet."""
    cases: dict[str, list[tuple[dict[str, str], str, list[dict[str, str]]]]] = {}
    evals = {"Fast": "70m", "Medium": "90m", "Slow": "7h"}
    for slo in SLOS:
        inputs = _slo_cases(slo)
        camel = "".join(p.title() for p in slo.split("_"))
        for speed, at in evals.items():
            cases[f"LaotieSlo{camel}Burn{speed}"] = [
                (inputs["fire"], at, [{}]),
                (inputs["quiet"], at, []),
            ]
    lag = 'laotie_consumer_lag_records{job="scoring",consumer="scoring",topic="orders.order",partition="0"}'
    who = {"job": "scoring", "consumer": "scoring"}
    cases["LaotieConsumerLagHigh"] = [
        ({lag: "6000x30"}, "15m", [who]),
        ({lag: "100x30"}, "15m", []),
    ]
    cases["LaotieConsumerLagGrowing"] = [
        ({lag: "0+600x60"}, "40m", [who]),
        ({lag: "1000x60"}, "40m", []),
    ]
    age = 'laotie_outbox_oldest_age_seconds{job="orders",instance="a"}'
    cases["LaotieOutboxBacklogOld"] = [
        ({age: "120x20"}, "10m", [{"job": "orders"}]),
        ({age: "5x20"}, "10m", []),
    ]
    stuck = 'laotie_consumer_stuck_records{job="live",instance="a",consumer="live"}'
    cases["LaotieConsumerStuck"] = [
        ({stuck: "1x20"}, "10m", [{"job": "live", "consumer": "live"}]),
        ({stuck: "0x20"}, "10m", []),
    ]
    shed = 'laotie_http_shed_total{job="orders",instance="a",reason="overloaded"}'
    cases["LaotieHttpShedding"] = [
        ({shed: "0+600x30"}, "20m", [{"job": "orders", "reason": "overloaded"}]),
        ({shed: "0+6x30"}, "20m", []),
    ]
    backlog = 'laotie_outbox_backlog_events{job="orders",instance="a"}'
    published = 'laotie_outbox_last_publish_timestamp_seconds{job="orders",instance="a"}'
    cases["LaotieOutboxStalled"] = [
        ({backlog: "20x20", published: "0x20"}, "10m", [{"job": "orders"}]),
        ({backlog: "20x20", published: "0+60x20"}, "10m", []),
        ({backlog: "0x20", published: "0x20"}, "10m", []),
    ]
    dead = (
        'laotie_dead_letters_total{job="live",consumer="live",topic="orders.order",reason="poison"}'
    )
    cases["LaotieDeadLetters"] = [
        (
            {dead: "0 0 0 1 1 1 1 1 1 1"},
            "5m",
            [{"job": "live", "consumer": "live", "reason": "poison"}],
        ),
        ({dead: "0x10"}, "5m", []),
    ]
    records = 'laotie_consumer_records_total{job="live",consumer="live",topic="orders.order",event_type="x",outcome="applied"}'
    errors = 'laotie_consumer_errors_total{job="live",consumer="live",topic="orders.order",error_class="transient"}'
    cases["LaotieConsumerErrorRatio"] = [
        ({records: "0+100x30", errors: "0+10x30"}, "20m", [{"job": "live", "consumer": "live"}]),
        ({records: "0+100x30", errors: "0x30"}, "20m", []),
    ]
    ok = 'laotie_http_requests_total{job="orders",method="POST",route="/orders",status="201"}'
    bad = 'laotie_http_requests_total{job="orders",method="POST",route="/orders",status="500"}'
    cases["LaotieHttpErrorRatio"] = [
        ({ok: "0+50x30", bad: "0+10x30"}, "20m", [{"job": "orders", "route": "/orders"}]),
        ({ok: "0+50x30", bad: "0x30"}, "20m", []),
    ]
    up = 'laotie_dependency_up{job="orders",dependency="postgres",instance="a"}'
    cases["LaotieDependencyDown"] = [
        ({up: "0x10"}, "5m", [{"job": "orders", "dependency": "postgres"}]),
        ({up: "1x10"}, "5m", []),
    ]
    left = 'laotie_chuanliu_budget_left_impressions{job="chuanliu",instance="a"}'
    grantable = 'laotie_chuanliu_budget_grantable_impressions{job="chuanliu",instance="a"}'
    refused = 'laotie_chuanliu_refusals_total{job="chuanliu",instance="a",reason="budget"}'
    paced = 'laotie_chuanliu_refusals_total{job="chuanliu",instance="a",reason="pacing"}'
    cases["LaotieChuanliuBudgetExhausted"] = [
        ({left: "0x60", refused: "0+5x60"}, "45m", [{}]),
        ({left: "1000x60", refused: "0+5x60"}, "45m", []),
    ]
    cases["LaotieChuanliuPacingStalled"] = [
        ({left: "1000x150", grantable: "0x150", paced: "0+1x150"}, "130m", [{}]),
        ({left: "1000x150", grantable: "100x150", paced: "0+1x150"}, "130m", []),
    ]
    backlog = 'laotie_consumer_lag_records{job="moderation",consumer="moderation",topic="live.comment",partition="0"}'
    cases["LaotieModerationBacklog"] = [
        ({backlog: "2000x30"}, "20m", [{}]),
        ({backlog: "10x30"}, "20m", []),
    ]
    target = 'up{job="orders",instance="10.0.0.1:8000"}'
    cases["LaotieTargetDown"] = [
        ({target: "0x10"}, "8m", [{"job": "orders", "instance": "10.0.0.1:8000"}]),
        ({target: "1x10"}, "8m", []),
    ]
    return cases  # fmt: skip


def _render(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)


def promtool_tests() -> dict[str, Any]:
    """The promtool unit-test file for every alert (deploy/prometheus/tests/alerts.yml)."""
    tests = []
    by_name = {a.name: a for a in alerts()}
    for name, cases in alert_cases().items():
        alert = by_name[name]
        for series, at, firing in cases:
            rule = alert.rule()
            tests.append(
                {
                    "interval": "1m",
                    "input_series": [{"series": k, "values": v} for k, v in series.items()],
                    "alert_rule_test": [
                        {
                            "eval_time": at,
                            "alertname": name,
                            "exp_alerts": [
                                {
                                    "exp_labels": {**rule["labels"], **labels},
                                    "exp_annotations": {
                                        "summary": _render(rule["annotations"]["summary"], labels),
                                        "runbook_url": rule["annotations"]["runbook_url"],
                                    },
                                }
                                for labels in firing
                            ],
                        }
                    ],
                }
            )
    return {"rule_files": ["../rules.yml"], "evaluation_interval": "1m", "tests": tests}


def rule_groups() -> list[dict[str, Any]]:
    return [
        {"name": "laotie.recording", "interval": "30s", "rules": recording_rules()},
        {"name": "laotie.alerts", "rules": [a.rule() for a in alerts()]},
    ]


def runbooks_markdown() -> str:
    lines = [
        "# Runbooks: one section per alert",
        "",
        "Generated from `tools/artefacts/src/laotie_artefacts/observability.py` (`make deploy`);"
        " edit there. Every alert's `runbook_url` points at its section.",
        "",
    ]
    for slo, spec in SLOS.items():
        lines.append(f"- SLO `{slo}`: {spec['objective']:.1%} of {spec['what']}.")
    lines.append("")
    for alert in alerts():
        lines += [
            f"## {alert.name}",
            "",
            f"Severity **{alert.severity}**, after {alert.for_}. {alert.meaning}",
            "",
            "```promql",
            alert.expr,
            "```",
            "",
            *[f"{i}. {step}" for i, step in enumerate(alert.steps, 1)],
            "",
        ]
    return "\n".join(lines)


# --- dashboards ----------------------------------------------------------------------------


def _panel(
    title: str, exprs: dict[str, str], unit: str = "short", kind: str = "timeseries"
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": expr, "legendFormat": legend}
            for i, (legend, expr) in enumerate(exprs.items())
        ],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    for i, panel in enumerate(panels):
        panel["id"] = i + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8}
    return {
        "uid": uid,
        "title": title,
        "tags": ["laotie"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


def dashboards() -> dict[str, dict[str, Any]]:
    overview = _dashboard(
        "laotie-overview",
        "Laotie overview",
        [
            _panel(
                "Requests per second by service",
                {"{{job}}": "sum by (job) (laotie:http_requests:rate5m)"},
                "reqps",
            ),
            _panel(
                "5xx ratio by service",
                {
                    "{{job}}": 'sum by (job) (laotie:http_requests:rate5m{status=~"5.."})'
                    " / sum by (job) (laotie:http_requests:rate5m)"
                },
                "percentunit",
            ),
            _panel(
                "Request latency p95 by service",
                {
                    "{{job}}": "histogram_quantile(0.95, sum by (job, le)"
                    " (rate(laotie_http_request_seconds_bucket[5m])))"
                },
                "s",
            ),
            _panel(
                "Requests in flight and shed per second",
                {
                    "{{job}} in flight": "sum by (job) (laotie_http_in_flight_requests)",
                    "{{job}} shed ({{reason}})": "sum by (job, reason)"
                    " (rate(laotie_http_shed_total[5m]))",
                },
            ),
            _panel("Consumer lag", {"{{consumer}}": "sum by (consumer) (laotie:consumer_lag:sum)"}),
            _panel(
                "Event age when applied, p95",
                {"{{consumer}} {{topic}}": "laotie:consumer_event_age:p95_5m"},
                "s",
            ),
            _panel(
                "Outbox: oldest unpublished event",
                {"{{job}}": "max by (job) (laotie_outbox_oldest_age_seconds)"},
                "s",
            ),
            _panel(
                "Dead letters (1h)",
                {"{{consumer}}": "sum by (consumer) (increase(laotie_dead_letters_total[1h]))"},
            ),
            _panel(
                "SLO error ratio vs budget (1h)",
                {
                    slo: f"laotie:slo_{slo}:error_ratio_rate1h / {round(1 - float(spec['objective']), 6)}"  # type: ignore[arg-type]
                    for slo, spec in SLOS.items()
                },
                "short",
            ),
        ],
    )
    found = {"overview": overview}
    for service in SERVICES:
        sel = f'job="{service}"'
        found[service] = _dashboard(
            f"laotie-{service}",
            f"Laotie {service}",
            [
                _panel(
                    "Requests by route and status",
                    {
                        "{{route}} {{status}}": f"sum by (route, status)"
                        f" (laotie:http_requests:rate5m{{{sel}}})"
                    },
                    "reqps",
                ),
                _panel(
                    "Latency p95 by route",
                    {
                        "{{route}}": "histogram_quantile(0.95, sum by (route, le)"
                        f" (rate(laotie_http_request_seconds_bucket{{{sel}}}[5m])))"
                    },
                    "s",
                ),
                _panel(
                    "Records applied by outcome",
                    {
                        "{{topic}} {{outcome}}": "sum by (topic, outcome)"
                        f" (laotie:consumer_records:rate5m{{{sel}}})"
                    },
                    "ops",
                ),
                _panel(
                    "Consumer errors by class",
                    {
                        "{{error_class}}": "sum by (error_class)"
                        f" (rate(laotie_consumer_errors_total{{{sel}}}[5m]))"
                    },
                    "ops",
                ),
                _panel(
                    "Lag by topic",
                    {"{{topic}}": f"sum by (topic) (laotie:consumer_lag:sum{{{sel}}})"},
                ),
                _panel(
                    "Outbox backlog and relay leader",
                    {
                        "backlog": f"sum(laotie_outbox_backlog_events{{{sel}}})",
                        "leaders": f"sum(laotie_outbox_relay_leader{{{sel}}})",
                    },
                ),
            ],
        )
    found["business"] = _dashboard(
        "laotie-business",
        "Laotie business",
        [
            _panel(
                "GMV by channel (yuan per minute)",
                {"{{channel}}": "laotie:orders_gmv_fen:rate5m * 60 / 100"},
                "currencyCNY",
            ),
            _panel(
                "Orders by status",
                {"{{status}}": "sum by (status) (rate(laotie_orders_total[5m]))"},
                "ops",
            ),
            _panel(
                "Penalty measures (1h)",
                {
                    "{{measure}}": "sum by (measure)"
                    " (increase(laotie_moderation_penalty_measures_total[1h]))"
                },
            ),
            _panel(
                "Score bands",
                {"{{kind}} {{band}}": "max by (kind, band) (laotie_scoring_subjects)"},
            ),
            _panel(
                "Chuanliu impressions granted and budget left",
                {
                    "granted/s": "sum(rate(laotie_chuanliu_impressions_granted_total[5m]))",
                    "left": "max(laotie_chuanliu_budget_left_impressions)",
                },
            ),
            _panel(
                "Chuanliu attributed GMV (yuan per minute)",
                {"uplift": "sum(rate(laotie_chuanliu_attributed_gmv_fen_total[5m])) * 60 / 100"},
                "currencyCNY",
            ),
        ],
    )
    return found


def dashboard_json(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


# --- checks --------------------------------------------------------------------------------

_NAME = re.compile(r"\b(laotie_[a-z0-9_]+|laotie:[a-z0-9_:]+)")


def queried_names() -> set[str]:
    """Every metric or recorded series name a rule, alert or dashboard queries."""
    exprs = [r["expr"] for r in recording_rules()] + [a.expr for a in alerts()]
    exprs += [
        target["expr"]
        for dashboard in dashboards().values()
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    return {name for expr in exprs for name in _NAME.findall(expr)}


def panel_queries_as_rules() -> dict[str, Any]:
    """Every dashboard panel's query as a recording rule, for ``promtool check rules`` to
    parse: a query promtool refuses is not valid PromQL (``deploy.validate``)."""
    rules = [
        {
            "record": f"dashboard:{name.replace('-', '_')}:{panel['id']}_{target['refId']}",
            "expr": target["expr"],
        }
        for name, dashboard in dashboards().items()
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    return {"groups": [{"name": "dashboard-panels", "rules": rules}]}
