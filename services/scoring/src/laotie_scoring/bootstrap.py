"""Composition root of the `scoring` service: its settings and how its parts are wired."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Job, Service, ServiceSpec
from laotie_common.settings import ServiceSettings

import laotie_scoring
from laotie_scoring import jobs
from laotie_scoring.handlers import HANDLERS
from laotie_scoring.policy import DEFAULT_POLICY, load_policy
from laotie_scoring.routes import router
from laotie_scoring.usecases import Tx


class Settings(ServiceSettings):
    service_name: str = "scoring"
    http_port: int = 8004
    score_policy: Path = DEFAULT_POLICY
    window_slide_interval_s: float = 300.0


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    policy = load_policy(settings.score_policy)
    slide = Job("window slide", settings.window_slide_interval_s, jobs.slide_windows, units=True)
    spec = ServiceSpec.of(laotie_scoring, router, HANDLERS, unit=Tx, config=policy, jobs=[slide])
    return Service(spec, settings)
