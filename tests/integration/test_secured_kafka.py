"""The services on a secured broker: SASL_SSL with SCRAM-SHA-512 and ACLs from the registry.

A second, secured Kafka node (its own ports and folder) requires TLS (a certificate the
clients verify) and a SCRAM login on its only client listener, and denies everything no ACL
allows. Each service principal gets exactly ``laotie_contracts.acls.service_acls``. The
orders and live services, configured only by environment (``KAFKA_SECURITY_PROTOCOL``,
``KAFKA_SASL_*``, ``KAFKA_SSL_CAFILE``), then do their job across it; and the broker itself
refuses what the ACLs do not allow: writing another service's topic, reading a topic not
consumed, another service's consumer group, a wrong password, a client without TLS.
"""

from __future__ import annotations

import functools
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from laotie_common.kafka import ensure_topics
from laotie_common.settings import KafkaSettings, ServiceSettings
from laotie_contracts import all_topics
from laotie_contracts import topic as registry_topic
from laotie_evening.client import OrdersApi
from laotie_stack.kafka import KafkaNode, KafkaSecurity, ensure_jars
from laotie_stack.procs import free_port
from pydantic import SecretStr

from tests.integration.infra import ROOT, Infra
from tests.integration.kit import eventually, header, running_service

pytestmark = pytest.mark.integration

USERS = {name: secrets.token_urlsafe(12) for name in ("admin", "orders", "live", "intruder")}


@pytest.fixture(scope="module")
def secured() -> Iterator[KafkaNode]:
    work = Path(tempfile.mkdtemp(prefix="laotie-secured-"))
    node = KafkaNode(
        ROOT,
        ensure_jars(ROOT, ROOT / ".laotie"),
        work / "kafka",
        free_port(),
        free_port(),
        security=KafkaSecurity(users=USERS),
    )
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)


def _settings(node: KafkaNode, user: str, password: str | None = None) -> KafkaSettings:
    return KafkaSettings(
        kafka_bootstrap_servers=node.bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=user,
        kafka_sasl_password=SecretStr(password or USERS[user]),
        kafka_ssl_cafile=str(node.ca_file),
    )


def _env(node: KafkaNode, user: str) -> dict[str, str]:
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": USERS[user],
        "KAFKA_SSL_CAFILE": str(node.ca_file),
    }


@pytest.fixture(scope="module")
async def granted(secured: KafkaNode) -> KafkaNode:
    await ensure_topics(_settings(secured, "admin"), all_topics())
    for service in ("orders", "live"):
        secured.grant(service)
    return secured


async def test_services_work_over_sasl_ssl_with_only_their_acls(
    granted: KafkaNode, infra: Infra
) -> None:
    admin = _settings(granted, "admin")
    async with (
        running_service(
            "laotie_orders",
            granted.bootstrap,
            infra.database_url,
            admin=admin,
            **_env(granted, "orders"),
        ) as orders,
        running_service(
            "laotie_live",
            granted.bootstrap,
            infra.database_url,
            admin=admin,
            **_env(granted, "live"),
        ) as live,
        httpx.AsyncClient(base_url=orders.url, timeout=30) as client,
    ):
        api = OrdersApi(client, ServiceSettings(**admin.model_dump(), database_url="x"))
        seller = await api.new_shop()
        product = await api.new_product(seller, title="Secured scarf")
        product_id = product["product_id"]

        async def seen_by_live() -> bool:
            conn = await asyncpg.connect(
                infra.database_url, server_settings={"search_path": live.env_vars["DB_SCHEMA"]}
            )
            try:
                return bool(
                    await conn.fetchval(
                        "SELECT status = 'active' FROM products WHERE product_id = $1", product_id
                    )
                )
            finally:
                await conn.close()

        # orders' relay wrote it as User:orders; live's consumer read it as User:live.
        await eventually(seen_by_live, timeout=60, what="live to apply the listed product")
        records = await _read(admin, "orders.product")
        mine = [r for r in records if r.key == product_id.encode()]
        assert [header(r, "ce_type") for r in mine] == ["orders.product.listed"]
        assert "dead" not in orders.log().lower()
        assert "authoriz" not in live.log().lower()
        print(f"\norders → live over SASL_SSL as User:orders / User:live: product {product_id}")


async def _read(
    settings: KafkaSettings, topic: str, group: str | None = None, until_key: bytes | None = None
) -> list[Any]:
    """Records of ``topic`` (its partitions from the registry), as ``group`` if given: a
    group's committed offsets are fetched, so the broker checks the group ACL too. Reads one
    batch, or with ``until_key`` on until a record with that key came (or ten batches)."""
    consumer = AIOKafkaConsumer(
        **settings.client_args(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(registry_topic(topic).partitions)]
        consumer.assign(tps)
        if group is not None:
            await consumer.committed(tps[0])
        else:
            await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        for _ in range(3 if until_key is None else 10):
            batch = await consumer.getmany(timeout_ms=1000)
            records += [r for rs in batch.values() for r in rs]
            if records and (until_key is None or any(r.key == until_key for r in records)):
                break
        return records
    finally:
        await consumer.stop()


async def _produce(settings: KafkaSettings, topic: str, key: bytes = b"k") -> None:
    producer = AIOKafkaProducer(**settings.client_args(), request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=key)
    finally:
        await producer.stop()


async def _refused(what: str, expected: str, action: Awaitable[Any]) -> str:
    """``action`` must fail with Kafka error ``expected`` (aiokafka raises some as its
    class, some wrapped in a plain KafkaError naming it)."""
    started = time.monotonic()
    try:
        await action
    except KafkaError as exc:
        found = f"{type(exc).__name__}: {exc}"
    else:
        raise AssertionError(f"{what}: the broker allowed it")
    assert expected in found, f"{what}: expected {expected}, got {found}"
    return f"{what} -> {found[:90]} ({time.monotonic() - started:.1f}s)"


async def _plaintext_produce(node: KafkaNode) -> None:
    plain = KafkaSettings(kafka_bootstrap_servers=node.bootstrap)
    producer = AIOKafkaProducer(**plain.client_args(), request_timeout_ms=5000)
    try:
        await producer.start()
        await producer.send_and_wait("orders.order", b"{}")
    finally:
        await producer.stop()


async def test_the_broker_refuses_what_the_acls_do_not_allow(granted: KafkaNode) -> None:
    as_ = functools.partial(_settings, granted)
    # What the ACLs allow works: orders writes its own topic, live reads it in its group.
    key = f"acl-{uuid.uuid4().hex[:8]}".encode()
    await _produce(as_("orders"), "orders.product", key)
    read = await _read(
        as_("live"), "orders.product", group=f"live-{uuid.uuid4().hex[:6]}", until_key=key
    )
    assert [r.value for r in read if r.key == key] == [b"{}"], "live read what orders wrote"
    topic_denied, group_denied = "TopicAuthorizationFailed", "GroupAuthorizationFailed"
    refused = [
        await _refused(
            "User:orders writes live.room", topic_denied, _produce(as_("orders"), "live.room")
        ),
        await _refused(
            "User:live writes orders.order", topic_denied, _produce(as_("live"), "orders.order")
        ),
        await _refused(
            "User:live reads chuanliu.traffic (not consumed by live)",
            topic_denied,
            _read(as_("live"), "chuanliu.traffic", group="live"),
        ),
        await _refused(
            "User:live uses an orders consumer group",
            group_denied,
            _read(as_("live"), "orders.order", group=f"orders-{uuid.uuid4().hex[:6]}"),
        ),
        await _refused(
            "User:intruder (valid login, no ACL) writes orders.product",
            topic_denied,
            _produce(as_("intruder"), "orders.product"),
        ),
        await _refused(
            "User:intruder joins a group",
            group_denied,
            _read(as_("intruder"), "orders.product", group="intruder"),
        ),
        await _refused(
            "User:orders with a wrong password",
            "KafkaConnectionError",
            _produce(as_("orders", "not-the-password"), "orders.order"),
        ),
        await _refused(
            "a client without TLS or SASL", "KafkaConnectionError", _plaintext_produce(granted)
        ),
    ]
    await _produce(as_("orders"), "orders.dead-letter")  # its own dead-letter topic
    print("\nrefused by the secured broker:\n  " + "\n  ".join(refused))
