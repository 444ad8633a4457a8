"""``laotie topics tail``: a topic's records decoded as JSON lines, filtered by type and key,
against a real broker (issue 21, item 4)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from aiokafka import AIOKafkaProducer
from laotie_common.kafka import ensure_topics
from laotie_common.settings import KafkaSettings
from laotie_contracts.topics import TopicSpec
from laotie_ops.tail import tail

from tests.integration.infra import Infra

RECORDS = [
    ("order-1", "laotie.orders.order.placed", {"order_id": "order-1", "total_fen": 9900}),
    ("order-1", "laotie.orders.order.paid", {"order_id": "order-1", "total_fen": 9900}),
    ("order-2", "laotie.orders.order.paid", {"order_id": "order-2", "total_fen": 100}),
]


async def _topic_with_records(infra: Infra, unique: str) -> tuple[KafkaSettings, str]:
    settings = KafkaSettings(kafka_bootstrap_servers=infra.kafka_bootstrap)
    name = f"tail.test-{unique}"
    spec = TopicSpec(name=name, owner="probe", key="order_id", partitions=2, description="t")
    await ensure_topics(settings, [spec])
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for key, ce_type, data in RECORDS:
            headers = [("ce_type", ce_type.encode()), ("ce_id", f"{key}-{ce_type}".encode())]
            value = json.dumps(data).encode()
            await producer.send_and_wait(name, value, key=key.encode(), headers=headers)
        await producer.send_and_wait(name, b"not json", key=b"order-3")
    finally:
        await producer.stop()
    return settings, name


async def test_tail_decodes_and_filters_a_topics_records(infra: Infra, unique: str) -> None:
    settings, name = await _topic_with_records(infra, unique)
    lines: list[str] = []
    paid = await tail(
        settings,
        name,
        lines.append,
        ce_type="laotie.orders.order.paid",
        key="order-1",
        from_beginning=True,
        idle_s=2,
    )
    assert paid == 1
    [line] = [json.loads(x) for x in lines]
    assert line["key"] == "order-1"
    assert line["headers"]["ce_type"] == "laotie.orders.order.paid"
    assert line["data"] == {"order_id": "order-1", "total_fen": 9900}
    assert line["topic"] == name

    everything: list[str] = []
    assert await tail(settings, name, everything.append, from_beginning=True, limit=4) == 4
    assert {json.loads(x)["key"] for x in everything} == {"order-1", "order-2", "order-3"}
    assert "not json" in [json.loads(x)["data"] for x in everything]  # kept as text

    new_only: list[str] = []
    assert await tail(settings, name, new_only.append, idle_s=1) == 0  # from the end


async def test_the_command_prints_json_lines_and_says_when_a_topic_is_missing(
    infra: Infra, unique: str
) -> None:
    _, name = await _topic_with_records(infra, unique)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap}
    command = [sys.executable, "-m", "laotie_cli", "topics", "tail", name, "--from-beginning"]
    done = await asyncio.to_thread(
        subprocess.run,
        [*command, "--key", "order-2", "--idle", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["data"]["order_id"] == "order-2"
    missing = await asyncio.to_thread(
        subprocess.run,
        [*command[:5], f"no.such-{unique}", "--idle", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert f"no topic no.such-{unique}" in missing.stderr
