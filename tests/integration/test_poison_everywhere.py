"""A poison record on every consumed topic: each consuming service parks it in its
dead-letter topic with the reason and moves on (the next record on that partition is
finished). All five services run as real processes."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from laotie_contracts import TOPICS, dead_letter_topic

from tests.integration.infra import Infra
from tests.integration.kit import eventually, header, metric_value, read_topic, running_service

SERVICES = ("orders", "live", "moderation", "scoring", "chuanliu")


async def test_every_consumer_parks_poison_and_moves_on(infra: Infra) -> None:
    marker = uuid.uuid4().hex
    async with contextlib.AsyncExitStack() as stack:
        processes = {
            name: await stack.enter_async_context(
                running_service(f"laotie_{name}", infra.kafka_bootstrap, infra.database_url)
            )
            for name in SERVICES
        }
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            for spec in TOPICS:
                if not spec.consumers:
                    continue
                # Garbage, then a well-formed event of a type nobody knows (tolerant read),
                # on the same partition: the second is finished only if the first was parked.
                await producer.send_and_wait(
                    spec.name, b"\xff\x00" + marker.encode(), key=marker.encode(), partition=0
                )
                await producer.send_and_wait(
                    spec.name,
                    b"{}",
                    key=marker.encode(),
                    partition=0,
                    headers=[
                        ("ce_id", f"{marker}-{spec.name}".encode()),
                        ("ce_source", b"/test"),
                        ("ce_specversion", b"1.0"),
                        ("ce_type", f"{spec.name}.something_new".encode()),
                        ("ce_time", datetime.now(UTC).isoformat().encode()),
                        ("content-type", b"application/json"),
                    ],
                )
        finally:
            await producer.stop()

        for name, process in processes.items():
            group = process.env_vars["CONSUMER_GROUP"]
            consumed = [t.name for t in TOPICS if name in t.consumers]

            async def parked_and_moved_on(
                name: str = name, group: str = group, consumed: list[str] = consumed
            ) -> bool:
                text = await processes[name].metrics()
                return all(
                    metric_value(text, "laotie_dead_letters_total", topic=t) >= 1
                    and metric_value(
                        text, "laotie_consumer_records_total", topic=t, outcome="ignored"
                    )
                    >= 1
                    for t in consumed
                )

            await eventually(
                parked_and_moved_on, timeout=90, what=f"{name} to park the poison and move on"
            )
            letters = [
                r
                for r in await read_topic(
                    infra.kafka_bootstrap, dead_letter_topic(name).name, expect=1, timeout=10
                )
                if header(r, "dlq_consumer") == group
            ]
            topics = {header(r, "dlq_original_topic") for r in letters}
            assert set(consumed) <= topics, (name, consumed, topics)
            assert all(
                "not a CloudEvent" in header(r, "dlq_reason")
                for r in letters
                if r.value and marker.encode() in r.value
            )
