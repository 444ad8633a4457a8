"""Composition root of the `scoring` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Service, ServiceSpec
from laotie_common.settings import ServiceSettings

import laotie_scoring


class Settings(ServiceSettings):
    service_name: str = "scoring"


def build(settings: Settings | None = None) -> Service:
    spec = ServiceSpec(
        name="scoring",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_scoring.__doc__ or "",
    )
    return Service(spec, settings or Settings())
