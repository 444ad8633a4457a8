"""Composition root of the `chuanliu` service: its settings and how its parts are wired."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Job, Service, ServiceSpec
from laotie_common.settings import ServiceSettings

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


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    policy = load_policy(settings.chuanliu_policy)
    gauges = Job("budget gauges", settings.budget_gauge_interval_s, jobs.sample_budget)
    spec = ServiceSpec.of(laotie_chuanliu, router, HANDLERS, unit=Tx, config=policy, jobs=[gauges])
    return Service(spec, settings)
