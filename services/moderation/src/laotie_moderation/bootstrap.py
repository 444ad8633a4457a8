"""Composition root of the `moderation` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from laotie_common.logs import get_logger
from laotie_common.service import Service, ServiceSpec, Subscription
from laotie_common.settings import ServiceSettings

import laotie_moderation
from laotie_moderation import usecases
from laotie_moderation.detection import handlers
from laotie_moderation.policy import DEFAULT_POLICY, Policy, load_policy
from laotie_moderation.routes import moderation_router

log = get_logger(__name__)


class Settings(ServiceSettings):
    service_name: str = "moderation"
    http_port: int = 8003
    moderation_policy: Path = DEFAULT_POLICY
    sweep_interval_s: float = 1.0


async def run_sweeper(service: Service, policy: Policy, interval_s: float) -> None:
    """Book points whose appeal window lapsed; expire penalties whose measures ran out."""
    while True:
        try:
            async with service.pool.acquire() as conn, conn.transaction():
                tx = usecases.Tx(conn, datetime.now(UTC), policy)
                booked = await usecases.book_due_points(tx)
                expired = await usecases.expire_penalties(tx)
            tx.committed()
            if booked or expired:
                log.info("moderation sweep", points_booked=booked, penalties_expired=expired)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("moderation sweep failed; retrying", error=repr(exc))
        await asyncio.sleep(interval_s)


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    policy = load_policy(settings.moderation_policy)
    spec = ServiceSpec(
        name="moderation",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_moderation.__doc__ or "",
        routers=[lambda service: moderation_router(service, policy)],
        subscriptions=[
            Subscription(
                topics=["live.comment", "live.room", "orders.product", "orders.order"],
                handlers=handlers(policy),
            )
        ],
        background=[lambda s: run_sweeper(s, policy, settings.sweep_interval_s)],
    )
    return Service(spec, settings)
