"""deploy/: Kubernetes manifests, Prometheus rules, Grafana dashboards and runbooks, generated.

One source each: the topic registry (KafkaTopic, KafkaUser ACLs, KEDA bounds), the service
list, the metric catalogue (rules and dashboards, ``observability.py``). ``laotie deploy
generate`` writes the files; ``laotie deploy check`` fails if a committed file differs from
what the code generates (run by ``make test``), so nothing drifts.

Assumptions about the cluster, named so a platform team can change them in an overlay:
Strimzi ``Kafka`` named ``laotie`` in namespace ``kafka`` (listener ``tls`` on 9093, SCRAM);
CloudNativePG ``Cluster`` ``laotie-db`` (prod overlay) or a Postgres reachable at
``postgres:5432`` (dev); Prometheus Operator in namespace ``monitoring``; KEDA; ingress via
``ingress-nginx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from laotie_contracts.acls import service_acls
from laotie_contracts.topics import SERVICES, all_topics

from laotie_artefacts import generated, observability

HTTP_PORT = 8000
KAFKA_CLUSTER = "laotie"
KAFKA_BOOTSTRAP = "laotie-kafka-bootstrap.kafka.svc:9093"
GRACEFUL_S = 20  # GRACEFUL_TIMEOUT_S: consumers finish their batch and commit offsets
IMAGE = "ghcr.io/laotie/laotie"
# The Pod Security "restricted" profile for a container, with a read-only root.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POSTGRES_UID = 999  # the postgres user of the official image
LABELS = {"app.kubernetes.io/part-of": "laotie"}


def _labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, **LABELS}


def _env(service: str) -> list[dict[str, Any]]:
    return [
        {"name": "SERVICE_NAME", "value": service},
        {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": f"db-{service}", "key": "username"}}},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": f"db-{service}", "key": "password"}}},
        {"name": "DATABASE_URL", "value": "postgresql://$(DB_USER):$(DB_PASSWORD)@$(DB_HOST):5432/laotie"},
        {"name": "KAFKA_SASL_USERNAME", "value": service},
        {"name": "KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": service, "key": "password"}}},
    ]  # fmt: skip


def service_resources(service: str) -> list[dict[str, Any]]:
    labels = _labels(service)
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": service, "labels": labels},
        "data": {
            "DB_SCHEMA": service,
            "DB_HOST": "postgres",
            "HTTP_HOST": "0.0.0.0",
            "HTTP_PORT": str(HTTP_PORT),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "KAFKA_BOOTSTRAP_SERVERS": KAFKA_BOOTSTRAP,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SSL_CAFILE": "/etc/kafka-ca/ca.crt",
            "GRACEFUL_TIMEOUT_S": str(GRACEFUL_S),
            # Tokens are verified with the issuer's public keys only: no pod can mint one.
            "LAOTIE_ENV": "production",
            "JWT_JWKS_FILE": "/etc/laotie-jwt/jwks.json",
        },
    }
    container_security = RESTRICTED_CONTAINER
    common = {
        "image": f"{IMAGE}-{service}:latest",
        "envFrom": [{"configMapRef": {"name": service}}],
        "env": _env(service),
        "securityContext": container_security,
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "kafka-ca", "mountPath": "/etc/kafka-ca", "readOnly": True},
            {"name": "jwt-public-keys", "mountPath": "/etc/laotie-jwt", "readOnly": True},
        ],
    }

    def probe(period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": period,
            "failureThreshold": failures,
        }

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "labels": labels},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": service,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": GRACEFUL_S + 25,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": key,
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": service}},
                        }
                        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
                    ],
                    "initContainers": [
                        {
                            **common,
                            "name": "migrate",
                            "args": ["migrate"],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                        }
                    ],
                    "containers": [
                        {
                            **common,
                            "name": service,
                            "args": ["serve"],
                            "ports": [{"name": "http", "containerPort": HTTP_PORT}],
                            "startupProbe": probe(2, 60),
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": "http"},
                                "periodSeconds": 5,
                                "failureThreshold": 2,
                            },
                            "livenessProbe": probe(10, 6),
                            # Leave the Service's endpoints before SIGTERM reaches the process.
                            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        {
                            "name": "jwt-public-keys",
                            "configMap": {
                                "name": "laotie-jwt-public-keys",
                                "items": [{"key": "jwks.json", "path": "jwks.json"}],
                            },
                        },
                        {
                            "name": "kafka-ca",
                            "secret": {
                                "secretName": f"{KAFKA_CLUSTER}-cluster-ca-cert",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            },
                        },
                    ],
                },
            },
        },
    }
    consumed = [t for t in all_topics() if service in t.consumers]
    max_replicas = max((t.partitions for t in consumed), default=2)
    resources: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": service, "labels": labels},
            "automountServiceAccountToken": False,
        },
        config,
        deployment,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service, "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": service},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": service, "labels": labels},
            "spec": {
                "minAvailable": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
            },
        },
        _network_policy(service),
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": service, "labels": labels},
            "spec": {
                "jobLabel": "app.kubernetes.io/name",
                "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
            },
        },
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaUser",
            "metadata": {"name": service, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {
                    "type": "simple",
                    "acls": [
                        {
                            "resource": {
                                "type": acl.resource,
                                "name": acl.name,
                                "patternType": "prefix" if acl.pattern == "prefix" else "literal",
                            },
                            "operations": list(acl.operations),
                            "host": "*",
                        }
                        for acl in service_acls(service)
                    ],
                },
            },
        },
    ]
    if consumed:
        resources += [
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "TriggerAuthentication",
                "metadata": {"name": f"{service}-kafka", "labels": labels},
                "spec": {
                    # Login as the service itself: KEDA reads the Deployment's own env.
                    "env": [
                        {
                            "parameter": "username",
                            "name": "KAFKA_SASL_USERNAME",
                            "containerName": service,
                        },
                        {
                            "parameter": "password",
                            "name": "KAFKA_SASL_PASSWORD",
                            "containerName": service,
                        },
                    ],
                    "secretTargetRef": [
                        {"parameter": "sasl", "name": "keda-kafka-sasl", "key": "sasl"},
                        {"parameter": "tls", "name": "keda-kafka-sasl", "key": "tls"},
                        {
                            "parameter": "ca",
                            "name": f"{KAFKA_CLUSTER}-cluster-ca-cert",
                            "key": "ca.crt",
                        },
                    ],
                },
            },
            {
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": {"name": service, "labels": labels},
                "spec": {
                    "scaleTargetRef": {"name": service},
                    "minReplicaCount": 2,
                    # More consumers than partitions would idle: bounded by the widest topic.
                    "maxReplicaCount": max_replicas,
                    "cooldownPeriod": 300,
                    "triggers": [
                        {
                            "type": "kafka",
                            "metadata": {
                                "bootstrapServers": KAFKA_BOOTSTRAP,
                                "consumerGroup": service,
                                "lagThreshold": "500",
                                "offsetResetPolicy": "earliest",
                                "allowIdleConsumers": "false",
                            },
                            "authenticationRef": {"name": f"{service}-kafka"},
                        }
                    ],
                },
            },
        ]
    return resources


def _network_policy(service: str) -> dict[str, Any]:
    def namespace(name: str) -> dict[str, Any]:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}

    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": service, "labels": _labels(service)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": service}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [namespace("monitoring"), namespace("ingress-nginx"), {"podSelector": {}}],
                    "ports": [{"port": HTTP_PORT, "protocol": "TCP"}],
                }
            ],
            "egress": [
                {
                    "to": [namespace("kube-system")],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                },
                {
                    "to": [{**namespace("kafka"), "podSelector": {"matchLabels": {"strimzi.io/cluster": KAFKA_CLUSTER}}}],
                    "ports": [{"port": 9093, "protocol": "TCP"}],
                },
                {
                    "to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "laotie-db"}}}, {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}}],
                    "ports": [{"port": 5432, "protocol": "TCP"}],
                },
            ],
        },
    }  # fmt: skip


def _database_policy(
    name: str, pods: dict[str, str], *, operator_namespace: str | None = None
) -> dict[str, Any]:
    """Who may reach the database pods (the default-deny policy admits nothing): our services
    on 5432; with CloudNativePG also the other instances (replication) and the operator
    (5432 and its status port 8000); out: DNS, the other instances, and the API server
    (CNPG instances watch their Cluster)."""
    services = {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "laotie"}}}
    instances = {"podSelector": {"matchLabels": pods}}
    ingress: list[dict[str, Any]] = [
        {"from": [services], "ports": [{"port": 5432, "protocol": "TCP"}]}
    ]
    egress: list[dict[str, Any]] = [
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    }
                }
            ],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]
    if operator_namespace is not None:
        operator = {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": operator_namespace}
            }
        }
        ingress.append(
            {
                "from": [instances, operator],
                "ports": [{"port": 5432, "protocol": "TCP"}, {"port": 8000, "protocol": "TCP"}],
            }
        )
        egress.append({"to": [instances], "ports": [{"port": 5432, "protocol": "TCP"}]})
        egress.append(
            {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{name}-database", "labels": LABELS},
        "spec": {"podSelector": {"matchLabels": pods}, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress},
    }  # fmt: skip


def kafka_topics() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": {
                "name": spec.name,
                "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, **LABELS},
                "annotations": {"laotie.dev/owner": spec.owner, "laotie.dev/key": spec.key},
            },
            "spec": {
                "topicName": spec.name,
                "partitions": spec.partitions,
                "replicas": 3,
                "config": {**spec.config(), "min.insync.replicas": "2"},
            },
        }
        for spec in all_topics()
    ]


def _dump(resources: list[dict[str, Any]]) -> str:
    header = "# Generated by `laotie deploy generate` (tools/artefacts/src/laotie_artefacts/deploy.py).\n"
    return header + "---\n".join(
        yaml.safe_dump(r, sort_keys=False, allow_unicode=True, width=100) for r in resources
    )


def _kustomization(**fields: Any) -> str:
    body = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **fields}
    return _dump([body])


def files() -> dict[str, str]:
    """Every generated file, by path from the repository root."""
    out: dict[str, str] = {}
    base = "deploy/k8s/base"
    for service in SERVICES:
        out[f"{base}/{service}.yaml"] = _dump(service_resources(service))
    out[f"{base}/kafka-topics.yaml"] = _dump(kafka_topics())
    out[f"{base}/network-default-deny.yaml"] = _dump(
        [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "default-deny", "labels": LABELS},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            }
        ]
    )
    groups = observability.rule_groups()
    out[f"{base}/prometheus-rules.yaml"] = _dump(
        [
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {"name": "laotie", "labels": {**LABELS, "release": "prometheus"}},
                "spec": {"groups": groups},
            }
        ]
    )
    out["deploy/prometheus/rules.yml"] = _dump([{"groups": groups}])
    out["deploy/prometheus/tests/alerts.yml"] = _dump([observability.promtool_tests()])
    dashboards = observability.dashboards()
    for name, dashboard in dashboards.items():
        out[f"{base}/dashboards/{name}.json"] = observability.dashboard_json(dashboard)
    out[f"{base}/kustomization.yaml"] = _kustomization(
        labels=[{"pairs": {"app.kubernetes.io/managed-by": "kustomize"}}],
        resources=[
            "network-default-deny.yaml",
            "kafka-topics.yaml",
            *[f"{s}.yaml" for s in SERVICES],
            "prometheus-rules.yaml",
        ],
        configMapGenerator=[
            {
                "name": "laotie-dashboards",
                "files": [f"dashboards/{n}.json" for n in dashboards],
                "options": {"labels": {"grafana_dashboard": "1"}, "disableNameSuffixHash": True},
            }
        ],
    )
    out["deploy/k8s/overlays/dev/kustomization.yaml"] = _kustomization(
        namespace="laotie-dev",
        resources=["../../base", "namespace.yaml", "postgres.yaml"],
        images=[{"name": f"{IMAGE}-{s}", "newTag": "dev"} for s in SERVICES],
        patches=[
            {
                "target": {"kind": "Deployment"},
                "patch": "- op: replace\n  path: /spec/replicas\n  value: 1\n",
            },
            {
                "target": {"kind": "ScaledObject"},
                "patch": "- op: replace\n  path: /spec/minReplicaCount\n  value: 1\n",
            },
            {
                "target": {"kind": "KafkaTopic"},
                "patch": "- op: replace\n  path: /spec/replicas\n  value: 1\n"
                '- op: replace\n  path: /spec/config/min.insync.replicas\n  value: "1"\n',
            },
        ],
    )
    out["deploy/k8s/overlays/dev/namespace.yaml"] = _dump([_namespace("laotie-dev")])
    out["deploy/k8s/overlays/dev/postgres.yaml"] = _dump(
        [*_dev_postgres(), _database_policy("postgres", {"app.kubernetes.io/name": "postgres"})]
    )
    out["deploy/k8s/overlays/prod/kustomization.yaml"] = _kustomization(
        namespace="laotie",
        resources=["../../base", "namespace.yaml", "postgres-cluster.yaml"],
        images=[{"name": f"{IMAGE}-{s}", "newTag": "0.1.0"} for s in SERVICES],
        patches=[
            {
                "target": {"kind": "ConfigMap", "labelSelector": "app.kubernetes.io/part-of=laotie"},
                "patch": "- op: replace\n  path: /data/DB_HOST\n  value: laotie-db-rw\n",
            },
            {
                "target": {"kind": "Deployment"},
                "patch": "- op: replace\n  path: /spec/replicas\n  value: 3\n",
            },
            {
                "target": {"kind": "ScaledObject"},
                "patch": "- op: replace\n  path: /spec/minReplicaCount\n  value: 3\n",
            },
        ],
    )  # fmt: skip
    out["deploy/k8s/overlays/prod/namespace.yaml"] = _dump([_namespace("laotie")])
    cnpg = {"cnpg.io/cluster": "laotie-db"}
    out["deploy/k8s/overlays/prod/postgres-cluster.yaml"] = _dump(
        [_cnpg_cluster(), _database_policy("laotie-db", cnpg, operator_namespace="cnpg-system")]
    )
    out["docs/runbooks/alerts.md"] = observability.runbooks_markdown()
    return out


def _namespace(name: str) -> dict[str, Any]:
    """Every pod of the namespace must meet the Pod Security "restricted" profile."""
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _dev_postgres() -> list[dict[str, Any]]:
    """One Postgres for a dev cluster: non-root under the restricted profile, read-only root
    (its socket and temporary files on memory volumes), bounded resources, its data on a
    PersistentVolumeClaim that outlives the pod, and a readiness probe."""
    labels = {"app.kubernetes.io/name": "postgres", **LABELS}
    ready = ["pg_isready", "-U", "postgres", "-d", "laotie", "-h", "127.0.0.1"]
    container = {
        "name": "postgres",
        "image": "postgres:18",
        "env": [
            {"name": "POSTGRES_DB", "value": "laotie"},
            {
                "name": "POSTGRES_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "db-superuser", "key": "password"}},
            },
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"memory": "2Gi"},  # no CPU limit: as the services, never throttled
        },
        "securityContext": RESTRICTED_CONTAINER,
        "readinessProbe": {"exec": {"command": ready}, "periodSeconds": 5},
        "livenessProbe": {"exec": {"command": ready}, "periodSeconds": 10, "failureThreshold": 6},
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": POSTGRES_UID,
            "runAsGroup": POSTGRES_UID,
            "fsGroup": POSTGRES_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    }
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "postgres", "labels": labels},
            "spec": {
                "serviceName": "postgres",
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}},
                "template": {"metadata": {"labels": labels}, "spec": pod},
                "volumeClaimTemplates": [claim],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "postgres", "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": "postgres"},
                "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
            },
        },
    ]


def _cnpg_cluster() -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "laotie-db", "labels": LABELS},
        "spec": {
            "instances": 3,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:18",
            "storage": {"size": "50Gi"},
            "monitoring": {"enablePodMonitor": True},
            "bootstrap": {
                "initdb": {
                    "database": "laotie",
                    "owner": "laotie",
                    # A schema per service, owned by the service's role: each owns its data.
                    # (the roles are created here first; `managed.roles` then sets their login
                    # and password from the Secrets)
                    "postInitApplicationSQL": [
                        sql
                        for s in SERVICES
                        for sql in (
                            f"CREATE ROLE {s} NOLOGIN",
                            f"CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {s}",
                        )
                    ],
                }
            },
            "managed": {
                "roles": [
                    {
                        "name": s,
                        "ensure": "present",
                        "login": True,
                        "passwordSecret": {"name": f"db-{s}"},
                    }
                    for s in SERVICES
                ]
            },
        },
    }


def generate(root: Path) -> list[str]:
    return generated.write(root, files())


def drift(root: Path) -> list[str]:
    return generated.drift(root, files())


# --- validation (offline) ------------------------------------------------------------------

OVERLAYS = ("dev", "prod")
CORE_GROUPS = {"v1", "apps/v1", "policy/v1", "networking.k8s.io/v1", "batch/v1"}
KUBERNETES_VERSION = "1.32.0"


def kustomize_command(root: Path) -> list[str]:
    """kustomize: $KUSTOMIZE, then `.laotie/bin/kustomize` (make deploy-tools), then PATH."""
    import os
    import shutil

    if os.environ.get("KUSTOMIZE"):
        return [os.environ["KUSTOMIZE"]]
    local = root / ".laotie" / "bin" / "kustomize"
    if local.exists():
        return [str(local)]
    if shutil.which("kustomize"):
        return ["kustomize"]
    raise RuntimeError("kustomize not found: `make deploy-tools` installs it into .laotie/bin")


def build_overlay(root: Path, overlay: str) -> list[dict[str, Any]]:
    import subprocess

    out = subprocess.run(
        [*kustomize_command(root), "build", str(root / "deploy/k8s/overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def validate(root: Path, say: Any = print) -> list[str]:
    """Every offline check of deploy/: drift, kustomize builds, core kinds against the
    Kubernetes schemas, custom resources against their operators' schemas, promtool."""
    import json
    import subprocess

    import kubernetes_validate

    problems = [f"{p}: differs from what the code generates (`make deploy`)" for p in drift(root)]
    say(f"generated files: {len(files())}, drifted: {len(problems)}")
    for overlay in OVERLAYS:
        docs = build_overlay(root, overlay)
        core = [d for d in docs if d["apiVersion"] in CORE_GROUPS]
        custom = [d for d in docs if d["apiVersion"] not in CORE_GROUPS]
        for doc in core:
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except Exception as exc:
                problems.append(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {exc}")
        checked = subprocess.run(
            ["node", "validate-crs.mjs"],
            cwd=root / "deploy/validate",
            input=json.dumps(custom),
            capture_output=True,
            text=True,
        )
        if checked.returncode != 0:
            problems += [
                f"{overlay}: {line}"
                for line in (checked.stdout + checked.stderr).splitlines()
                if not line.startswith("ok ")
            ]
        say(
            f"overlay {overlay}: {len(docs)} resources; {len(core)} core kinds checked against"
            f" Kubernetes {KUBERNETES_VERSION}, {len(custom)} custom resources against their CRDs"
        )
    panels = root / ".laotie" / "dashboard-panels.yml"
    panels.parent.mkdir(parents=True, exist_ok=True)
    panels.write_text(_dump([observability.panel_queries_as_rules()]))
    for args in (
        ["check", "rules", "deploy/prometheus/rules.yml"],
        ["check", "rules", str(panels)],
        [
            "test",
            "rules",
            *sorted(str(p) for p in (root / "deploy/prometheus/tests").glob("*.yml")),
        ],
    ):
        run = subprocess.run(["promtool", *args], cwd=root, capture_output=True, text=True)
        say(f"promtool {' '.join(args[:2])}: {'ok' if run.returncode == 0 else 'FAILED'}")
        if run.returncode != 0:
            problems.append(f"promtool {' '.join(args)}:\n{run.stdout}{run.stderr}")
    return problems
