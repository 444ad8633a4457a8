"""Who may touch which topic: Kafka ACLs per service, derived from the topic registry.

Each service's principal (``User:<service>``) may write the topics it owns (its event streams
and its dead-letter topic), read the topics it consumes, and use consumer groups whose name
starts with its own. Nothing else: no topic creation, no other service's streams. The same
rules become Strimzi ``KafkaUser`` resources (deploy/k8s) and are applied to the secured
broker in tests/integration/test_secured_kafka.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from laotie_contracts.topics import SERVICES, all_topics


@dataclass(frozen=True)
class Acl:
    """Allow ``operations`` on one resource (Kafka's names: Read, Write, Describe)."""

    resource: Literal["topic", "group"]
    name: str
    pattern: Literal["literal", "prefix"]
    operations: tuple[str, ...]


def principal(service: str) -> str:
    return f"User:{service}"


def service_acls(service: str) -> tuple[Acl, ...]:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    topics = all_topics()
    owned = sorted(t.name for t in topics if t.owner == service)
    consumed = sorted(t.name for t in topics if service in t.consumers)
    acls = [Acl("topic", name, "literal", ("Write", "Describe")) for name in owned]
    acls += [Acl("topic", name, "literal", ("Read", "Describe")) for name in consumed]
    if consumed:
        acls.append(Acl("group", service, "prefix", ("Read", "Describe")))
    return tuple(acls)
