"""Idempotent, in-order consumers on FastStream with at-least-once delivery.

For every record, in partition order:

1. decode the CloudEvent (a record that does not decode is poison);
2. in one Postgres transaction, record ``(consumer, ce_id)`` in ``processed_events`` and run
   the handler; a duplicate finds its id already there and changes nothing;
3. only then commit the offset (``AckPolicy.MANUAL``; FastStream's default, ACK_FIRST, is
   at-most-once and is never used).

Failures follow :mod:`laotie_common.errors`: poison goes to the service's dead-letter topic
with the reason in ``dlq_*`` headers and the partition moves on; transient errors retry with
bounded backoff and then leave the record in place (seek back) to be fetched again, so a
database outage parks nothing; unknown errors retry a few times and are then dead-lettered.
A record is never acknowledged before it has been applied, ignored or dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from laotie_common import metrics
from laotie_common.context import current_trace, from_traceparent
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_common.errors import ErrorClass, PoisonRecord, classify
from laotie_common.faults import fault_point, planted
from laotie_common.logs import get_logger
from laotie_common.settings import ServiceSettings

log = get_logger(__name__)

# A handler applies one event inside the consumer's transaction. It may return work to do
# once that transaction has committed (e.g. business metrics), or None.
AfterCommit = Callable[[], None]
Handler = Callable[[Connection, Envelope], Awaitable[AfterCommit | None]]
UNDECODABLE_HEADER = "x-laotie-undecodable-header"


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: EventConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Commit what was applied on these partitions before another member takes them.
        await self.consumer.flush(only=set(revoked))
        self.consumer.forget(set(revoked))
        self.consumer.assigned -= set(revoked)
        metrics.CONSUMER_ASSIGNED_PARTITIONS.labels(self.consumer.name).set(
            len(self.consumer.assigned)
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.consumer.assigned |= set(assigned)
        self.consumer.joined = True
        metrics.CONSUMER_ASSIGNED_PARTITIONS.labels(self.consumer.name).set(
            len(self.consumer.assigned)
        )
        log.info(
            "partitions assigned",
            consumer=self.consumer.name,
            partitions=sorted(f"{tp.topic}-{tp.partition}" for tp in assigned),
        )


async def _tolerant_parser(record: ConsumerRecord[Any, Any], original: Any) -> Any:
    """FastStream's parser decodes headers as UTF-8 and would fail before our handler sees the
    record (leaving it unacknowledged and then skipped); hex-encode bad ones and mark them so
    the envelope decoder dead-letters the record with a reason."""
    bad = []
    for name, value in record.headers:
        try:
            value.decode("utf-8")
        except (UnicodeDecodeError, AttributeError):
            bad.append(name)
    if bad:
        headers = [(k, v.hex().encode() if k in bad else v) for k, v in record.headers]
        headers.append((UNDECODABLE_HEADER, ",".join(bad).encode()))
        record = dataclasses.replace(record, headers=headers)
    return await original(record)


async def _raw_decoder(message: Any, original: Any) -> Any:
    # Never let FastStream parse JSON for us: a bad body must reach our handler as bytes.
    return message.body


class EventConsumer:
    """One consumer group of a service: handlers by event type, one dead-letter topic."""

    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        handlers: dict[str, Handler],
        settings: ServiceSettings,
        pool_getter: Callable[[], asyncpg.Pool],
        producer_getter: Callable[[], AIOKafkaProducer],
        dead_letter_topic: str,
    ) -> None:
        self.name = name
        self.topics = list(topics)
        self.handlers = handlers
        self.settings = settings
        self._pool = pool_getter
        self._producer = producer_getter
        self.dead_letter_topic = dead_letter_topic
        self.assigned: set[TopicPartition] = set()
        self.joined = False
        self.stopping = False
        self._subscriber: Any = None
        # Offsets are committed every few records or milliseconds, and only explicit offsets
        # of records already applied (never the consumer's position, which runs ahead of the
        # record in hand). Every effect is idempotent by ce_id, so what a crash leaves
        # uncommitted is redelivered and changes nothing.
        self._done: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._uncommitted = 0
        self._last_commit = time.monotonic()

    def attach(self, broker: KafkaBroker) -> None:
        subscriber = broker.subscriber(
            *self.topics,
            group_id=self.name,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.settings.consumer_max_poll_interval_ms,
            listener=_Assignment(self),
            parser=_tolerant_parser,
            decoder=_raw_decoder,
            title=f"{self.name}:{','.join(self.topics)}",
        )

        # faststream.kafka.KafkaMessage is Annotated with Context("message") already.
        async def on_record(body: bytes, msg: KafkaMessage) -> None:
            await self.on_record(msg)

        subscriber(on_record)
        self._subscriber = subscriber

    @property
    def kafka_consumer(self) -> Any:
        return getattr(self._subscriber, "consumer", None)

    # --- one record ---------------------------------------------------------------------
    async def on_record(self, msg: KafkaMessage) -> None:
        record: ConsumerRecord[bytes, bytes] = msg.raw_message
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        ):
            outcome, event_type = await self._process(msg, record)
            if outcome is None:
                return  # left in place (seeked back); fetched again
            fault_point("consumer.before_ack")
            self._done[TopicPartition(record.topic, record.partition)] = record.offset + 1
            self._uncommitted += 1
            interval = self.settings.consumer_commit_interval_s
            if (
                time.monotonic() - self._last_commit >= interval
                or self._uncommitted >= self.settings.consumer_commit_every
            ):
                await self.flush()
            metrics.CONSUMER_RECORDS.labels(self.name, record.topic, event_type, outcome).inc()
            metrics.CONSUMER_HANDLE_SECONDS.labels(self.name, record.topic).observe(
                time.perf_counter() - started
            )

    async def _process(
        self, msg: KafkaMessage, record: ConsumerRecord[bytes, bytes]
    ) -> tuple[str | None, str]:
        attempt = 0
        event_type = "unknown"
        while True:
            attempt += 1
            try:
                envelope = _decode(record)
                event_type = envelope.type
                handler = self.handlers.get(envelope.type)
                if handler is None:
                    # A type this consumer does not use (or a newer one): tolerant reader.
                    return "ignored", event_type
                with structlog.contextvars.bound_contextvars(
                    event_id=envelope.id,
                    event_type=envelope.type,
                    key=envelope.key,
                    correlation_id=envelope.correlation_id,
                ):
                    return await self._apply(envelope, handler, record), event_type
            except Exception as exc:
                error_class = classify(exc)
                metrics.CONSUMER_ERRORS.labels(self.name, record.topic, error_class).inc()
                exhausted = attempt >= self.settings.consumer_max_attempts
                if error_class is ErrorClass.POISON or (
                    error_class is ErrorClass.UNKNOWN and exhausted
                ):
                    log.error(
                        "record dead-lettered",
                        error=repr(exc),
                        attempts=attempt,
                        error_class=str(error_class),
                    )
                    if await self._dead_letter(record, exc, error_class, attempt):
                        return "dead_lettered", event_type
                    await msg.nack()
                    return None, event_type
                if self.stopping or (error_class is ErrorClass.TRANSIENT and exhausted):
                    log.warning(
                        "record left in place; will be fetched again",
                        error=repr(exc),
                        attempts=attempt,
                    )
                    await msg.nack()
                    await self._pause(self.settings.consumer_backoff_max_s)
                    return None, event_type
                delay = min(
                    self.settings.consumer_backoff_initial_s * 2 ** (attempt - 1),
                    self.settings.consumer_backoff_max_s,
                )
                log.warning(
                    "record failed; retrying",
                    error=repr(exc),
                    attempt=attempt,
                    retry_in_s=delay,
                    error_class=str(error_class),
                )
                await self._pause(delay)

    async def _apply(
        self, envelope: Envelope, handler: Handler, record: ConsumerRecord[bytes, bytes]
    ) -> str:
        async with self._pool().acquire() as conn, conn.transaction():
            fresh = await conn.fetchval(
                "INSERT INTO processed_events"
                " (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
                self.name,
                envelope.id,
                envelope.type,
                record.topic,
                record.partition,
                record.offset,
            )
            if not fresh and not planted("consumer.dedup_off"):
                return "duplicate"
            token = current_trace.set(
                from_traceparent(envelope.traceparent, envelope.correlation_id)
            )
            try:
                after = await handler(conn, envelope)
            finally:
                current_trace.reset(token)
        fault_point("consumer.after_commit")
        if after is not None:
            after()
        metrics.EVENT_AGE_SECONDS.labels(self.name, record.topic).observe(
            max(0.0, (datetime.now(UTC) - envelope.time).total_seconds())
        )
        return "applied"

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        exc: BaseException,
        error_class: ErrorClass,
        attempts: int,
    ) -> bool:
        """Publish the record to the dead-letter topic; True once Kafka acknowledged it."""
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        headers = [
            *record.headers,
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_error_class", str(error_class).encode()),
            ("dlq_reason", reason[:4000].encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        delay = self.settings.consumer_backoff_initial_s
        while not self.stopping:
            try:
                await self._producer().send_and_wait(
                    self.dead_letter_topic, value=record.value, key=record.key, headers=headers
                )
                metrics.DEAD_LETTERS.labels(self.name, record.topic, str(error_class)).inc()
                return True
            except Exception as send_exc:
                log.error("dead-letter publish failed; retrying", error=repr(send_exc))
                await self._pause(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_s)
        return False

    async def _pause(self, seconds: float) -> None:
        if not self.stopping:
            await asyncio.sleep(seconds)

    async def flush(self, only: set[TopicPartition] | None = None) -> None:
        """Commit the offsets after the records applied so far (of ``only`` these partitions)."""
        consumer = self.kafka_consumer
        pending = {
            tp: offset
            for tp, offset in self._done.items()
            if self._committed.get(tp) != offset and (only is None or tp in only)
        }
        self._last_commit = time.monotonic()
        if consumer is None or not pending:
            return
        try:
            await consumer.commit(pending)
            self._committed.update(pending)
            if only is None:
                self._uncommitted = 0
        except Exception as exc:
            log.warning(
                "offset commit failed; records will be redelivered and skipped", error=repr(exc)
            )

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.consumer_commit_interval_s)
            if self._uncommitted:
                await self.flush()

    def forget(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self._done.pop(tp, None)
            self._committed.pop(tp, None)

    # --- observability ------------------------------------------------------------------
    def ready(self) -> bool:
        """Joined its group (an assignment arrived, possibly empty) and not stopping."""
        return self.joined and not self.stopping

    async def update_lag(self) -> None:
        """Set the lag gauge of each assigned partition: high watermark minus position."""
        consumer = self.kafka_consumer
        if consumer is None:
            return
        for tp in list(self.assigned):
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            with contextlib.suppress(Exception):
                position = await consumer.position(tp)
                metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                    max(0, highwater - position)
                )


def _decode(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    names = {k for k, _ in record.headers}
    if UNDECODABLE_HEADER in names:
        raw = dict(record.headers)[UNDECODABLE_HEADER].decode()
        raise PoisonRecord(f"header(s) not UTF-8: {raw}")
    return Envelope.from_record(record.key, record.value, record.headers)
