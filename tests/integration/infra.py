"""The real infrastructure for a test session: a Kafka broker and a Postgres server.

Order of preference: endpoints from the environment (``KAFKA_BOOTSTRAP_SERVERS`` and
``DATABASE_URL``: use them, start nothing); a Docker engine, through testcontainers; else
our own broker (official jars) and embedded Postgres on free ports in a fresh folder, so a
test session never collides with a developer's ``make up``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    database_url: str
    how: str
    kafka_node: Any = None  # the local broker and database, when this session started them
    postgres_node: Any = None


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextmanager
def _containers() -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer().with_kraft() as kafka, PostgresContainer("postgres:18") as pg:
        url = pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")
        yield Infra(kafka.get_bootstrap_server(), url, "testcontainers")


@contextmanager
def _local() -> Iterator[Infra]:
    from laotie_stack.kafka import KafkaNode, ensure_jars
    from laotie_stack.postgres import PostgresNode
    from laotie_stack.procs import free_port

    libs = ensure_jars(ROOT, ROOT / ".laotie")
    work = Path(tempfile.mkdtemp(prefix="laotie-test-"))
    pg = PostgresNode(work / "postgres", free_port())
    kafka = KafkaNode(ROOT, libs, work / "kafka", free_port(), free_port())
    try:
        pg.start()
        kafka.start()
        yield Infra(kafka.bootstrap, pg.url, f"local processes in {work}", kafka, pg)
    finally:
        kafka.stop()
        pg.stop(mode="immediate")


@contextmanager
def session_infra() -> Iterator[Infra]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    if bootstrap and database:
        yield Infra(bootstrap, database, "from the environment")
    elif _docker_available():
        with _containers() as infra:
            yield infra
    else:
        with _local() as infra:
            yield infra
