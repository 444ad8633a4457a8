"""Composition root of the `live` service: its settings and how its parts are wired."""

from __future__ import annotations

from laotie_common.service import Job, Service, ServiceSpec
from laotie_common.settings import ServiceSettings

import laotie_live
from laotie_live import jobs
from laotie_live.handlers import HANDLERS
from laotie_live.routes import router
from laotie_live.usecases import Tx


class Settings(ServiceSettings):
    service_name: str = "live"
    http_port: int = 8002
    sessions_gauge_interval_s: float = 5.0


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    gauge = Job("sessions gauge", settings.sessions_gauge_interval_s, jobs.sample_live_sessions)
    return Service(ServiceSpec.of(laotie_live, router, HANDLERS, unit=Tx, jobs=[gauge]), settings)
