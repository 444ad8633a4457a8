"""Composition root of the `chuanliu` service: its settings and how its parts are wired."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Job, Service, ServiceSpec
from laotie_common.settings import ServiceSettings
from pydantic import Field

import laotie_chuanliu
from laotie_chuanliu import jobs
from laotie_chuanliu.handlers import HANDLERS
from laotie_chuanliu.policy import DEFAULT_POLICY, load_policy
from laotie_chuanliu.routes import router
from laotie_chuanliu.usecases import Tx


class Settings(ServiceSettings):
    service_name: str = "chuanliu"
    http_port: int = 8005
    chuanliu_policy: Path = DEFAULT_POLICY
    budget_gauge_interval_s: float = 5.0
    top_up_check_interval_s: float = 5.0
    top_up_every_s: float | None = Field(
        default=None,
        description="Overrides the policy's grants.top_up_every_s (a compressed evening for"
        " demos and tests, TOP_UP_EVERY_S; never set in production).",
    )


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    policy = load_policy(settings.chuanliu_policy)
    if settings.top_up_every_s is not None:
        grants = policy.grants.model_copy(update={"top_up_every_s": settings.top_up_every_s})
        policy = policy.model_copy(update={"grants": grants})
    gauges = Job("budget gauges", settings.budget_gauge_interval_s, jobs.sample_budget)
    top_ups = Job("top-ups", settings.top_up_check_interval_s, jobs.top_up_sessions, units=True)
    spec = ServiceSpec.of(
        laotie_chuanliu, router, HANDLERS, unit=Tx, config=policy, jobs=[gauges, top_ups]
    )
    return Service(spec, settings)
