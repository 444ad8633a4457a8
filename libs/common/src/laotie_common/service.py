"""The composition root every service uses: settings, pool, broker, relay and HTTP side,
wired in one place inside the ASGI lifespan (never a client created at import time).

Start: pool → producer → relay → consumers (FastStream broker) → HTTP traffic.
Graceful stop (SIGTERM): uvicorn stops taking requests and finishes in-flight ones; then
consumers stop fetching, finish the record in hand and leave their groups (offsets of
applied records are already committed); the relay publishes what is left in the outbox; the
producer flushes; the pool closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import ssl as ssl_module
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from laotie_contracts import dead_letter_topic, model_for
from laotie_contracts.audit import RECORDED
from laotie_contracts.topics import consumed_by
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from laotie_common import housekeeping, http_server, metrics
from laotie_common.consumer import EventConsumer
from laotie_common.db import Connection, create_pool
from laotie_common.group_commit import Batch, GroupCommit
from laotie_common.kafka import make_producer
from laotie_common.logs import configure_logging, get_logger
from laotie_common.migrations import COMMON_MIGRATIONS, migrate
from laotie_common.problems import install_problem_handlers, problem_body, problem_response
from laotie_common.relay import OutboxRelay
from laotie_common.settings import ServiceSettings
from laotie_common.shedding import ConcurrencyLimit, RateLimit
from laotie_common.uow import CommandRunner, UnitOfWork, Units, in_units

log = get_logger(__name__)
MAX_BODY_BYTES = 1_000_000


# The server stack: uvloop's event loop and httptools' parser (C, not pure Python); services
# run httptools' protocol with read deadlines (``laotie_common.http_server``).
SERVER_LOOP, SERVER_HTTP = "uvloop", "httptools"


@dataclass
class Subscription:
    """One consumer group: the handler of each event type it applies, each taking a ready
    unit of work (``ServiceSpec.unit``) and the envelope. Its topics are the registry's
    (``laotie_contracts.consumed_by``), and every handled type must travel on one of them;
    ``topics`` names topics outside the registry instead (the probe's)."""

    handlers: Mapping[str, Callable[..., Awaitable[Any]]]
    group: str | None = None  # defaults to the service name
    topics: Sequence[str] = ()


@dataclass(frozen=True)
class Job:
    """Periodic work every replica runs every ``every_s`` seconds: ``work`` in a unit of work
    of its own, or, with ``units``, given the service's :class:`~laotie_common.uow.Units` to
    open as many as it needs. A failed round is logged and the next one comes anyway."""

    name: str
    every_s: float
    work: Callable[[Any], Awaitable[object]]
    units: bool = False


@dataclass
class ServiceSpec:
    name: str
    version: str
    migrations: Path | None
    # The service's unit of work, built for each command, handler call and job round.
    unit: Callable[[Connection, datetime], UnitOfWork] = UnitOfWork
    routers: Sequence[APIRouter] = ()
    subscriptions: Sequence[Subscription] = ()
    jobs: Sequence[Job] = ()
    description: str = ""
    # What the routes' dependencies hand out (a policy, windows): ``laotie_common.entry``.
    config: Any = None
    on_error: Callable[[Request, Exception], Exception | None] | None = None
    lanes: Mapping[str, Batch] = field(default_factory=dict)  # group-committed commands

    @classmethod
    def of(
        cls,
        package: ModuleType,
        router: APIRouter,
        handlers: Mapping[str, Callable[..., Awaitable[Any]]],
        *,
        unit: Callable[..., UnitOfWork] = UnitOfWork,
        config: Any = None,
        **parts: Any,
    ) -> ServiceSpec:
        """The spec of the service whose package is ``package`` (``laotie_<name>``): name,
        version (its distribution's), description (its docstring) and migrations (its
        ``migrations/``) from the package; its routes, one consumer group applying
        ``handlers``, and its unit of work, built with each connection and clock reading and
        then ``config`` when the service has one (its policy, windows); ``parts`` the rest."""
        name = package.__name__.removeprefix("laotie_")
        return cls(
            name=name,
            version=importlib.metadata.version(f"laotie-{name}"),
            migrations=Path(str(package.__file__)).parent / "migrations",
            unit=unit if config is None else functools.partial(_configured, unit, config),
            routers=[router],
            subscriptions=[Subscription(handlers)],
            description=package.__doc__ or "",
            config=config,
            **parts,
        )


def _configured(
    unit: Callable[..., UnitOfWork], config: Any, conn: Connection, now: datetime
) -> UnitOfWork:
    return unit(conn, now, config)


def subscribed(topics: list[str], handlers: Mapping[str, object]) -> list[str]:
    """``topics``, once every handled event type is known to travel on one of them."""
    for ce_type in handlers:
        model = model_for(ce_type)
        if model is None or model.topic not in topics:
            where = model.topic if model else "no topic"
            raise ValueError(f"{ce_type} ({where}) is handled but not subscribed: {topics}")
    return topics


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    security: BaseSecurity | None = None
    ssl = cast("ssl_module.SSLContext | None", settings.client_args().get("ssl_context"))
    if settings.kafka_sasl_mechanism:
        password = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        )
        cls = {
            "PLAIN": SASLPlaintext,
            "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512,
        }[settings.kafka_sasl_mechanism]
        security = cls(settings.kafka_sasl_username or "", password, ssl_context=ssl)
    elif ssl is not None:
        security = BaseSecurity(ssl_context=ssl)
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=security,
        client_id=settings.service_name,
        allow_auto_create_topics=False,  # topics come from the registry, never by accident
        graceful_timeout=settings.graceful_timeout_s,
        enable_idempotence=True,
        # FastStream logs per message at INFO (dropped: stdlib level is WARNING+) and its
        # consumer-loop errors at ERROR (kept: a stuck subscriber must be visible).
    )


class Service:
    """A running service: the objects its routes and handlers share."""

    def __init__(self, spec: ServiceSpec, settings: ServiceSettings) -> None:
        self.spec = spec
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.broker = make_broker(settings)
        self.commands: CommandRunner[Any] = CommandRunner(
            lambda: self.pool,
            spec.unit,
            on_error=spec.on_error,
            group=GroupCommit(
                lambda: self.pool, max_batch=settings.command_group_max, lanes=dict(spec.lanes)
            )
            if spec.lanes
            else None,
            limit=RateLimit(
                settings.command_rate_per_principal, settings.command_burst_per_principal
            ),
            audit=RECORDED.get(spec.name),
        )
        self.units: Units[Any] = Units(lambda: self.pool, spec.unit)
        tidy = functools.partial(housekeeping.prune, settings=settings)
        housekeeping_job = Job("housekeeping", settings.housekeeping_interval_s, tidy, units=True)
        self.jobs = [*spec.jobs, housekeeping_job]
        self.consumers = [self._consumer(sub) for sub in spec.subscriptions]
        for consumer in self.consumers:
            consumer.attach(self.broker)
        self._lag_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []

    def _consumer(self, sub: Subscription) -> EventConsumer:
        topics = list(sub.topics) or subscribed(
            [t.name for t in consumed_by(self.spec.name)], sub.handlers
        )
        return EventConsumer(
            name=sub.group or self.settings.consumer_group or self.spec.name,
            topics=topics,
            handlers={t: in_units(self.spec.unit, h) for t, h in sub.handlers.items()},
            settings=self.settings,
            pool_getter=lambda: self.pool,
            producer_getter=lambda: self.producer,
            dead_letter_topic=dead_letter_topic(self.spec.name).name,
        )

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the pool is not open (service not started)")
        return self._pool

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the producer is not started (service not started)")
        return self._producer

    async def migrate(self) -> list[str]:
        sources = [("common", COMMON_MIGRATIONS)]
        if self.spec.migrations is not None:
            sources.append((self.spec.name, self.spec.migrations))
        return await migrate(self.settings.database_url, self.settings.schema_name, sources)

    async def start(self) -> None:
        self._pool = await create_pool(self.settings)
        self._producer = make_producer(self.settings)
        await self._producer.start()
        self.relay = OutboxRelay(self.settings, self._producer)
        self.relay.start()
        if self.consumers:
            await self.broker.start()
        self._lag_task = asyncio.create_task(self._watch_lag())
        self._background = [asyncio.create_task(self._every(job)) for job in self.jobs]
        self._background += [asyncio.create_task(c.flush_periodically()) for c in self.consumers]
        log.info("service started", version=self.spec.version)

    async def stop(self) -> None:
        log.info("service stopping")
        for task in [*self._background, *([self._lag_task] if self._lag_task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in self.consumers:
            consumer.stopping = True
        for consumer in self.consumers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.flush(), self.settings.graceful_timeout_s)
        if self.consumers:
            await self.broker.stop()  # waits for in-flight handlers up to graceful_timeout
        if self.relay:
            await self.relay.stop(flush=True)
        if self._producer:
            await self._producer.stop()  # flushes pending sends
        if self._pool:
            await self._pool.close()
        log.info("service stopped")

    async def _every(self, job: Job) -> None:
        while True:
            try:
                if job.units:
                    await job.work(self.units)
                else:
                    async with self.units() as unit:
                        await job.work(unit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job failed; retrying", job=job.name, error=repr(exc))
            await asyncio.sleep(job.every_s)

    async def _watch_lag(self) -> None:
        while True:
            await asyncio.sleep(5)
            for consumer in self.consumers:
                with contextlib.suppress(Exception):
                    await consumer.update_lag()

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {}
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
            checks["postgres"] = True
        except Exception:
            checks["postgres"] = False
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout=3)
            checks["kafka"] = True
        except Exception:
            checks["kafka"] = False
        for consumer in self.consumers:
            checks[f"consumer:{consumer.name}"] = consumer.ready()
        for dependency, up in checks.items():
            metrics.DEPENDENCY_UP.labels(dependency).set(1 if up else 0)
        return checks

    # --- HTTP side --------------------------------------------------------------------
    def asgi(self) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=f"Laotie {self.spec.name}",
            version=self.spec.version,
            description=self.spec.description,
            lifespan=lifespan,
        )
        app.state.settings = self.settings
        app.state.service = self
        install_problem_handlers(app)
        app.add_middleware(ConcurrencyLimit, limit=self.settings.http_max_in_flight)
        app.add_middleware(_RedAndLimits)  # outermost: shed requests are counted too
        app.include_router(self._ops_router())
        for router in self.spec.routers:
            app.include_router(router)
        return app

    def _ops_router(self) -> APIRouter:
        router = APIRouter(tags=["operations"])

        @router.get("/healthz", summary="Liveness: the process serves requests")
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": self.spec.name}

        @router.get(
            "/readyz",
            summary="Readiness: Postgres and consumer groups joined; Kafka down is 'degraded'",
        )
        async def readyz() -> JSONResponse:
            checks = await self.readiness()
            # Commands need only Postgres (their events wait in the outbox), and consumers
            # that have joined their groups once: a broker incident degrades, never unreadies
            # (every replica leaving the load balancer at once would turn it into an outage).
            ok = all(up for name, up in checks.items() if name != "kafka")
            status = "degraded" if ok and not all(checks.values()) else "ready"
            return JSONResponse(
                {"status": status if ok else "not ready", "checks": checks},
                status_code=200 if ok else 503,
            )

        @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
        async def prometheus() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        return router

    def run(self) -> None:
        configure_logging(
            self.spec.name, level=self.settings.log_level, fmt=self.settings.log_format
        )
        uvicorn.run(
            self.asgi(),
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
            loop=SERVER_LOOP,
            http=http_server.protocol(self.settings.http_header_timeout_s),  # httptools'
            timeout_graceful_shutdown=int(self.settings.graceful_timeout_s),
        )


def main(build: Callable[[], Service], argv: Sequence[str] | None = None) -> int:
    """The entry point of every service: ``python -m laotie_<name> serve|migrate``."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "serve"
    if command not in ("serve", "migrate"):
        print("usage: python -m laotie_<service> serve|migrate", file=sys.stderr)
        return 2
    service = build()
    if command == "migrate":
        applied = asyncio.run(service.migrate())
        print(f"{service.spec.name}: {len(applied)} migration(s) applied {applied}")
        return 0
    service.run()
    return 0


class _RedAndLimits:
    """RED metrics per route template, and a body size limit: a declared length past
    ``MAX_BODY_BYTES`` is refused before reading (413 with a problem body); a body sent
    without one (chunked) is counted as the route reads it and the read fails with 413 past
    the limit, so nothing past it is buffered. Pure ASGI: no task or stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            too_large = problem_body(
                413,
                "Payload too large",
                f"request bodies are limited to {MAX_BODY_BYTES} bytes",
                "payload-too-large",
                scope["path"],
            )
            await problem_response(too_large)(scope, receive, send)
            return
        started = time.perf_counter()
        status, received = 500, 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise StarletteHTTPException(
                        413, f"request bodies are limited to {MAX_BODY_BYTES} bytes"
                    )
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, limited, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.HTTP_REQUEST_SECONDS.labels(scope["method"], route).observe(
                time.perf_counter() - started
            )
