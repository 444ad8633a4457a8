"""Orders' unit of work: what every use case works with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from laotie_common import metrics
from laotie_common.uow import UnitOfWork
from laotie_contracts import Event
from laotie_contracts import orders as ev

from laotie_orders.domain import Windows

SOURCE = "/laotie/orders"


@dataclass
class Tx(UnitOfWork):
    """What a use case works with: the transaction, one clock reading for the whole
    command, the policy windows, and work to do only once the transaction commits."""

    source: ClassVar[str] = SOURCE
    windows: Windows

    def emitted(self, event: Event) -> None:
        self.after_commit.extend(business_metrics(event))


STATUS_EVENTS = {
    "orders.order.placed",
    "orders.order.paid",
    "orders.order.shipped",
    "orders.order.delivered",
    "orders.order.completed",
    "orders.order.cancelled",
}


def business_metrics(event: Event) -> list[Callable[[], None]]:
    """Orders and GMV counted from the facts themselves, once they are committed."""
    if not isinstance(event, ev.OrderFacts):
        return []
    channel = event.attribution.channel
    work: list[Callable[[], None]] = []
    if event.ce_type in STATUS_EVENTS:
        work.append(metrics.ORDERS.labels(channel, event.status).inc)
    if isinstance(event, ev.OrderPaid):
        work.append(lambda: metrics.ORDERS_GMV_FEN.labels(channel).inc(event.total_fen))
    if isinstance(event, ev.OrderRefunded):
        work.append(
            lambda: metrics.ORDERS_REFUNDED_FEN.labels(channel).inc(event.refund_amount_fen)
        )
    return work
