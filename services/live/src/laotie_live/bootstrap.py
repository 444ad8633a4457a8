"""Composition root of the `live` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Service, ServiceSpec
from laotie_common.settings import ServiceSettings

import laotie_live


class Settings(ServiceSettings):
    service_name: str = "live"


def build(settings: Settings | None = None) -> Service:
    spec = ServiceSpec(
        name="live",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_live.__doc__ or "",
    )
    return Service(spec, settings or Settings())
