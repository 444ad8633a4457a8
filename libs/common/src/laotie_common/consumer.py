"""Idempotent, in-order consumers on FastStream with at-least-once delivery, applied in
batches.

For every batch FastStream fetches (up to ``CONSUMER_BATCH_MAX_RECORDS``, in partition order):

1. decode each CloudEvent (a record that does not decode is poison);
2. in ONE Postgres transaction, record the batch's ``(consumer, ce_id)`` pairs in
   ``processed_events`` with one statement and run the handler of each fresh record in order;
   an id already there (or twice in the batch) is a duplicate and changes nothing;
3. only then mark the offsets done; they are committed every few records or milliseconds
   (``AckPolicy.MANUAL``; FastStream's default, ACK_FIRST, is at-most-once and never used).

A record whose handler fails the batch's transaction is taken out: the records before it are
applied together, it goes alone through the per-record path, the records after it carry on
together. Failures follow :mod:`laotie_common.errors`: poison goes to the service's
dead-letter topic with the reason in ``dlq_*`` headers and the partition moves on; transient
errors retry with bounded backoff and then leave the record in place (its partition seeks
back to it and is paused for a while, nothing after it is done, the other partitions go on),
so a database outage parks nothing; a record left in place for CONSUMER_STUCK_AFTER_CYCLES
cycles is reported (``laotie_consumer_stuck_records``), still not parked; unknown errors
retry a few times and are then dead-lettered. A record is never marked done before it has
been applied, ignored or dead-lettered, nor after one of its partition that was not.
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
from laotie_common.dead_letters import letter_headers
from laotie_common.envelope import Envelope
from laotie_common.errors import ErrorClass, PoisonRecord, classify
from laotie_common.faults import fault_point, planted
from laotie_common.logs import current_event, get_logger
from laotie_common.settings import ServiceSettings

log = get_logger(__name__)

# A handler applies one event inside the consumer's transaction. It may return work to do
# once that transaction has committed (e.g. business metrics), work to do once per batch
# (``Later``), or None.
AfterCommit = Callable[[], None]
BatchWork = Callable[[Connection], Awaitable[None]]
BatchRows = Callable[[Connection, list[Any]], Awaitable[None]]


@dataclasses.dataclass
class Later:
    """What a handler leaves for the end of its batch's transaction. ``once`` is keyed: each
    key's work runs once per batch, after every record's handler (the last work given for a
    key wins, and runs under that record's trace), in the keys' sort order — the first
    element a phase, the rest a fixed lock order for replicas touching the same rows — e.g. a
    subject's score recomputed once from all the batch's facts instead of per fact.
    ``rows`` gathers a value per record under a key: each key's writer gets the batch's values
    in record order, in one call before the ``once`` work — e.g. one insert for the batch
    instead of a round trip per record."""

    once: dict[tuple[Any, ...], BatchWork] = dataclasses.field(default_factory=dict)
    after_commit: AfterCommit | None = None
    rows: dict[tuple[Any, ...], tuple[BatchRows, Any]] = dataclasses.field(default_factory=dict)


Handler = Callable[[Connection, Envelope], Awaitable[AfterCommit | Later | None]]
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


async def _tolerant_parser(records: Any, original: Any) -> Any:
    """FastStream's parser decodes headers as UTF-8 and would fail before our handler sees the
    batch (leaving it unacknowledged and then skipped); hex-encode bad ones and mark them so
    the envelope decoder dead-letters the record with a reason."""
    return await original(tuple(_readable_headers(r) for r in records))


def _readable_headers(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    bad = []
    for name, value in record.headers:
        try:
            value.decode("utf-8")
        except (UnicodeDecodeError, AttributeError):
            bad.append(name)
    if not bad:
        return record
    headers = [
        (k, (v.hex().encode() if isinstance(v, bytes) else b"") if k in bad else v)
        for k, v in record.headers
    ]
    headers.append((UNDECODABLE_HEADER, ",".join(bad).encode()))
    return dataclasses.replace(record, headers=headers)


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
        self._batch_deadline = float("inf")
        # Records left in place after their transient attempts, by partition and offset: how
        # many times. Past CONSUMER_STUCK_AFTER_CYCLES one is reported as stuck (not parked).
        self._cycles: dict[tuple[TopicPartition, int], int] = {}

    def attach(self, broker: KafkaBroker) -> None:
        subscriber = broker.subscriber(
            *self.topics,
            batch=True,
            max_records=self.settings.consumer_batch_max_records,
            batch_timeout_ms=self.settings.consumer_batch_timeout_ms,
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
        async def on_batch(body: list[bytes], msg: KafkaMessage) -> None:
            await self.on_batch(msg)

        subscriber(on_batch)
        self._subscriber = subscriber

    @property
    def kafka_consumer(self) -> Any:
        return getattr(self._subscriber, "consumer", None)

    # --- one batch ---------------------------------------------------------------------
    async def on_batch(self, msg: KafkaMessage) -> None:
        records: tuple[ConsumerRecord[bytes, bytes], ...] = msg.raw_message
        if not records:
            return
        started = time.perf_counter()
        # Half the poll interval: a batch whose records fail one by one must hand the rest
        # back before the group evicts this member mid-batch.
        self._batch_deadline = time.monotonic() + self.settings.consumer_max_poll_interval_ms / 2000
        with structlog.contextvars.bound_contextvars(consumer=self.name):
            items = [_item(record, self.handlers) for record in records]
            try:
                await self._finish_in_order(items)
            except BaseException:
                self._rewind(items)  # nothing unfinished may be skipped by the next fetch
                raise
            fault_point("consumer.before_ack")
            self._mark_done(items)
            if self._cycles:
                self._unstuck(items)
        elapsed = (time.perf_counter() - started) / len(items)
        for item in items:
            if item.outcome is not None:
                metrics.CONSUMER_RECORDS.labels(
                    self.name, item.record.topic, item.event_type, item.outcome
                ).inc()
                metrics.CONSUMER_HANDLE_SECONDS.labels(self.name, item.record.topic).observe(
                    elapsed
                )
        interval = self.settings.consumer_commit_interval_s
        if (
            self.stopping
            or time.monotonic() - self._last_commit >= interval
            or self._uncommitted >= self.settings.consumer_commit_every
        ):
            await self.flush()

    async def _finish_in_order(self, items: list[_Item]) -> None:
        """Runs of applicable records go through one transaction each; a record that cannot
        be applied (poison, a type not handled) is finished alone between the runs, so every
        partition is worked in offset order."""
        blocked: set[TopicPartition] = set()
        run: list[_Item] = []
        for item in items:
            if item.error is None and item.handler is not None:
                run.append(item)
                continue
            await self._apply_in_order(run, blocked)
            run = []
            await self._finish_alone(item, blocked)
        await self._apply_in_order(run, blocked)

    def _rewind(self, items: list[_Item]) -> None:
        """Seek each assigned partition back to its first unfinished record of the batch."""
        first: dict[TopicPartition, int] = {}
        for item in items:
            tp = _partition(item.record)
            if item.outcome is None and item.record.offset < first.get(tp, item.record.offset + 1):
                first[tp] = item.record.offset
        for tp, offset in first.items():
            self._seek(tp, offset)

    def _seek(self, tp: TopicPartition, offset: int) -> None:
        consumer = self.kafka_consumer
        if consumer is not None and tp in self.assigned:
            consumer.seek(tp, offset)

    async def _apply_in_order(self, items: list[_Item], blocked: set[TopicPartition]) -> None:
        """Apply ``items`` in one transaction. A record whose handler fails it is taken out:
        the records before it are applied together, it goes alone through the per-record
        retries (dead letter, or left in place), the records after it carry on together."""
        while items := [i for i in items if _partition(i.record) not in blocked]:
            try:
                await self._apply(items)
                return
            except _HandlerFailed as failed:
                head, bad, items = items[: failed.at], items[failed.at], items[failed.at + 1 :]
                if head:
                    await self._apply_in_order(head, blocked)
                await self._finish_alone(bad, blocked)
            except Exception as exc:
                log.warning("batch failed; applying its records one by one", error=repr(exc))
                for item in items:
                    if _partition(item.record) not in blocked:
                        await self._finish_alone(item, blocked)
                return

    async def _apply(self, items: list[_Item]) -> None:
        """One transaction: the batch's ids recorded in ``processed_events`` in one statement
        (an id already there is a duplicate and changes nothing), then each handler in order."""
        outcomes: list[str] = []
        after: list[AfterCommit] = []
        once: dict[tuple[Any, ...], tuple[BatchWork, Envelope]] = {}
        gathered: dict[tuple[Any, ...], tuple[BatchRows, list[Any]]] = {}
        async with self._pool().acquire() as conn, conn.transaction():
            fresh = {
                row[0]
                for row in await conn.fetch(
                    DEDUP_SQL,
                    self.name,
                    [_event_id(i) for i in items],
                    [i.event_type for i in items],
                    [i.record.topic for i in items],
                    [i.record.partition for i in items],
                    [i.record.offset for i in items],
                )
            }
            for at, item in enumerate(items):
                assert item.envelope is not None
                assert item.handler is not None
                if item.envelope.id not in fresh and not planted("consumer.dedup_off"):
                    outcomes.append("duplicate")
                    continue
                fresh.discard(item.envelope.id)  # a second copy in this batch is a duplicate
                try:
                    done = await _handle(conn, item)
                except Exception as exc:
                    raise _HandlerFailed(at, exc) from exc
                outcomes.append("applied")
                if isinstance(done, Later):
                    once.update((k, (work, item.envelope)) for k, work in done.once.items())
                    for k, (write, value) in done.rows.items():
                        gathered.setdefault(k, (write, []))[1].append(value)
                    done = done.after_commit
                if done is not None:
                    after.append(done)
            for key in sorted(gathered):
                write, values = gathered[key]
                await write(conn, values)
            for key in sorted(once):
                batch_work, envelope = once[key]
                await _traced(envelope, batch_work(conn))
        fault_point("consumer.after_commit")
        for item, outcome in zip(items, outcomes, strict=True):
            item.outcome = outcome
            if outcome == "applied" and item.envelope is not None:
                metrics.EVENT_AGE_SECONDS.labels(self.name, item.record.topic).observe(
                    max(0.0, (datetime.now(UTC) - item.envelope.time).total_seconds())
                )
        for work in after:
            work()

    # --- one record, alone --------------------------------------------------------------
    async def _finish_alone(self, item: _Item, blocked: set[TopicPartition]) -> None:
        """The per-record path: poison to the dead-letter topic, transient errors retried and
        then left in place (the partition seeks back to it, is held back for a while, and
        nothing after it is done), unknown errors retried a few times and then dead-lettered.
        Past the batch's deadline a record is handed back untried."""
        record = item.record
        tp = _partition(record)
        if tp in blocked:
            return  # an earlier record of its partition was left in place: this comes again
        if time.monotonic() >= self._batch_deadline:
            metrics.CONSUMER_ERRORS.labels(self.name, record.topic, "batch_out_of_time").inc()
            log.warning("batch out of time; the rest of the partition is fetched again")
        else:
            with structlog.contextvars.bound_contextvars(
                topic=record.topic, partition=record.partition, offset=record.offset
            ):
                item.outcome = await self._attempts(item)
            if item.outcome is None:
                self._left_in_place(record)
        if item.outcome is None:
            blocked.add(tp)
            self._seek(tp, record.offset)

    async def _attempts(self, item: _Item) -> str | None:
        attempt = 0
        while True:
            attempt += 1
            try:
                if item.error is not None:
                    raise item.error
                if item.handler is None:
                    return "ignored"  # a type this consumer does not use: tolerant reader
                await self._apply([item])
                return item.outcome
            except Exception as failure:
                exc = failure.error if isinstance(failure, _HandlerFailed) else failure
                outcome = await self._after_failure(item, exc, attempt)
                if outcome != "retry":
                    return outcome

    async def _after_failure(self, item: _Item, exc: BaseException, attempt: int) -> str | None:
        """What a failed attempt leads to: "dead_lettered", None (left in place) or "retry"."""
        error_class = classify(exc)
        record = item.record
        metrics.CONSUMER_ERRORS.labels(self.name, record.topic, error_class).inc()
        exhausted = attempt >= self.settings.consumer_max_attempts
        if error_class is ErrorClass.POISON or (error_class is ErrorClass.UNKNOWN and exhausted):
            log.error(
                "record dead-lettered",
                error=repr(exc),
                attempts=attempt,
                error_class=str(error_class),
            )
            if await self._dead_letter(record, exc, error_class, attempt):
                return "dead_lettered"
            return None
        if self.stopping or (error_class is ErrorClass.TRANSIENT and exhausted):
            log.warning(
                "record left in place; will be fetched again", error=repr(exc), attempts=attempt
            )
            return None
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
        return "retry"

    def _mark_done(self, items: list[_Item]) -> None:
        """Per partition, the offset after the last record finished with none unfinished
        before it: only that is ever committed."""
        by_partition: dict[TopicPartition, list[_Item]] = {}
        for item in items:
            by_partition.setdefault(_partition(item.record), []).append(item)
        for tp, in_order in by_partition.items():
            if tp not in self.assigned:
                continue  # revoked during the batch: its new owner reads it again
            for item in sorted(in_order, key=lambda i: i.record.offset):
                if item.outcome is None:
                    break
                self._done[tp] = item.record.offset + 1
                self._uncommitted += 1

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        exc: BaseException,
        error_class: ErrorClass,
        attempts: int,
    ) -> bool:
        """Publish the record to the dead-letter topic; True once Kafka acknowledged it."""
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        headers = letter_headers(
            record.headers,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            consumer=self.name,
            error_class=str(error_class),
            reason=reason,
            attempts=attempts,
        )
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

    def _pending(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets done but not yet committed, of assigned partitions (of ``only`` these)."""
        return {
            tp: offset
            for tp, offset in self._done.items()
            if self._committed.get(tp) != offset
            and (only is None or tp in only)
            and tp in self.assigned
        }

    async def flush(self, only: set[TopicPartition] | None = None) -> None:
        """Commit the offsets after the records applied so far (of ``only`` these partitions).
        A batch may be marked done while a commit is in flight: it stays pending for the next."""
        consumer = self.kafka_consumer
        pending = self._pending(only)
        counted = self._uncommitted
        self._last_commit = time.monotonic()
        if consumer is None or not pending:
            return
        try:
            await consumer.commit(pending)
        except Exception as exc:
            log.warning(
                "offset commit failed; records will be redelivered and skipped", error=repr(exc)
            )
            return
        self._committed.update(pending)
        if only is None:
            self._uncommitted = max(0, self._uncommitted - counted)

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.consumer_commit_interval_s)
            if self._pending():
                await self.flush()

    def forget(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self._done.pop(tp, None)
            self._committed.pop(tp, None)
        self._cycles = {k: n for k, n in self._cycles.items() if k[0] not in revoked}
        self._report_stuck()

    # --- records that keep failing transiently ----------------------------------------
    def _left_in_place(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Count the cycle and hold its partition back (the others keep flowing): paused for
        CONSUMER_BACKOFF_MAX_S, doubling with each cycle up to a minute."""
        tp = _partition(record)
        key = (tp, record.offset)
        self._cycles[key] = cycles = self._cycles.get(key, 0) + 1
        consumer = self.kafka_consumer
        if consumer is not None and tp in self.assigned and not self.stopping:
            consumer.pause(tp)
            delay = min(self.settings.consumer_backoff_max_s * 2 ** (cycles - 1), 60.0)
            asyncio.get_running_loop().call_later(delay, self._resume, tp)
        if cycles == self.settings.consumer_stuck_after_cycles:
            log.error(
                "record stuck: still failing after its retry cycles; not parked",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                cycles=cycles,
            )
        self._report_stuck()

    def _resume(self, tp: TopicPartition) -> None:
        consumer = self.kafka_consumer
        if consumer is not None and tp in self.assigned:
            with contextlib.suppress(Exception):  # revoked meanwhile: nothing to resume
                consumer.resume(tp)

    def _unstuck(self, items: list[_Item]) -> None:
        for item in items:
            if item.outcome is not None:
                self._cycles.pop((_partition(item.record), item.record.offset), None)
        self._report_stuck()

    def _report_stuck(self) -> None:
        limit = self.settings.consumer_stuck_after_cycles
        stuck = sum(1 for n in self._cycles.values() if n >= limit)
        metrics.CONSUMER_STUCK_RECORDS.labels(self.name).set(stuck)

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


DEDUP_SQL = """
INSERT INTO processed_events (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
SELECT $1, e, t, tp, p, o
FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[]) AS u(e, t, tp, p, o)
ON CONFLICT DO NOTHING RETURNING event_id
"""


@dataclasses.dataclass
class _Item:
    """One record of a batch: decoded (or why not), its handler, and how it finished."""

    record: ConsumerRecord[bytes, bytes]
    envelope: Envelope | None = None
    error: PoisonRecord | None = None
    handler: Handler | None = None
    event_type: str = "unknown"
    outcome: str | None = None  # applied, duplicate, ignored, dead_lettered; None: in place


class _HandlerFailed(Exception):
    def __init__(self, at: int, error: Exception) -> None:
        super().__init__(f"record {at} of the batch failed: {error!r}")
        self.at, self.error = at, error


def _item(record: ConsumerRecord[bytes, bytes], handlers: dict[str, Handler]) -> _Item:
    try:
        envelope = _decode(record)
    except PoisonRecord as exc:
        return _Item(record, error=exc)
    return _Item(record, envelope, handler=handlers.get(envelope.type), event_type=envelope.type)


async def _handle(conn: Connection, item: _Item) -> AfterCommit | Later | None:
    assert item.envelope is not None
    assert item.handler is not None
    envelope = item.envelope
    trace = current_trace.set(from_traceparent(envelope.traceparent, envelope.correlation_id))
    event = current_event.set(
        {
            "event_id": envelope.id,
            "event_type": envelope.type,
            "key": envelope.key,
            "correlation_id": envelope.correlation_id,
        }
    )
    try:
        return await item.handler(conn, envelope)
    finally:
        current_event.reset(event)
        current_trace.reset(trace)


async def _traced(envelope: Envelope, work: Awaitable[None]) -> None:
    """``work`` under ``envelope``'s trace: the events it writes continue that trace."""
    trace = current_trace.set(from_traceparent(envelope.traceparent, envelope.correlation_id))
    try:
        await work
    finally:
        current_trace.reset(trace)


def _event_id(item: _Item) -> str:
    assert item.envelope is not None
    return item.envelope.id


def _partition(record: ConsumerRecord[bytes, bytes]) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


def _decode(record: ConsumerRecord[bytes, bytes]) -> Envelope:
    names = {k for k, _ in record.headers}
    if UNDECODABLE_HEADER in names:
        raw = dict(record.headers)[UNDECODABLE_HEADER].decode()
        raise PoisonRecord(f"header(s) not UTF-8: {raw}")
    return Envelope.from_record(record.key, record.value, record.headers)
