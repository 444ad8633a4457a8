"""Dead letters: list them per consuming service with their reasons, show one, replay some.

A dead letter is the original record (value, key, CloudEvents headers) plus ``dlq_*``
headers saying where it came from and why it failed. Replaying republishes the original
record to its original topic; consumers are idempotent by ``ce_id``, so replaying one that
was applied meanwhile changes nothing, and one that still fails is dead-lettered again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from laotie_common.kafka import make_producer
from laotie_common.settings import KafkaSettings
from laotie_contracts import dead_letter_topic


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode(errors="replace")
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "consumer": self.header("dlq_consumer"),
            "original": f"{self.header('dlq_original_topic')}/"
            f"{self.header('dlq_original_partition')}@"
            f"{self.header('dlq_original_offset')}",
            "event_type": self.header("ce_type"),
            "event_id": self.header("ce_id"),
            "error_class": self.header("dlq_error_class"),
            "reason": self.header("dlq_reason"),
            "attempts": self.header("dlq_attempts"),
            "failed_at": self.header("dlq_failed_at"),
        }


async def read_dead_letters(settings: KafkaSettings, service: str) -> list[DeadLetter]:
    topic = dead_letter_topic(service).name if "." not in service else service
    consumer = AIOKafkaConsumer(**settings.client_args(), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        found: list[DeadLetter] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found += [
                    DeadLetter(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers))
                    for r in records
                ]
        return sorted(found, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


async def replay(settings: KafkaSettings, letters: list[DeadLetter]) -> list[str]:
    """Republish each dead letter's original record to its original topic."""
    producer = make_producer(settings)
    await producer.start()
    done = []
    try:
        for letter in letters:
            topic = letter.header("dlq_original_topic")
            if not topic:
                raise ValueError(f"dead letter {letter.ref} names no original topic")
            headers = [(k, v) for k, v in letter.headers if not k.startswith("dlq_")]
            headers.append(("x-laotie-replayed-from", f"{letter.topic}/{letter.ref}".encode()))
            await producer.send_and_wait(topic, letter.value, key=letter.key, headers=headers)
            done.append(f"{letter.ref} → {topic}")
    finally:
        await producer.stop()
    return done
