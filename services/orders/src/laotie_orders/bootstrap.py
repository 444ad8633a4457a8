"""Composition root of the `orders` service: its settings, migrations, routes and consumers."""

from __future__ import annotations

from pathlib import Path

from laotie_common.service import Service, ServiceSpec
from laotie_common.settings import ServiceSettings

import laotie_orders


class Settings(ServiceSettings):
    service_name: str = "orders"


def build(settings: Settings | None = None) -> Service:
    spec = ServiceSpec(
        name="orders",
        version="0.1.0",
        migrations=Path(__file__).parent / "migrations",
        description=laotie_orders.__doc__ or "",
    )
    return Service(spec, settings or Settings())
