"""Composition root of the `live` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from laotie_common import metrics
from laotie_common.service import Service, ServiceSpec, Subscription
from laotie_common.settings import ServiceSettings

import laotie_live
from laotie_live.consumers import handlers
from laotie_live.routes import live_router


class Settings(ServiceSettings):
    service_name: str = "live"
    http_port: int = 8002
    sessions_gauge_interval_s: float = 5.0


async def sample_live_sessions(service: Service, interval_s: float) -> None:
    while True:
        # A failed sample is skipped, never fatal.
        with contextlib.suppress(Exception):
            metrics.LIVE_SESSIONS.set(
                await service.pool.fetchval("SELECT count(*) FROM sessions WHERE ended_at IS NULL")
            )
        await asyncio.sleep(interval_s)


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    spec = ServiceSpec(
        name="live",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_live.__doc__ or "",
        routers=[live_router],
        subscriptions=[
            Subscription(
                topics=[
                    "orders.order",
                    "orders.product",
                    "moderation.penalty",
                    "moderation.violation",
                ],
                handlers=handlers(),
            )
        ],
        background=[lambda s: sample_live_sessions(s, settings.sessions_gauge_interval_s)],
    )
    return Service(spec, settings)
