"""Composition root of the `moderation` service: its settings and how its parts are wired."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Job, Service, ServiceSpec
from laotie_common.settings import ServiceSettings
from pydantic import Field

import laotie_moderation
from laotie_moderation import jobs
from laotie_moderation.handlers import HANDLERS
from laotie_moderation.policy import DEFAULT_POLICY, load_policy
from laotie_moderation.routes import router
from laotie_moderation.usecases import Tx


class Settings(ServiceSettings):
    service_name: str = "moderation"
    http_port: int = 8003
    moderation_policy: Path = DEFAULT_POLICY
    sweep_interval_s: float = 1.0
    appeal_window_s: int | None = Field(
        default=None,
        ge=1,
        description="Compressed appeal window in seconds, for demos and tests (`make run`);"
        " never set in production, where the policy's natural days apply.",
    )


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    policy = load_policy(settings.moderation_policy)
    if settings.appeal_window_s is not None:
        policy = policy.model_copy(update={"appeal_window_s": settings.appeal_window_s})
    sweep = Job("sweep", settings.sweep_interval_s, jobs.sweep)
    spec = ServiceSpec.of(laotie_moderation, router, HANDLERS, unit=Tx, config=policy, jobs=[sweep])
    return Service(spec, settings)
