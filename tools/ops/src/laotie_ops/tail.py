"""``laotie topics tail TOPIC``: a topic's records as JSON lines a human (or ``jq``) can read.

Each line is one record: its topic, partition, offset and key, its CloudEvents headers
(``ce_type``, ``ce_id``, ``ce_time``, ``traceparent`` …) and its data decoded from JSON.
Filters by event type and key; from the end of each partition (new records only) unless
``from_beginning``. Bounded: it stops after ``limit`` records, or once ``idle_s`` pass with
nothing new (a file or a test needs an end; a person watching passes neither and stops it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from laotie_common.settings import KafkaSettings


def decoded(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    """One record as a JSON-ready dict; data that is not JSON is kept as text."""
    raw = (record.value or b"").decode("utf-8", errors="replace")
    try:
        data: Any = json.loads(raw)
    except ValueError:
        data = raw
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": (record.key or b"").decode("utf-8", errors="replace") or None,
        "headers": {k: v.decode("utf-8", errors="replace") for k, v in record.headers or ()},
        "data": data,
    }


def wanted(line: dict[str, Any], ce_type: str | None, key: str | None) -> bool:
    return (ce_type is None or line["headers"].get("ce_type") == ce_type) and (
        key is None or line["key"] == key
    )


async def tail(
    settings: KafkaSettings,
    topic: str,
    emit: Callable[[str], None],
    *,
    ce_type: str | None = None,
    key: str | None = None,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_s: float | None = None,
) -> int:
    """Print the topic's matching records (one JSON line each); how many were printed."""
    consumer = AIOKafkaConsumer(**settings.client_args(), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"no topic {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await (consumer.seek_to_beginning if from_beginning else consumer.seek_to_end)(*tps)
        printed, quiet_since = 0, time.monotonic()
        while limit is None or printed < limit:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            records = [r for batch in batches.values() for r in batch]
            if records:
                quiet_since = time.monotonic()
            elif idle_s is not None and time.monotonic() - quiet_since > idle_s:
                break
            for record in records:
                line = decoded(record)
                if wanted(line, ce_type, key) and (limit is None or printed < limit):
                    emit(json.dumps(line, ensure_ascii=False, sort_keys=True))
                    printed += 1
        return printed
    finally:
        await consumer.stop()
