"""Composition root of the `orders` service: its settings and how its parts are wired."""

from __future__ import annotations

from datetime import timedelta

from laotie_common.idempotency import keyed
from laotie_common.service import Job, Service, ServiceSpec
from laotie_common.settings import ServiceSettings
from pydantic import Field

import laotie_orders
from laotie_orders import jobs
from laotie_orders.domain import Windows
from laotie_orders.handlers import HANDLERS
from laotie_orders.routes import domain_errors, router
from laotie_orders.usecases import Tx
from laotie_orders.usecases.orders import placing


class Settings(ServiceSettings):
    """Every window is *policy* (快手小店 defaults) and can be compressed for the demo."""

    service_name: str = "orders"
    http_port: int = 8001
    payment_timeout_s: float = Field(default=15 * 60, gt=0)
    ship_within_hour_s: float = Field(
        default=3600, gt=0, description="Length of one 'hour' of a product's ship-within time."
    )
    confirm_window_s: float = Field(default=10 * 86400, gt=0)
    refund_answer_s: float = Field(default=48 * 3600, gt=0)
    return_window_s: float = Field(default=10 * 86400, gt=0)
    receipt_window_s: float = Field(default=7 * 86400, gt=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)
    unpaid_per_sku: int = Field(
        default=5, gt=0, description="Open unpaid orders one buyer may hold of one SKU."
    )

    def windows(self) -> Windows:
        return Windows(
            payment_timeout=timedelta(seconds=self.payment_timeout_s),
            confirm_window=timedelta(seconds=self.confirm_window_s),
            refund_answer=timedelta(seconds=self.refund_answer_s),
            return_window=timedelta(seconds=self.return_window_s),
            receipt_window=timedelta(seconds=self.receipt_window_s),
            ship_within_unit=timedelta(seconds=self.ship_within_hour_s),
            unpaid_per_sku=self.unpaid_per_sku,
        )


def build(settings: Settings | None = None) -> Service:
    settings = settings or Settings()
    windows = settings.windows()
    deadlines = Job("deadlines", settings.sweep_interval_s, jobs.sweep, units=True)
    spec = ServiceSpec.of(
        laotie_orders,
        router,
        HANDLERS,
        unit=Tx,
        config=windows,
        jobs=[deadlines],
        on_error=domain_errors,
        lanes={"place_order": keyed(placing(windows))},
    )
    return Service(spec, settings)
