"""Helpers for integration tests: deadlines instead of sleeps, reading topics, probe processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from laotie_common.kafka import ensure_topics
from laotie_common.settings import KafkaSettings, ServiceSettings
from laotie_contracts import all_topics
from laotie_contracts.orders import Attribution
from laotie_contracts.scoring import Resources, ScoreCurrent
from laotie_probe import probe
from laotie_probe.probe import ProbeSettings
from laotie_stack.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
PROBE_MIGRATIONS = Path(probe.__file__).parent / "probe_migrations"
A = TypeVar("A")


async def eventually(
    check: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 30.0,
    what: str = "condition",
    interval: float = 0.1,
) -> Any:
    """Await ``check()`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def read_topic(
    bootstrap: str, topic: str, *, expect: int = 0, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning up to its end offsets, read once at least
    ``expect`` records are there. A negative check (``expect=0``) still reads every partition
    to the end offsets it had when called: "no such record" means none was there to read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = await eventually(
            lambda: _partitions(consumer, topic), what=f"metadata of {topic}"
        )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while True:
            ends = await consumer.end_offsets(tps)
            await _read_to(consumer, ends, records, deadline, topic)
            if len(records) >= expect:
                break
            if time.monotonic() >= deadline:
                raise AssertionError(f"{topic}: expected {expect} records, got {len(records)}")
            await asyncio.sleep(0.1)
        records.sort(key=lambda r: (r.partition, r.offset))
        return records
    finally:
        await consumer.stop()


async def keyed_records(
    bootstrap: str,
    topic: str,
    key: str,
    *,
    until: Callable[[list[str]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of ``topic`` keyed ``key``, read again until ``until`` holds for their
    event types in order: a command's answer comes before the relay publishes its events."""

    async def read() -> list[ConsumerRecord[bytes, bytes]] | None:
        records = await read_topic(bootstrap, topic, timeout=timeout)
        mine = [r for r in records if r.key == key.encode()]
        return mine if until([header(r, "ce_type") or "" for r in mine]) else None

    found: list[ConsumerRecord[bytes, bytes]] = await eventually(
        read, timeout=timeout, what=f"the records of {key} on {topic}"
    )
    return found


async def _read_to(
    consumer: AIOKafkaConsumer,
    ends: dict[TopicPartition, int],
    records: list[ConsumerRecord[bytes, bytes]],
    deadline: float,
    topic: str,
) -> None:
    """Fetch into ``records`` until every partition's position has reached ``ends``."""
    while True:
        behind = [tp for tp, end in ends.items() if await consumer.position(tp) < end]
        if not behind:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{topic}: could not read to the end offsets {ends} ({len(records)} read)"
            )
        batch = await consumer.getmany(*behind, timeout_ms=200)
        records.extend(r for rs in batch.values() for r in rs)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic)


async def start_at_end(bootstrap: str, group: str, topics: tuple[str, ...]) -> None:
    """Commit the current end of ``topics`` for ``group``, so a fresh consumer group reads only
    what is published from now on (not what other tests left on the shared broker)."""
    await ensure_topics(KafkaSettings(kafka_bootstrap_servers=bootstrap), all_topics())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        tps: list[TopicPartition] = []
        for topic in topics:

            async def known(topic: str = topic) -> set[int] | None:
                return await _partitions(consumer, topic)

            partitions = await eventually(known, what=f"metadata of {topic}")
            tps += [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.commit(dict((await consumer.end_offsets(tps)).items()))
    finally:
        await consumer.stop()


async def group_at_end(bootstrap: str, service: str, topics: tuple[str, ...] = ()) -> str:
    """A new consumer group for ``service`` that starts at the current end of the topics it
    reads (``topics``, or the registry's for the service): it skips what earlier tests left on
    the session's topics and reads only what comes next."""
    from laotie_contracts.topics import consumed_by

    group = f"{service}-{uuid.uuid4().hex[:8]}"
    await start_at_end(bootstrap, group, topics or tuple(t.name for t in consumed_by(service)))
    return group


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str:
    for key, value in record.headers:
        if key == name:
            return str(value.decode())
    raise AssertionError(f"record {record.topic}/{record.partition}@{record.offset} has no {name}")


@dataclass
class ServiceProcess:
    """A service as a real OS process, configured like a deployment: by environment."""

    module: str
    env_vars: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Rows of the service's own schema."""
        conn = await asyncpg.connect(
            self.env_vars["DATABASE_URL"],
            server_settings={"search_path": self.env_vars["DB_SCHEMA"]},
        )
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def applied(self, ids: list[str]) -> int:
        """How many of the events ``ids`` the service has applied (its processed_events)."""
        sql = "SELECT count(*) AS n FROM processed_events WHERE event_id = ANY($1)"
        return int((await self.fetch(sql, ids))[0]["n"])

    async def audit_trail(self, actor: str) -> list[tuple[str, str, str | None, dict[str, str]]]:
        """What ``actor`` did, as the service's audit_log keeps it: role, action, reason
        and target, oldest first."""
        sql = "SELECT * FROM audit_log WHERE actor_id = $1 ORDER BY recorded_at"
        rows = await self.fetch(sql, actor)
        return [(r["actor_role"], r["action"], r["reason"], json.loads(r["target"])) for r in rows]

    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("FAULTS")},
            "HTTP_PORT": str(self.port),
            "LOG_FORMAT": "json",
            "CONSUMER_BACKOFF_INITIAL_S": "0.05",
            "CONSUMER_BACKOFF_MAX_S": "0.5",
            "OUTBOX_POLL_INTERVAL_S": "0.2",
            "GRACEFUL_TIMEOUT_S": "10",
            **self.env_vars,
        }

    def start(self) -> ServiceProcess:
        log_dir = ROOT / ".laotie" / "test-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.module}-{self.env_vars.get('DB_SCHEMA')}-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "serve"],
                env=self.env(),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    async def wait_ready(self, timeout: float = 60.0) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:

            async def ready() -> bool:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"{self.module} exited ({self.proc.returncode}):\n{self.log()}"
                    )
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=timeout, what=f"{self.module} /readyz")

    async def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        proc = self.proc

        async def exited() -> bool:
            return proc.poll() is not None

        await eventually(exited, timeout=timeout, what=f"{self.module} process to exit")
        return proc.returncode

    async def metrics(self) -> str:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            return (await http.get("/metrics")).text

    def kill(self) -> None:
        """kill -9: no graceful anything."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


def ProbeProcess(
    settings: ProbeSettings,
    extra_env: dict[str, str] | None = None,
) -> ServiceProcess:
    """The probe service as a process, with its own topic and schema."""
    return ServiceProcess(
        "laotie_probe.probe",
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "DATABASE_URL": settings.database_url,
            "DB_SCHEMA": settings.schema_name,
            "PROBE_TOPIC": settings.probe_topic,
            **(extra_env or {}),
        },
    )


CHUANLIU_POLICY = Path(__file__).resolve().parents[2] / (
    "services/chuanliu/src/laotie_chuanliu/policy/chuanliu.toml"
)


def chuanliu_policy(**settings: Any) -> str:
    """The Chuanliu policy with ``settings`` changed (``key = value`` lines), as a file.
    Tests run Chuanliu without its holdout unless they say otherwise: the holdout is drawn by
    a hash of buyer ids, which tests make at random, so who is granted would vary by run."""
    text = CHUANLIU_POLICY.read_text()
    for key, value in settings.items():
        text = "\n".join(
            f"{key} = {value}" if line.startswith(f"{key} =") else line
            for line in text.splitlines()
        )
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"chuanliu-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text)
    return str(path)


@contextlib.asynccontextmanager
async def running_service(
    module: str,
    bootstrap: str,
    database_url: str,
    *,
    admin: Any = None,
    **env: str,
) -> AsyncIterator[ServiceProcess]:
    """A service process on its own schema and consumer group, topics created, migrated.
    ``admin``: the KafkaSettings to create topics with (a secured broker's admin)."""
    from laotie_common.kafka import ensure_topics
    from laotie_common.settings import KafkaSettings
    from laotie_contracts import all_topics

    unique = uuid.uuid4().hex[:8]
    name = module.removeprefix("laotie_")
    env_vars = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "DB_SCHEMA": f"{name}_{unique}",
        "CONSUMER_GROUP": f"{name}-{unique}",
        **({"CHUANLIU_POLICY": chuanliu_policy(holdout_share=0.0)} if name == "chuanliu" else {}),
        **env,
    }
    await ensure_topics(admin or KafkaSettings(kafka_bootstrap_servers=bootstrap), all_topics())
    process = ServiceProcess(module, env_vars)
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "migrate",
        env=process.env(),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await migrate.communicate()
    assert migrate.returncode == 0, err.decode()
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def service_api(
    module: str,
    bootstrap: str,
    database_url: str,
    api: Callable[[httpx.AsyncClient, ServiceSettings], A],
    *,
    timeout: float = 30,
) -> AsyncIterator[tuple[A, ServiceProcess]]:
    """A service process (``running_service``) and ``api`` over a client of it, with the
    settings its tokens are minted with."""
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, database_url=database_url)
    async with (
        running_service(module, bootstrap, database_url) as process,
        httpx.AsyncClient(base_url=process.url, timeout=timeout) as client,
    ):
        yield api(client, settings), process


def poor_shop_score(shop: str, window_end: date, computed_at: datetime) -> ScoreCurrent:
    """The score a shop in the poor band has: less traffic, no subsidies, campaigns or
    Chuanliu grants."""
    return ScoreCurrent(
        subject_key=f"shop:{shop}",
        kind="shop",
        subject_id=shop,
        value=4.1,
        band="poor",
        components={},
        sample_orders=40,
        window_days=30,
        window_end=window_end.isoformat(),
        policy_version="scores/test",
        computed_at=computed_at,
        resources=Resources(
            traffic_weight=0.6,
            subsidy_eligible=False,
            campaign_eligible=False,
            paid_promotion_allowed=True,
            chuanliu_eligible=False,
        ),
    )


def promoted_by(creator: str, brand: str, commission_rate_bp: int = 1500) -> Attribution:
    """A shop-window sale through ``creator``'s promotion of ``brand``'s product (达人分销),
    as orders attributes it from a valid reference."""
    return Attribution(
        channel="distribution",
        creator_id=creator,
        commission_rate_bp=commission_rate_bp,
        plan_id=f"plan-{brand}",
        promotion_id=f"prm-{creator}",
    )


def order_facts(
    shop: str,
    order_id: str,
    buyer: str,
    total_fen: int,
    when: datetime,
    attribution: Attribution,
    **other: Any,
) -> dict[str, Any]:
    """The fields every order event carries, for one unit of one SKU placed at ``when``
    (a brand's product ``<shop>-p``, SKU ``k`` unless ``other`` says otherwise)."""
    facts: dict[str, Any] = dict(
        order_id=order_id,
        shop_id=shop,
        shop_kind="brand",
        buyer_id=buyer,
        product_id=f"{shop}-p",
        sku_id="k",
        quantity=1,
        unit_price_fen=total_fen,
        total_fen=total_fen,
        attribution=attribution,
        placed_at=when,
        occurred_at=when,
    )
    return facts | other


async def publish(bootstrap: str, *events: Any) -> list[Any]:
    """Publish contract events as their owning service would (CloudEvents, keyed by the
    aggregate); returns the envelopes, so a test can send the very same records again."""
    from laotie_common.envelope import Envelope

    envelopes = [Envelope.for_event(e, source="/laotie/test") for e in events]
    await republish(bootstrap, envelopes)
    return envelopes


async def republish(bootstrap: str, envelopes: list[Any]) -> None:
    from laotie_contracts import model_for

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            model = model_for(envelope.type)
            assert model is not None, envelope.type
            await producer.send_and_wait(
                model.topic,
                envelope.data,
                key=(envelope.key or "").encode(),
                headers=envelope.headers(),
            )
    finally:
        await producer.stop()


def order_events(shop: str, n: int, *, good: bool, days_ago: int = 20) -> list[Any]:
    """The facts the orders service would publish for n orders of a shop, paid ``days_ago``
    (matured): good ones shipped on time, delivered and reviewed 5 stars; bad ones overdue,
    reviewed 1 star and refunded for quality."""
    from laotie_contracts import orders as ev

    events: list[ev.OrderFacts] = []
    paid = datetime.now(UTC) - timedelta(days=days_ago)
    for i in range(n):
        via = ev.Attribution(
            channel="distribution", creator_id=f"{shop}-creator", commission_rate_bp=1000
        )
        base = order_facts(shop, f"{shop}-{good}-{i}", f"b{i}", 1000, paid, via)
        ship_by = paid + timedelta(hours=48)
        events.append(ev.OrderPaid(**base, status="paid", ship_by=ship_by))
        if good:
            shipped = paid + timedelta(hours=10)
            events.append(
                ev.OrderShipped(
                    **{**base, "occurred_at": shipped},
                    status="shipped",
                    tracking_number="T",
                    ship_by=ship_by,
                    late=False,
                )
            )
            events.append(
                ev.OrderDelivered(
                    **{**base, "occurred_at": shipped + timedelta(hours=24)},
                    status="delivered",
                    shipped_at=shipped,
                    auto_complete_at=shipped + timedelta(days=10),
                )
            )
            events.append(
                ev.OrderReviewed(
                    **base, status="completed", product_stars=5, logistics_stars=5, service_stars=5
                )
            )
        else:
            events.append(
                ev.ShipmentOverdue(
                    **{**base, "occurred_at": ship_by}, status="paid", ship_by=ship_by
                )
            )
            events.append(
                ev.OrderReviewed(
                    **base, status="completed", product_stars=1, logistics_stars=1, service_stars=1
                )
            )
            events.append(
                ev.OrderRefunded(
                    **base,
                    status="completed",
                    refunded_fen=1000,
                    refund_id=f"r{i}",
                    refund_kind="refund_only",
                    refund_reason="quality",
                    refund_amount_fen=1000,
                )
            )
    return events


async def live_session(
    bootstrap: str,
    api: Any,
    owner_id: str,
    *,
    owner_type: str = "anchor",
    shop_id: str | None = None,
    room_id: str | None = None,
) -> str:
    """A room with a session live in it, announced on ``live.room`` as the live service would,
    once the orders service has read it (a live-room order is accepted only then); its id."""
    from laotie_contracts import live

    room_id = room_id or f"room-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    room = {
        "room_id": room_id,
        "owner_type": owner_type,
        "owner_id": owner_id,
        "shop_id": shop_id,
        "title": "test room",
        "occurred_at": now,
    }
    session = room | {
        "session_id": f"session-{uuid.uuid4().hex[:8]}",
        "self_broadcast": owner_type == "brand",
        "started_at": now,
    }
    await publish(bootstrap, live.RoomCreated(**room), live.SessionStarted(**session))
    await api.until_live(room_id)
    return room_id


def session_ended(
    room_id: str,
    session_id: str,
    owner_id: str,
    *,
    owner_type: str = "anchor",
    shop_id: str | None = None,
    title: str = "test room",
) -> Any:
    """The event live publishes when a session ends (its totals zero: nobody bought)."""
    from laotie_contracts import live

    now = datetime.now(UTC)
    totals = live.SessionTotals(
        gmv_fen=0,
        refunded_fen=0,
        net_gmv_fen=0,
        orders=0,
        buyers=0,
        unique_viewers=0,
        peak_viewers=0,
        comments=0,
        conversion=0.0,
    )
    return live.SessionEnded(
        room_id=room_id,
        owner_type=owner_type,
        owner_id=owner_id,
        shop_id=shop_id,
        title=title,
        occurred_at=now,
        session_id=session_id,
        self_broadcast=owner_type == "brand",
        started_at=now,
        ended_at=now,
        reason="owner",
        totals=totals,
    )
