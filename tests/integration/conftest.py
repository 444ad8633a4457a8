from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from laotie_common.kafka import ensure_topics
from laotie_common.migrations import COMMON_MIGRATIONS, migrate
from laotie_contracts import TopicSpec
from laotie_evening.client import OrdersApi
from laotie_probe.probe import ProbeSettings, probe_topics

from tests.integration.infra import Infra, session_infra
from tests.integration.kit import PROBE_MIGRATIONS, ServiceProcess, service_api


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with session_infra() as found:
        print(
            f"\ninfrastructure: Kafka {found.kafka_bootstrap}, Postgres {found.database_url}"
            f" ({found.how})"
        )
        yield found


@pytest.fixture
def unique() -> str:
    """A short unique suffix: each test gets its own topic and schema."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def probe_settings(infra: Infra, unique: str) -> ProbeSettings:
    """Settings for a probe with its own topic and schema, both created and migrated."""
    settings = ProbeSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        database_url=infra.database_url,
        db_schema=f"probe_{unique}",
        probe_topic=f"probe.t{unique}",
        consumer_backoff_initial_s=0.05,
        consumer_backoff_max_s=0.5,
        outbox_poll_interval_s=0.2,
    )
    await ensure_topics(settings, probe_topics(settings.probe_topic))
    await migrate(
        settings.database_url,
        settings.schema_name,
        [("common", COMMON_MIGRATIONS), ("probe", PROBE_MIGRATIONS)],
    )
    return settings


@pytest.fixture
async def db(probe_settings: ProbeSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(
        probe_settings.database_url,
        server_settings={"search_path": probe_settings.schema_name},
    )
    yield conn
    await asyncio.wait_for(conn.close(), 10)


def single_partition_topic(name: str) -> TopicSpec:
    return TopicSpec(
        name=name, owner="probe", key="probe_key", partitions=1, description="test topic"
    )


@pytest.fixture(scope="module")
async def orders_service(infra: Infra) -> AsyncIterator[tuple[OrdersApi, ServiceProcess]]:
    """The orders service as a process for one test module, with an API client."""
    async with service_api(
        "laotie_orders", infra.kafka_bootstrap, infra.database_url, OrdersApi
    ) as running:
        yield running
