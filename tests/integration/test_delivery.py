"""Delivery guarantees with the probe service as a real process, killed at exact steps."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from laotie_common.envelope import Envelope
from laotie_common.metrics_text import total
from laotie_probe.probe import ProbeSent, ProbeSettings, write_probes

from tests.integration.kit import (
    ProbeProcess,
    ServiceProcess,
    _partitions,
    eventually,
    header,
    read_topic,
)


async def _applied(db: asyncpg.Connection) -> dict[str, int]:
    rows = await db.fetch("SELECT event_id, count(*) AS n FROM probe_effects GROUP BY event_id")
    return {r["event_id"]: r["n"] for r in rows}


async def _committed(settings: ProbeSettings, group: str = "probe") -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == settings.probe_topic
    }


async def test_relay_killed_between_publish_and_mark_sent_republishes_and_applies_once(
    probe_settings: ProbeSettings, db: asyncpg.Connection
) -> None:
    async with db.transaction():
        ids = await write_probes(db, probe_settings, "crash", 1, 10)

    crashing = ProbeProcess(
        probe_settings, {"FAULTS": "relay.after_publish", "PROBE_CONSUME": "false"}
    ).start()
    assert await crashing.wait_exit() == 137, crashing.log()
    assert "FAULT INJECTED: relay.after_publish" in crashing.log()
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 10, (
        "killed before marking: every row is still unsent"
    )
    await read_topic(probe_settings.kafka_bootstrap_servers, probe_settings.probe_topic, expect=10)

    healthy = ProbeProcess(probe_settings).start()
    try:
        await healthy.wait_ready()

        async def all_applied() -> bool:
            return len(await _applied(db)) == 10

        await eventually(all_applied, what="all 10 events applied")
        records = await read_topic(
            probe_settings.kafka_bootstrap_servers, probe_settings.probe_topic, expect=20
        )
        metrics = await healthy.metrics()
    finally:
        healthy.stop()
    assert len(records) == 20, "the restarted relay published all 10 again"
    applied = await _applied(db)
    assert set(applied) == set(ids)
    assert set(applied.values()) == {1}, f"an event applied more than once: {applied}"
    assert total(metrics, "laotie_consumer_records_total", outcome="duplicate") == 10
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_consumer_killed_after_a_batch_commit_before_its_offset_commit_applies_once(
    probe_settings: ProbeSettings, db: asyncpg.Connection
) -> None:
    async with db.transaction():
        ids = await write_probes(db, probe_settings, "one-key", 1, 5)  # one key: one partition

    crashing = ProbeProcess(
        probe_settings,
        {"FAULTS": "consumer.after_commit:2", "CONSUMER_BATCH_MAX_RECORDS": "2"},
    ).start()
    assert await crashing.wait_exit() == 137, crashing.log()
    applied = await _applied(db)
    assert len(applied) == 4, "two batches of two committed their effects before the crash"
    committed_before = sum((await _committed(probe_settings)).values())
    assert committed_before <= 2, "the second batch's offsets were not committed: it comes again"

    healthy = ProbeProcess(probe_settings).start()
    try:
        await healthy.wait_ready()

        async def all_applied() -> bool:
            return len(await _applied(db)) == 5

        await eventually(all_applied, what="all 5 events applied")

        async def committed_all() -> bool:
            return sum((await _committed(probe_settings)).values()) == 5

        await eventually(committed_all, what="offsets committed to the end")
        metrics = await healthy.metrics()
    finally:
        healthy.stop()
    applied = await _applied(db)
    assert set(applied) == set(ids)
    assert set(applied.values()) == {1}, f"an event applied more than once: {applied}"
    redelivered = 4 - committed_before  # applied before the crash, offsets not yet committed
    assert total(metrics, "laotie_consumer_records_total", outcome="duplicate") == (redelivered)


async def test_poison_records_go_to_dead_letters_and_the_partition_moves_on(
    probe_settings: ProbeSettings, db: asyncpg.Connection
) -> None:
    """All four records are on the partition before the consumer starts, so they arrive as
    one batch: an undecodable record and one whose data breaks its contract (found by the
    handler, inside the batch's transaction) sit between two good ones."""
    topic = probe_settings.probe_topic

    def good(seq: int) -> Envelope:
        return Envelope.for_event(
            ProbeSent(probe_key="p", seq=seq, sent_at=datetime.now(UTC)), source="/test"
        )

    before, after = good(1), good(2)
    wrong_data = Envelope(
        id=str(uuid.uuid4()),
        source="/test",
        type="probe.events.sent",
        time=datetime.now(UTC),
        key="p",
        data=json.dumps({"probe_key": "p", "seq": "not a number"}).encode(),
    )
    producer = AIOKafkaProducer(bootstrap_servers=probe_settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for env in (before,):
            await producer.send_and_wait(
                topic, env.data, key=b"p", headers=env.headers(), partition=0
            )
        await producer.send_and_wait(topic, b"\x00\xffnot json at all", key=b"p", partition=0)
        await producer.send_and_wait(
            topic, wrong_data.data, key=b"p", headers=wrong_data.headers(), partition=0
        )
        await producer.send_and_wait(
            topic, after.data, key=b"p", headers=after.headers(), partition=0
        )
    finally:
        await producer.stop()

    service = ProbeProcess(probe_settings).start()
    try:
        await service.wait_ready()

        async def both_applied() -> bool:
            return set(await _applied(db)) == {before.id, after.id}

        await eventually(both_applied, what="the good records around the poison applied")

        async def committed_past_poison() -> bool:
            return (await _committed(probe_settings)).get(0) == 4

        await eventually(committed_past_poison, what="offsets committed past the poison")
        metrics = await service.metrics()
    finally:
        service.stop()

    dead = [
        r
        for r in await read_topic(
            probe_settings.kafka_bootstrap_servers, "probe.dead-letter", expect=2
        )
        if header(r, "dlq_original_topic") == topic
    ]
    assert [int(header(r, "dlq_original_offset")) for r in dead] == [1, 2]
    assert dead[0].value == b"\x00\xffnot json at all", "the original bytes are kept"
    assert "not a CloudEvent" in header(dead[0], "dlq_reason")
    assert "seq" in header(dead[1], "dlq_reason")
    assert "contract" in header(dead[1], "dlq_reason")
    assert {header(r, "dlq_error_class") for r in dead} == {"poison"}
    assert header(dead[1], "ce_id") == wrong_data.id, "CloudEvents headers are kept for replay"
    assert total(metrics, "laotie_dead_letters_total", topic=topic) == 2


async def test_a_record_parked_by_a_bug_is_replayed_after_the_fix(
    probe_settings: ProbeSettings, db: asyncpg.Connection
) -> None:
    """An unknown error (a bug) is retried, then dead-lettered; the partition moves on.
    After the fix, `laotie dlq replay` puts the record back and it is applied once."""
    from laotie_common.settings import KafkaSettings
    from laotie_ops.dlq import read_dead_letters, replay

    async with db.transaction():
        ids = await write_probes(db, probe_settings, "buggy", 1, 4)
    buggy = ProbeProcess(probe_settings, {"PROBE_BUG_SEQ": "2", "CONSUMER_MAX_ATTEMPTS": "3"})
    buggy.start()
    try:
        await buggy.wait_ready()

        async def others_applied() -> bool:
            return set(await _applied(db)) == {ids[0], ids[2], ids[3]}

        await eventually(others_applied, what="the records after the bug applied")
    finally:
        buggy.stop()
    kafka = KafkaSettings(kafka_bootstrap_servers=probe_settings.kafka_bootstrap_servers)

    async def parked() -> list[Any]:
        letters = await read_dead_letters(kafka, "probe")
        return [d for d in letters if d.header("ce_id") == ids[1]]

    [letter] = await eventually(parked, what="the buggy record in the dead-letter topic")
    assert letter.header("dlq_error_class") == "unknown"
    assert letter.header("dlq_attempts") == "3"
    assert "planted bug" in (letter.header("dlq_reason") or "")

    fixed = ProbeProcess(probe_settings).start()
    replayed = [f"{letter.ref} → {probe_settings.probe_topic}"]
    try:
        await fixed.wait_ready()
        assert await replay(kafka, [letter]) == replayed

        async def all_applied() -> bool:
            return len(await _applied(db)) == 4

        await eventually(all_applied, what="the replayed record applied")
        # Every record on the topic consumed and its offset committed: nothing is left to be
        # redelivered, so what the counters do next is the second replay's doing alone.
        await eventually(lambda: _caught_up(probe_settings), what="offsets at the end")
        before = await _outcomes(fixed, probe_settings.probe_topic)
        effects = await _applied(db)
        assert effects == dict.fromkeys(ids, 1)

        assert await replay(kafka, [letter]) == replayed  # one record, replayed again:
        await eventually(lambda: _caught_up(probe_settings), what="the second replay consumed")
        expected = {**before, "duplicate": before["duplicate"] + 1}
        # the counters move just after the offset commit: give them a moment
        after = await _outcomes(fixed, probe_settings.probe_topic)
        deadline = time.monotonic() + 10
        while after != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            after = await _outcomes(fixed, probe_settings.probe_topic)
        assert after == expected, "the second replay: exactly one duplicate, nothing applied"
        assert await _applied(db) == effects, "the second replay changed an effect"
    finally:
        fixed.stop()
    applied = await _applied(db)
    assert set(applied) == set(ids)
    assert set(applied.values()) == {1}


async def _outcomes(process: ServiceProcess, topic: str) -> dict[str, float]:
    text = await process.metrics()
    return {
        outcome: total(text, "laotie_consumer_records_total", topic=topic, outcome=outcome)
        for outcome in ("applied", "duplicate", "ignored", "dead_lettered")
    }


async def _caught_up(settings: ProbeSettings) -> bool:
    """The probe group's committed offsets are the end offsets of every partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, settings.probe_topic) or set()
        tps = [TopicPartition(settings.probe_topic, p) for p in partitions]
        ends = {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()
    committed = await _committed(settings)
    return bool(ends) and all(committed.get(p, 0) == end for p, end in ends.items())


async def test_a_record_stuck_on_a_lock_is_reported_and_holds_back_only_its_partition(
    probe_settings: ProbeSettings, db: asyncpg.Connection
) -> None:
    """Regression (issue 18, row 7): with no lock_timeout a row held by another transaction
    stopped the whole consumer; transient retries cycled for ever unreported. Here a test
    transaction holds the dedup row of one event: that record fails by DB_LOCK_TIMEOUT_MS,
    is left in place and reported stuck after three cycles; every other key (on the other
    partitions) is applied meanwhile; once the lock goes, it is applied once."""
    keys = [f"free-{i}" for i in range(12)]
    async with db.transaction():
        [stuck_id] = await write_probes(db, probe_settings, "stuck", 1, 1)
        free = [i for key in keys for i in await write_probes(db, probe_settings, key, 1, 3)]
    holder = await asyncpg.connect(
        probe_settings.database_url, server_settings={"search_path": probe_settings.schema_name}
    )
    holding = holder.transaction()
    await holding.start()
    await holder.execute(
        "INSERT INTO processed_events (consumer, event_id, event_type, topic, kafka_partition,"
        " kafka_offset) VALUES ('probe', $1, 'probe.events.sent', $2, 0, 0)",
        stuck_id,
        probe_settings.probe_topic,
    )
    process = ProbeProcess(
        probe_settings,
        {
            "DB_LOCK_TIMEOUT_MS": "300",
            "CONSUMER_MAX_ATTEMPTS": "2",
            "CONSUMER_BACKOFF_MAX_S": "0.5",
        },
    ).start()
    try:
        await process.wait_ready()
        records = await read_topic(
            probe_settings.kafka_bootstrap_servers, probe_settings.probe_topic, expect=37
        )
        where = {header(r, "ce_id"): (r.partition, r.offset) for r in records}
        held, at = where[stuck_id]
        elsewhere = {i for i in free if where[i][0] != held}
        behind = {i for i in free if where[i][0] == held and where[i][1] > at}
        assert elsewhere, "some keys are on other partitions than the stuck record's"

        async def others_applied() -> bool:
            return elsewhere <= set(await _applied(db))

        await eventually(others_applied, timeout=30, what="the other partitions' events applied")
        applied = set(await _applied(db))
        assert stuck_id not in applied
        assert not behind & applied, "nothing behind the stuck record in its partition"

        async def reported() -> bool:
            return total(await process.metrics(), "laotie_consumer_stuck_records") == 1

        await eventually(reported, timeout=30, what="the stuck record to be reported")
        await holding.rollback()

        async def applied_after() -> bool:
            return (await _applied(db)).get(stuck_id) == 1

        await eventually(applied_after, timeout=60, what="the record applied once the lock went")
        await eventually(
            lambda: _metric_is(process, "laotie_consumer_stuck_records", 0.0),
            what="the report to clear",
        )
        assert total(await process.metrics(), "laotie_dead_letters_total") == 0
    finally:
        process.stop()
        await holder.close()
    assert set((await _applied(db)).values()) == {1}


async def _metric_is(process: ServiceProcess, name: str, value: float) -> bool:
    return total(await process.metrics(), name) == value
