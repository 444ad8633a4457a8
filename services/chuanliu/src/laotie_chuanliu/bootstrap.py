"""Composition root of the `chuanliu` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Service, ServiceSpec
from laotie_common.settings import ServiceSettings

import laotie_chuanliu


class Settings(ServiceSettings):
    service_name: str = "chuanliu"


def build(settings: Settings | None = None) -> Service:
    spec = ServiceSpec(
        name="chuanliu",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_chuanliu.__doc__ or "",
    )
    return Service(spec, settings or Settings())
