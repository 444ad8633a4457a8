"""Composition root of the `chuanliu` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

from laotie_common import metrics
from laotie_common.service import Service, ServiceSpec, Subscription
from laotie_common.settings import ServiceSettings

import laotie_chuanliu
from laotie_chuanliu.bridge import Tx, budget_view
from laotie_chuanliu.consumers import handlers
from laotie_chuanliu.policy import DEFAULT_POLICY, ChuanliuPolicy, load_policy
from laotie_chuanliu.routes import chuanliu_router


class Settings(ServiceSettings):
    service_name: str = "chuanliu"
    http_port: int = 8005
    chuanliu_policy: Path = DEFAULT_POLICY
    budget_gauge_interval_s: float = 5.0


async def sample_budget(service: Service, policy: ChuanliuPolicy, interval_s: float) -> None:
    while True:
        with contextlib.suppress(Exception):  # a skipped sample is not fatal
            async with service.pool.acquire() as conn, conn.transaction():
                view = await budget_view(Tx(conn, datetime.now(UTC), policy))
            metrics.CHUANLIU_BUDGET_LEFT.set(view["left"])
            metrics.CHUANLIU_BUDGET_GRANTABLE.set(view["grantable_now"])
        await asyncio.sleep(interval_s)


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    policy = load_policy(settings.chuanliu_policy)
    spec = ServiceSpec(
        name="chuanliu",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_chuanliu.__doc__ or "",
        routers=[lambda service: chuanliu_router(service, policy)],
        subscriptions=[
            Subscription(
                topics=["orders.order", "live.room", "scoring.score-latest", "moderation.penalty"],
                handlers=handlers(policy),
            )
        ],
        background=[lambda s: sample_budget(s, policy, settings.budget_gauge_interval_s)],
    )
    return Service(spec, settings)
