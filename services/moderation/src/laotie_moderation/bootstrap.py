"""Composition root of the `moderation` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Service, ServiceSpec
from laotie_common.settings import ServiceSettings

import laotie_moderation


class Settings(ServiceSettings):
    service_name: str = "moderation"


def build(settings: Settings | None = None) -> Service:
    spec = ServiceSpec(
        name="moderation",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_moderation.__doc__ or "",
    )
    return Service(spec, settings or Settings())
