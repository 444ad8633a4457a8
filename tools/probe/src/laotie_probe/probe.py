"""The probe: a minimal service built only from the platform's plumbing.

It publishes ``probe.events.sent`` through the transactional outbox (``POST /probes``) and
consumes the same topic into ``probe_effects``. As a tap (``PROBE_TAP_TOPICS``) it also
applies every contract event of other services' topics into ``tapped_events``: a consumer of
the platform's delivery core whose effect counts applications, so a fault test can see an
event applied twice where the real services' idempotent effects would hide it. ``make run``
drives it as a smoke test of the whole path (HTTP → outbox → relay → Kafka → idempotent
consumer → effect), and the integration tests run it as a real process to kill it at exact
steps (``FAULTS``).

Run: ``python -m laotie_probe.probe serve|migrate``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from laotie_common import outbox
from laotie_common.auth import Principal, Role, require
from laotie_common.db import Connection
from laotie_common.entry import Commands, Reading, config
from laotie_common.envelope import Envelope
from laotie_common.problems import Conflict
from laotie_common.service import Service, ServiceSpec, Subscription, main
from laotie_common.settings import ServiceSettings
from laotie_common.uow import UnitOfWork
from laotie_contracts import Event, TopicSpec, event
from laotie_contracts.events import CATALOGUE
from pydantic import BaseModel, Field

PROBE_TOPIC_DEFAULT = "probe.events"


@event("probe.events.sent", topic=PROBE_TOPIC_DEFAULT, key="probe_key")
class ProbeSent(Event):
    """A synthetic event: ``seq`` orders the events of one ``probe_key``."""

    probe_key: str
    seq: int
    sent_at: datetime


class ProbeSettings(ServiceSettings):
    service_name: str = "probe"
    probe_topic: str = PROBE_TOPIC_DEFAULT
    probe_consume: bool = True
    # A planted bug for tests of dead letters and replay: this seq fails to apply.
    probe_bug_seq: int | None = None
    # Contract topics to tap: every event type registered on them is recorded as applied.
    probe_tap_topics: tuple[str, ...] = ()


def probe_topics(name: str) -> list[TopicSpec]:
    """The probe's topic and its dead-letter topic (outside the production registry)."""
    return [
        TopicSpec(
            name=name,
            owner="probe",
            key="probe_key",
            partitions=3,
            description="Synthetic probe events",
        ),
        TopicSpec(
            name="probe.dead-letter",
            owner="probe",
            key="original key",
            partitions=1,
            description="Probe dead letters",
        ),
    ]


class SendProbes(BaseModel):
    probe_key: str = Field(min_length=1, max_length=100)
    first_seq: int = Field(default=1, ge=0)
    count: int = Field(default=1, ge=1, le=10_000)


async def apply_probe(conn: Connection, envelope: Envelope, bug_seq: int | None = None) -> None:
    probe: ProbeSent = envelope.parse(ProbeSent)
    if bug_seq is not None and probe.seq == bug_seq:
        raise RuntimeError(f"planted bug: cannot apply seq {bug_seq}")
    await conn.execute(
        "INSERT INTO probe_effects (event_id, probe_key, seq, sent_at) VALUES ($1, $2, $3, $4)",
        envelope.id,
        probe.probe_key,
        probe.seq,
        probe.sent_at,
    )


async def write_probes(
    conn: Connection, settings: ProbeSettings, key: str, first_seq: int, count: int
) -> list[str]:
    ids = []
    for seq in range(first_seq, first_seq + count):
        env = await outbox.add(
            conn,
            ProbeSent(probe_key=key, seq=seq, sent_at=datetime.now(UTC)),
            source="/laotie/probe",
            topic=settings.probe_topic,
        )
        ids.append(env.id)
    return ids


router = APIRouter(tags=["probe"])


@router.post("/probes", status_code=201, summary="Publish probe events via the outbox")
async def send(
    body: SendProbes,
    command: Commands,
    settings: Annotated[ProbeSettings, Depends(config)],
    principal: Annotated[Principal, require(Role.OPERATOR, Role.SERVICE)],
) -> Any:
    async def probes(tx: UnitOfWork) -> dict[str, Any]:
        last = await tx.conn.fetchval(
            "SELECT max(seq) FROM probe_effects WHERE probe_key = $1", body.probe_key
        )
        if last is not None and body.first_seq <= last:
            raise Conflict(f"probe {body.probe_key} already reached seq {last}")
        ids = await write_probes(tx.conn, settings, body.probe_key, body.first_seq, body.count)
        return {"probe_key": body.probe_key, "event_ids": ids}

    return await command(principal, body, probes)


@router.get("/probes/summary", summary="What the probe consumer applied")
async def summary(conn: Reading, probe_key: str | None = None) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT count(*) AS applied, count(DISTINCT event_id) AS distinct_events,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY
                      EXTRACT(EPOCH FROM applied_at - sent_at)) AS p50_s,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY
                      EXTRACT(EPOCH FROM applied_at - sent_at)) AS p95_s
           FROM probe_effects WHERE $1::text IS NULL OR probe_key = $1""",
        probe_key,
    )
    return dict(row) if row is not None else {}


async def tap(tx: UnitOfWork, envelope: Envelope) -> None:
    await tx.conn.execute(
        "INSERT INTO tapped_events (event_id, event_type, event_key) VALUES ($1, $2, $3)",
        envelope.id,
        envelope.type,
        envelope.key or "",
    )


def tap_subscription(topics: tuple[str, ...]) -> Subscription:
    handlers = {ce_type: tap for ce_type, model in CATALOGUE.items() if model.topic in topics}
    return Subscription(handlers, topics=topics)


def build(settings: ProbeSettings | None = None) -> Service:
    settings = settings or ProbeSettings()
    subscriptions = (
        [
            Subscription(
                {
                    "probe.events.sent": lambda tx, env: apply_probe(
                        tx.conn, env, settings.probe_bug_seq
                    )
                },
                topics=[settings.probe_topic],
            )
        ]
        if settings.probe_consume
        else []
    )
    if settings.probe_tap_topics:
        subscriptions.append(tap_subscription(settings.probe_tap_topics))
    spec = ServiceSpec(
        name="probe",
        version="1",
        migrations=Path(__file__).parent / "probe_migrations",
        routers=[router],
        config=settings,
        subscriptions=subscriptions,
        description="Synthetic events through the platform's plumbing.",
    )
    return Service(spec, settings)


if __name__ == "__main__":
    raise SystemExit(main(build))
