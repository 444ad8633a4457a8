"""Kafka clients built from settings, and idempotent topic creation from the registry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code
from laotie_contracts import TopicSpec

from laotie_common.settings import KafkaSettings


def make_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer (acks=all): retries never duplicate or reorder within a partition."""
    args: dict[str, Any] = {
        **settings.client_args(),
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 30_000,
    }
    args.update(overrides)
    return AIOKafkaProducer(**args)


def make_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**settings.client_args(), request_timeout_ms=30_000)


@dataclass
class TopicChange:
    topic: str
    action: str  # created | configured | partitions-increased | unchanged

    def __str__(self) -> str:
        return f"{self.action:>22}  {self.topic}"


async def ensure_topics(
    settings: KafkaSettings, specs: Iterable[TopicSpec], *, replication_factor: int = 1
) -> list[TopicChange]:
    """Create missing topics and bring existing ones to their declared config; idempotent.

    Partitions are only ever increased (Kafka cannot shrink a topic); configs are set to
    exactly what the registry declares.
    """
    specs = list(specs)
    admin = make_admin(settings)
    await admin.start()
    changes: list[TopicChange] = []
    try:
        existing = {
            t["topic"]: len(t["partitions"])
            for t in await admin.describe_topics([s.name for s in specs])
            if t["error_code"] == 0
        }
        missing = [s for s in specs if s.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, replication_factor, topic_configs=s.config())
                    for s in missing
                ]
            )
            for name, code, *rest in response.topic_errors:
                # 36 = TOPIC_ALREADY_EXISTS: another runner won the race; that is fine.
                if code not in (0, 36):
                    raise for_code(code)(f"creating topic {name}: {rest[-1] if rest else ''}")
            changes += [TopicChange(s.name, "created") for s in missing]
        present = [s for s in specs if s.name in existing]
        grow = {
            s.name: NewPartitions(s.partitions) for s in present if s.partitions > existing[s.name]
        }
        if grow:
            await admin.create_partitions(grow)
        if present:
            await admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, s.name, configs=s.config())
                    for s in present
                ]
            )
        changes += [
            TopicChange(s.name, "partitions-increased" if s.name in grow else "configured")
            for s in present
        ]
    finally:
        await admin.close()
    return changes
