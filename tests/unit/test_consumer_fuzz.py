"""Whatever arrives on a topic, the consumer finishes the record: applied, ignored or
dead-lettered with a reason — never an exception, never a record left blocking its
partition (only transient errors leave a record in place). In memory: fakes for the pool,
the producer and the message (a batch of one record)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from laotie_common.consumer import EventConsumer
from laotie_common.settings import ServiceSettings
from laotie_dev.probe import apply_probe

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
    pool, producer = FakePool(), FakeProducer()
    consumer = EventConsumer(
        name="probe",
        topics=["probe.events"],
        settings=SETTINGS,
        handlers={"probe.events.sent": apply_probe},
        pool_getter=lambda: pool,  # type: ignore[arg-type,return-value]
        producer_getter=lambda: producer,
        dead_letter_topic="probe.dead-letter",
    )
    consumer.assigned = {TopicPartition("probe.events", 0)}
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
