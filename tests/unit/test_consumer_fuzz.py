"""Whatever arrives on a topic, the consumer finishes the record: applied, ignored or
dead-lettered with a reason — never an exception, never a record left blocking its
partition (only transient errors leave a record in place). In memory: fakes for the pool,
the producer and the message (a batch of one record)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from laotie_common.consumer import EventConsumer
from laotie_common.settings import ServiceSettings
from laotie_probe.probe import apply_probe

SETTINGS = ServiceSettings(
    database_url="postgresql://unused",
    kafka_bootstrap_servers="x",
    consumer_backoff_initial_s=0.0,
    consumer_backoff_max_s=0.0,
    consumer_max_attempts=2,
)


class FakeConn:
    def __init__(self) -> None:
        self.executed: list[str] = []

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    async def fetch(self, sql: str, *args: Any) -> list[tuple[str]]:
        return [(event_id,) for event_id in args[1]]  # every event id of the batch is new

    async def execute(self, sql: str, *args: Any) -> str:
        self.executed.append(sql)
        return "OK"


class FakePool:
    def __init__(self) -> None:
        self.conn = FakeConn()

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConn]:
        yield self.conn


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, value: Any, key: Any, headers: Any) -> None:
        self.sent.append({"topic": topic, "headers": dict(headers)})


def _consumer(
    producer: FakeProducer, handler: Any = apply_probe, *, kafka: Any = None, **settings: Any
) -> EventConsumer:
    """A consumer of ``probe.events`` (partition 0 assigned) on the fakes."""
    pool = FakePool()
    consumer = EventConsumer(
        name="probe",
        topics=["probe.events"],
        settings=SETTINGS.model_copy(update=settings),
        handlers={"probe.events.sent": handler},
        pool_getter=lambda: pool,  # type: ignore[arg-type,return-value]
        producer_getter=lambda: producer,
        dead_letter_topic="probe.dead-letter",
    )
    consumer._subscriber = types.SimpleNamespace(consumer=kafka)
    consumer.assigned = {TopicPartition("probe.events", 0)}
    return consumer


class FakeMessage:
    def __init__(self, *records: ConsumerRecord[bytes, bytes]) -> None:
        self.raw_message = records


GOOD = {
    "ce_id": b"e-1",
    "ce_source": b"/t",
    "ce_type": b"probe.events.sent",
    "ce_specversion": b"1.0",
    "ce_time": b"2026-11-23T12:00:00Z",
    "content-type": b"application/json",
}
header_names = st.sampled_from([*GOOD, "traceparent", "ce_subject", "x-other", "ce_time"])
headers = (
    st.lists(st.tuples(header_names, st.binary(max_size=40)), max_size=10)
    | st.just(list(GOOD.items()))
    | st.builds(
        lambda drop, extra: [(k, v) for k, v in GOOD.items() if k != drop] + extra,
        st.sampled_from(list(GOOD)),
        st.lists(st.tuples(header_names, st.binary(max_size=20)), max_size=3),
    )
)
values = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.builds(
        lambda seq, key: json.dumps(
            {"probe_key": key, "seq": seq, "sent_at": datetime.now(UTC).isoformat()}
        ).encode(),
        st.one_of(st.integers(), st.text(max_size=5), st.none()),
        st.one_of(st.text(max_size=10), st.integers()),
    ),
)


@given(headers, values, st.one_of(st.none(), st.binary(max_size=20)))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
async def test_any_record_is_finished_without_blocking_its_partition(
    hdrs: list[tuple[str, bytes]], value: bytes | None, key: bytes | None
) -> None:
    producer = FakeProducer()
    consumer = _consumer(producer)
    record = ConsumerRecord("probe.events", 0, 7, 0, 0, key, value, None, 0, 0, hdrs)
    await consumer.on_batch(FakeMessage(record))  # type: ignore[arg-type]
    assert consumer._done == {TopicPartition("probe.events", 0): 8}, (
        "applied, ignored or dead-lettered: its offset is done and will be committed"
    )
    dead = producer.sent
    assert len(dead) <= 1
    if dead:
        letter = dead[0]["headers"]
        assert letter["dlq_original_offset"] == b"7"
        assert letter["dlq_reason"], "a dead letter always says why"
    else:  # applied (a valid probe) or ignored (an event type this consumer does not use)
        assert dict(hdrs).get("ce_type") is not None


def test_a_null_header_value_marks_the_record_undecodable_instead_of_failing_the_batch() -> None:
    from laotie_common.consumer import UNDECODABLE_HEADER, _readable_headers

    headers = [*GOOD.items(), ("x-null", None)]
    record = ConsumerRecord("probe.events", 0, 7, 0, 0, None, b"{}", None, 0, 0, headers)
    readable = _readable_headers(record)
    assert dict(readable.headers)[UNDECODABLE_HEADER] == b"x-null"
    assert dict(readable.headers)["x-null"] == b""


class GatedKafka:
    """A Kafka consumer whose first commit waits until the test lets it through."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.commits: asyncio.Queue[dict[TopicPartition, int]] = asyncio.Queue()

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.gate.wait()
        self.commits.put_nowait(dict(offsets))


async def test_a_batch_marked_done_while_a_commit_is_in_flight_is_committed_when_idle() -> None:
    """Regression: a periodic commit in flight zeroed the count of records marked done
    meanwhile, so an idle consumer never committed the last batch it applied."""
    kafka = GatedKafka()
    consumer = _consumer(
        FakeProducer(),
        kafka=kafka,
        consumer_commit_interval_s=0.01,
        consumer_commit_every=1000,
    )
    tp = TopicPartition("probe.events", 0)

    consumer._done[tp], consumer._uncommitted = 8, 1
    in_flight = asyncio.create_task(consumer.flush())
    await asyncio.sleep(0)  # the commit of offset 8 is now waiting on the gate
    consumer._last_commit = time.monotonic() + 3600  # on_batch must not flush by itself
    await consumer.on_batch(FakeMessage(_probe_record(8)))  # type: ignore[arg-type]
    assert consumer._done[tp] == 9
    kafka.gate.set()
    await in_flight
    assert kafka.commits.get_nowait() == {tp: 8}
    periodic = asyncio.create_task(consumer.flush_periodically())
    try:
        next_commit = await asyncio.wait_for(kafka.commits.get(), timeout=5)
    except TimeoutError:
        pytest.fail("the record applied during the commit was never committed")
    finally:
        periodic.cancel()
    assert next_commit == {tp: 9}


class SeekingKafka:
    def __init__(self) -> None:
        self.seeks: list[tuple[TopicPartition, int]] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


async def test_a_batch_of_failing_records_hands_the_rest_back_within_half_the_interval() -> None:
    """Regression: 500 records failing one by one (a handler bug: every attempt an unknown
    error) each went through all their attempts inside one batch, so the batch could outlast
    max.poll.interval and the member be evicted mid-batch. Now the batch stops at half the
    interval, the records not tried are left in place and their partition seeks back."""

    async def broken(tx: Any, envelope: Any) -> None:
        await asyncio.sleep(0.02)
        raise RuntimeError("a handler bug")

    producer, kafka = FakeProducer(), SeekingKafka()
    consumer = _consumer(producer, broken, kafka=kafka, consumer_max_poll_interval_ms=400)
    tp = TopicPartition("probe.events", 0)
    records = [_probe_record(offset) for offset in range(100)]
    started = time.monotonic()
    await consumer.on_batch(FakeMessage(*records))  # type: ignore[arg-type]
    took = time.monotonic() - started
    assert took < 0.4, f"the batch took {took:.2f} s, longer than the poll interval"
    letters = len(producer.sent)
    assert 0 < letters < 100, "some records were tried (and dead-lettered), not all of them"
    assert consumer._done[tp] == letters, "done up to the last record dead-lettered"
    assert kafka.seeks[-1] == (tp, letters), "the partition seeks back to the first not tried"


def _probe_record(offset: int) -> ConsumerRecord[bytes, bytes]:
    hdrs = [*{**GOOD, "ce_id": f"e-{offset}".encode()}.items()]
    body = json.dumps({"probe_key": "k", "seq": offset, "sent_at": "2026-11-23T12:00:00Z"})
    return ConsumerRecord("probe.events", 0, offset, 0, 0, b"k", body.encode(), None, 0, 0, hdrs)
