"""The topic registry: every Kafka topic Laotie owns, declared once.

This is the single source for topic creation (``laotie topics create``), the Strimzi
``KafkaTopic`` resources, the AsyncAPI document and the dead-letter topics. One topic per
aggregate stream, named ``<service>.<aggregate>``; a breaking change gets a new topic with a
major-version suffix (``orders.order.v2``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DAY_MS = 24 * 60 * 60 * 1000

SERVICES: tuple[str, ...] = ("orders", "live", "moderation", "scoring", "chuanliu")


@dataclass(frozen=True)
class TopicSpec:
    """One topic: who writes it, how it is keyed and kept, and who reads it."""

    name: str
    owner: str
    key: str
    description: str
    partitions: int = 6
    retention_ms: int | None = 14 * DAY_MS
    cleanup_policy: Literal["delete", "compact"] = "delete"
    consumers: tuple[str, ...] = ()
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        """Topic-level Kafka configuration (as `kafka-configs` / Strimzi `config` spell it)."""
        cfg: dict[str, str] = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        else:
            cfg["retention.ms"] = "-1"
        cfg.update(self.extra_config)
        return cfg


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        name="orders.product",
        owner="orders",
        key="product_id",
        description="Products and SKUs: listed, changed, delisted, relisted, banned.",
        consumers=("moderation", "live"),
    ),
    TopicSpec(
        name="orders.order",
        owner="orders",
        key="order_id",
        description=(
            "The order lifecycle with its channel attribution, after-sales steps and reviews."
        ),
        partitions=12,
        retention_ms=30 * DAY_MS,
        consumers=("live", "moderation", "scoring", "chuanliu"),
    ),
    TopicSpec(
        name="orders.shop",
        owner="orders",
        key="shop_id",
        description="Shops' own profile text as their sellers write it (scanned by moderation).",
        partitions=3,
        consumers=("moderation",),
    ),
    TopicSpec(
        name="live.profile",
        owner="live",
        key="owner_id",
        description="Anchors' and creators' own profile text (scanned by moderation).",
        partitions=3,
        consumers=("moderation",),
    ),
    TopicSpec(
        name="live.room",
        owner="live",
        key="room_id",
        description="Live rooms and sessions: created, started, ended (with totals), force-closed.",
        consumers=("orders", "moderation", "chuanliu"),
    ),
    TopicSpec(
        name="live.comment",
        owner="live",
        key="session_id",
        description="Comments posted in live sessions, and their hiding.",
        partitions=12,
        retention_ms=7 * DAY_MS,
        consumers=("moderation",),
    ),
    TopicSpec(
        name="moderation.violation",
        owner="moderation",
        key="subject_id",
        description="Violations detected or decided under the Thunder Plan, with their evidence.",
        consumers=("live", "orders"),
    ),
    TopicSpec(
        name="moderation.penalty",
        owner="moderation",
        key="subject_id",
        description="Penalties and their measures: applied, points booked, revoked, expired.",
        consumers=("orders", "live", "scoring", "chuanliu"),
    ),
    TopicSpec(
        name="scoring.score",
        owner="scoring",
        key="subject_key",
        description="Score changes: a new score value or a change of band, with components.",
    ),
    TopicSpec(
        name="scoring.score-latest",
        owner="scoring",
        key="subject_key",
        description="The latest score per subject (compacted): a new subscriber's full picture.",
        retention_ms=None,
        cleanup_policy="compact",
        consumers=("chuanliu",),
        extra_config={"min.cleanable.dirty.ratio": "0.1", "segment.ms": str(DAY_MS)},
    ),
    TopicSpec(
        name="chuanliu.traffic",
        owner="chuanliu",
        key="recipient_id",
        description="Chuanliu traffic grants for the recommendation feed, and creator rewards.",
        partitions=12,
    ),
)


# The services that take operator and reviewer commands, and so keep an audit trail.
AUDITED: tuple[str, ...] = ("orders", "live", "moderation", "chuanliu")


def _service_topic(service: str, kind: str, key: str, description: str, days: int) -> TopicSpec:
    """A small topic each of several services has for itself: ``<service>.<kind>``."""
    return TopicSpec(
        f"{service}.{kind}", service, key, description, partitions=3, retention_ms=days * DAY_MS
    )


def audit_topic(service: str) -> TopicSpec:
    """The audit trail of one service: every operator and reviewer action it took."""
    what = f"Operator and reviewer actions on {service}: who, what, to what, why."
    return _service_topic(service, "audit", "actor_id", what, days=365)


TOPICS += tuple(audit_topic(s) for s in AUDITED)


def dead_letter_topic(service: str) -> TopicSpec:
    """The dead-letter topic of one consuming service.

    Records its consumers can never apply land here with the failure in headers
    (``dlq_*``), keyed as the original record, so they can be listed and replayed.
    """
    what = f"Records the {service} service could not apply, with the reason in headers."
    return _service_topic(service, "dead-letter", "original key", what, days=30)


def all_topics() -> tuple[TopicSpec, ...]:
    """Every topic declared: the event streams and one dead-letter topic per consumer."""
    consuming = sorted({c for t in TOPICS for c in t.consumers})
    return TOPICS + tuple(dead_letter_topic(s) for s in consuming)


def topic(name: str) -> TopicSpec:
    for spec in all_topics():
        if spec.name == name:
            return spec
    raise KeyError(f"no topic {name!r} in the registry")


def consumed_by(service: str) -> tuple[TopicSpec, ...]:
    return tuple(t for t in TOPICS if service in t.consumers)
