"""Composition root of the `scoring` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from laotie_common import metrics
from laotie_common.logs import get_logger
from laotie_common.service import Service, ServiceSpec, Subscription
from laotie_common.settings import ServiceSettings

import laotie_scoring
from laotie_scoring.consumers import handlers
from laotie_scoring.domain import ScorePolicy
from laotie_scoring.policy import DEFAULT_POLICY, load_policy
from laotie_scoring.routes import scoring_router
from laotie_scoring.store import recompute, shanghai_day

log = get_logger(__name__)


class Settings(ServiceSettings):
    service_name: str = "scoring"
    http_port: int = 8004
    score_policy: Path = DEFAULT_POLICY
    window_slide_interval_s: float = 300.0


async def slide_windows(service: Service, policy: ScorePolicy, interval_s: float) -> None:
    """As days pass, windows move without any new event: rescore what was last computed
    for an earlier day. Safe in every replica (row locks, unchanged scores publish nothing)."""
    while True:
        try:
            now = datetime.now(UTC)
            today = shanghai_day(policy, now)
            stale = await service.pool.fetch(
                "SELECT kind, subject_id FROM scores WHERE window_end < $1 LIMIT 500", today
            )
            for row in stale:
                async with service.pool.acquire() as conn, conn.transaction():
                    await recompute(conn, policy, row["kind"], row["subject_id"], now)
            for row in await service.pool.fetch(
                "SELECT kind, band, count(*) AS n FROM scores GROUP BY kind, band"
            ):
                metrics.SCORE_SUBJECTS.labels(row["kind"], row["band"]).set(row["n"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("window slide failed; retrying", error=repr(exc))
        await asyncio.sleep(interval_s)


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    policy = load_policy(settings.score_policy)
    spec = ServiceSpec(
        name="scoring",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_scoring.__doc__ or "",
        routers=[lambda service: scoring_router(service, policy)],
        subscriptions=[
            Subscription(topics=["orders.order", "moderation.penalty"], handlers=handlers(policy))
        ],
        background=[lambda s: slide_windows(s, policy, settings.window_slide_interval_s)],
    )
    return Service(spec, settings)
