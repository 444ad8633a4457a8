"""The publishing half of the transactional outbox.

Every replica of a service runs a relay, but only the one holding the schema's advisory
lock publishes (leader election by Postgres session lock), so events leave in id order
and per-key order holds whatever the number of replicas. Rows are published with the
idempotent producer and marked sent only after Kafka acknowledged them (acks=all): a crash
in between republishes them, and consumers drop the duplicate by its ``ce_id``.

The backlog (rows waiting, the oldest one's age) is measured by every replica on its own
loop, whether or not publishing works, so an outbox that stops draining shows at once.

Per-key order also needs writers to serialise on the aggregate: a service updates the
aggregate's row before it adds the event, so two transactions for one key take their
outbox ids in commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from laotie_common import metrics
from laotie_common.faults import fault_point
from laotie_common.logs import get_logger
from laotie_common.settings import ServiceSettings

log = get_logger(__name__)


def notify_channel(schema: str) -> str:
    return f"laotie_outbox_{schema}"


class OutboxRelay:
    def __init__(self, settings: ServiceSettings, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.producer = producer
        self.schema = settings.schema_name
        self.is_leader = False
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._measuring: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")
        self._measuring = asyncio.create_task(self._measure(), name=f"outbox-gauges-{self.schema}")

    async def stop(self, *, flush: bool = True) -> None:
        """Stop publishing; with ``flush``, publish what is left first (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._measuring is not None:
            self._measuring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._measuring
            self._measuring = None
        if flush:
            try:
                await asyncio.wait_for(self.flush(), timeout=self.settings.graceful_timeout_s)
            except Exception as exc:
                log.warning("outbox flush at shutdown failed", error=repr(exc))

    async def flush(self) -> int:
        """Publish every unsent row now, if no other replica is leading. Returns rows sent."""
        conn = await self._connect()
        try:
            if not await self._try_lock(conn):
                return 0
            total = 0
            while (sent := await self.publish_batch(conn)) > 0:
                total += sent
            await self._update_backlog(conn)
            return total
        finally:
            await conn.close()

    # --- the loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                await self._lead()
                backoff = 0.5
            except Exception as exc:
                self._set_leader(False)
                metrics.OUTBOX_PUBLISH_FAILURES.inc()
                log.warning("outbox relay error; retrying", error=repr(exc), retry_in_s=backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _lead(self) -> None:
        conn = await self._connect()
        try:
            if not await self._try_lock(conn):
                self._set_leader(False)
                await self._sleep(self.settings.outbox_poll_interval_s * 2)
                return
            self._set_leader(True)
            await conn.add_listener(notify_channel(self.schema), self._on_notify)
            next_prune = 0.0
            while not self._stop.is_set():
                self._wake.clear()
                sent = await self.publish_batch(conn)
                if time.monotonic() >= next_prune:
                    await self._prune(conn)
                    next_prune = time.monotonic() + self.settings.outbox_prune_interval_s
                if sent < self.settings.outbox_batch_size:
                    await self._update_backlog(conn)
                    await self._wait_for_work(self.settings.outbox_poll_interval_s)
        finally:
            self._set_leader(False)
            with contextlib.suppress(Exception):
                await conn.close()  # closing the session releases the advisory lock

    async def publish_batch(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, topic, key, headers, payload FROM outbox"
            " WHERE sent_at IS NULL ORDER BY id LIMIT $1",
            self.settings.outbox_batch_size,
        )
        if not rows:
            return 0
        started = time.perf_counter()
        try:
            results = await asyncio.wait_for(
                self._send_all(rows), timeout=self.settings.outbox_send_timeout_s
            )
        except TimeoutError:
            raise RuntimeError(
                f"{len(rows)} events not acknowledged within"
                f" {self.settings.outbox_send_timeout_s} s"
            ) from None
        fault_point("relay.after_publish")
        sent_ids = [
            r["id"]
            for r, res in zip(rows, results, strict=True)
            if not isinstance(res, BaseException)
        ]
        if sent_ids:
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", sent_ids
            )
            metrics.OUTBOX_LAST_PUBLISH.set_to_current_time()
        for row, res in zip(rows, results, strict=True):
            if not isinstance(res, BaseException):
                metrics.OUTBOX_PUBLISHED.labels(row["topic"]).inc()
        metrics.OUTBOX_BATCH_SECONDS.observe(time.perf_counter() - started)
        failures = [res for res in results if isinstance(res, BaseException)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {len(rows)} events not acknowledged") from (
                failures[0]
            )
        return len(rows)

    async def _send_all(self, rows: list[asyncpg.Record]) -> list[Any]:
        """Hand every row to the producer, then wait for each acknowledgement (or error)."""
        futures = []
        for row in rows:
            headers = [(k, v.encode()) for k, v in json.loads(row["headers"]).items()]
            futures.append(
                await self.producer.send(
                    row["topic"],
                    value=bytes(row["payload"]),
                    key=row["key"].encode() if row["key"] is not None else None,
                    headers=headers,
                )
            )
        return await asyncio.gather(*futures, return_exceptions=True)

    async def _measure(self) -> None:
        """Every replica, every ``outbox_measure_interval_s``: the backlog gauges."""
        conn: asyncpg.Connection | None = None
        try:
            while True:
                conn = await self._measured(conn)
                await asyncio.sleep(self.settings.outbox_measure_interval_s)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _measured(self, conn: asyncpg.Connection | None) -> asyncpg.Connection | None:
        """One measurement; the connection to measure with next time (None after a failure)."""
        try:
            if conn is None or conn.is_closed():
                conn = await self._connect()
            await self._update_backlog(conn)
            return conn
        except Exception as exc:
            log.warning("outbox backlog not measured", error=repr(exc))
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            return None

    # --- helpers -----------------------------------------------------------------------
    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.settings.database_url,
            server_settings={
                "search_path": self.schema,
                "application_name": f"{self.settings.service_name}-relay",
            },
        )

    async def _try_lock(self, conn: asyncpg.Connection) -> bool:
        return bool(
            await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{self.schema}")
        )

    def _set_leader(self, leader: bool) -> None:
        if leader != self.is_leader:
            log.info("outbox relay leadership", leader=leader)
        self.is_leader = leader
        metrics.RELAY_LEADER.set(1 if leader else 0)

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _wait_for_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _prune(self, conn: asyncpg.Connection) -> None:
        """Sent rows past retention, 10,000 per statement until none is due (at most 50
        statements per round: 500,000 rows a minute keeps up with any rate we write)."""
        for _ in range(50):
            deleted = await conn.fetchval(
                """WITH gone AS (
                       DELETE FROM outbox WHERE id IN (
                           SELECT id FROM outbox
                           WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1)
                           LIMIT 10000)
                       RETURNING 1)
                   SELECT count(*) FROM gone""",
                self.settings.outbox_retention_s,
            )
            metrics.OUTBOX_PRUNED.inc(deleted)
            if deleted < 10_000:
                return

    async def _update_backlog(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at)) AS age"
            " FROM outbox WHERE sent_at IS NULL"
        )
        assert row is not None
        metrics.OUTBOX_BACKLOG.set(row["n"])
        metrics.OUTBOX_OLDEST_AGE.set(float(row["age"] or 0.0))
