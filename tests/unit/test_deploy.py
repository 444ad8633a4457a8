"""deploy/ is generated from code and stays in step with it: manifests, rules, dashboards.

The offline validation (kustomize build of every overlay, core kinds against the Kubernetes
schemas, custom resources against their operators' CRD schemas, promtool check and unit
tests of every alert) needs the tools `make deploy-tools` installs; `make test` runs it.
"""

from __future__ import annotations

from pathlib import Path

import laotie_common.metrics  # noqa: F401  (registers the catalogue)
import pytest
from laotie_artefacts import deploy, observability
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _catalogue() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("laotie_"):
            names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def test_committed_deploy_files_are_what_the_code_generates() -> None:
    assert deploy.drift(ROOT) == [], "run `make deploy` and commit the result"


def test_every_queried_metric_exists_in_the_catalogue_or_is_recorded() -> None:
    recorded = {r["record"] for r in observability.recording_rules()}
    queried = observability.queried_names()
    unknown = {n for n in queried if n not in _catalogue() and n not in recorded}
    assert unknown == set()
    assert {"laotie_consumer_lag_records", "laotie_http_requests_total"} <= queried


def test_every_alert_has_a_runbook_section_and_cases_that_fire_and_stay_quiet() -> None:
    runbooks = (ROOT / observability.RUNBOOKS).read_text()
    cases = observability.alert_cases()
    for alert in observability.alerts():
        assert f"## {alert.name}\n" in runbooks, alert.name
        assert alert.rule()["annotations"]["runbook_url"].endswith(f"#{alert.name.lower()}")
        fired = [firing for _, _, firing in cases.get(alert.name, [])]
        assert any(fired), f"{alert.name}: no case that fires"
        assert any(not f for f in fired), f"{alert.name}: no case that stays quiet"


def test_burn_rate_alerts_follow_the_workbook() -> None:
    exprs = {a.name: a.expr for a in observability.alerts()}
    fast = exprs["LaotieSloOrderAvailabilityBurnFast"]
    assert "rate1h > (14.4 * 0.001)" in fast
    assert "rate5m > (14.4 * 0.001)" in fast
    assert "rate6h > (6.0 * 0.001)" in exprs["LaotieSloOrderAvailabilityBurnMedium"]
    assert "rate3d > (1.0 * 0.01)" in exprs["LaotieSloOrderLatencyBurnSlow"]


def test_keda_never_scales_past_the_partitions_and_users_get_registry_acls() -> None:
    from laotie_contracts.topics import SERVICES, all_topics

    for service in SERVICES:
        resources = {r["kind"]: r for r in deploy.service_resources(service)}
        widest = max(t.partitions for t in all_topics() if service in t.consumers)
        assert resources["ScaledObject"]["spec"]["maxReplicaCount"] == widest
        acls = resources["KafkaUser"]["spec"]["authorization"]["acls"]
        writes = {a["resource"]["name"] for a in acls if "Write" in a["operations"]}
        assert writes == {t.name for t in all_topics() if t.owner == service}
        pod = resources["Deployment"]["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > deploy.GRACEFUL_S
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_deploy_validates_offline() -> None:
    lines: list[str] = []
    problems = deploy.validate(ROOT, say=lines.append)
    print("\n".join(lines))
    assert problems == []
    assert any("custom resources against their CRDs" in line for line in lines)


def test_the_database_pods_admit_the_services_under_the_default_deny_policy() -> None:
    """Regression (issue 18, row 4): the default-deny policy admitted nothing to the dev
    Postgres or the CloudNativePG pods, so on a cluster enforcing policies the services could
    not reach their database, nor the operator and replication their instances."""
    import yaml

    files = deploy.files()
    for path, db_pods in (
        ("deploy/k8s/overlays/dev/postgres.yaml", {"app.kubernetes.io/name": "postgres"}),
        ("deploy/k8s/overlays/prod/postgres-cluster.yaml", {"cnpg.io/cluster": "laotie-db"}),
    ):
        docs = [d for d in yaml.safe_load_all(files[path]) if d]
        [policy] = [d for d in docs if d["kind"] == "NetworkPolicy"]
        assert policy["spec"]["podSelector"]["matchLabels"] == db_pods
        services = {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "laotie"}}}
        admitted = [rule for rule in policy["spec"]["ingress"] if services in rule["from"]]
        assert admitted, path
        assert {"port": 5432, "protocol": "TCP"} in admitted[0]["ports"]
    prod = [
        d for d in yaml.safe_load_all(files["deploy/k8s/overlays/prod/postgres-cluster.yaml"]) if d
    ]
    [cnpg] = [d for d in prod if d["kind"] == "NetworkPolicy"]
    sources = [peer for rule in cnpg["spec"]["ingress"] for peer in rule["from"]]
    operator = {"kubernetes.io/metadata.name": "cnpg-system"}
    assert {"namespaceSelector": {"matchLabels": operator}} in sources, "the operator"
    assert {"podSelector": {"matchLabels": {"cnpg.io/cluster": "laotie-db"}}} in sources, (
        "replication between instances"
    )


def test_every_pod_we_ship_meets_the_restricted_profile_with_bounded_memory() -> None:
    """Regression (issue 18, row 16): the dev Postgres StatefulSet ran as root with no
    securityContext, no limits and its data on the container's own filesystem. Every pod
    template (the services, the dev Postgres) now runs non-root under the restricted profile
    with a memory limit, both namespaces enforce that profile, and the dev Postgres keeps its
    data on a claim."""
    import yaml

    manifests = {p: t for p, t in deploy.files().items() if p.startswith("deploy/k8s/")}
    yamls = [t for p, t in manifests.items() if p.endswith(".yaml")]
    docs = [d for text in yamls for d in yaml.safe_load_all(text) if d]
    pods = [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet")]
    assert {p["metadata"]["name"] for p in pods} >= {"postgres", "orders", "chuanliu"}
    for workload in pods:
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container.get("securityContext", {})
            assert security.get("allowPrivilegeEscalation") is False, container["name"]
            assert security.get("capabilities") == {"drop": ["ALL"]}, container["name"]
            assert "memory" in container["resources"]["limits"], container["name"]
    namespaces = [d for d in docs if d.get("kind") == "Namespace"]
    assert len(namespaces) == 2
    for namespace in namespaces:
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    [postgres] = [p for p in pods if p["metadata"]["name"] == "postgres"]
    [claim] = postgres["spec"]["volumeClaimTemplates"]
    [container] = postgres["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PGDATA"].startswith(mounts[claim["metadata"]["name"]] + "/")


def test_every_dashboard_query_is_parsed_by_promtool_and_a_broken_one_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21, item 5: the dashboards' queries were checked for metric names only."""
    import subprocess

    def promtool_accepts(rules: dict[str, object]) -> bool:
        path = tmp_path / "panels.yml"
        path.write_text(deploy._dump([rules]))
        run = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True)
        return run.returncode == 0

    rules = observability.panel_queries_as_rules()
    targets = [
        t for d in observability.dashboards().values() for p in d["panels"] for t in p["targets"]
    ]
    assert len(rules["groups"][0]["rules"]) == len(targets) > 20
    assert promtool_accepts(rules)
    broken = {"panels": [{"id": 1, "targets": [{"refId": "A", "expr": "sum(rate(x[5m])"}]}]}
    monkeypatch.setattr(observability, "dashboards", lambda: {"broken": broken})
    assert not promtool_accepts(observability.panel_queries_as_rules())
