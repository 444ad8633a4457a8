"""Dead letters: list them per consuming service with their reasons, show one, replay some
(the format is :mod:`laotie_common.dead_letters`'s). A replayed record that still fails is
dead-lettered again."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from laotie_common.dead_letters import DeadLetter
from laotie_common.kafka import make_producer
from laotie_common.settings import KafkaSettings
from laotie_contracts import dead_letter_topic


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
            topic = letter.original_topic
            if not topic:
                raise ValueError(f"dead letter {letter.ref} names no original topic")
            headers = letter.original_headers()
            await producer.send_and_wait(topic, letter.value, key=letter.key, headers=headers)
            done.append(f"{letter.ref} → {topic}")
    finally:
        await producer.stop()
    return done
