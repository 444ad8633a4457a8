"""Orders' periodic work: the deadline sweep, every automatic step of the order lifecycle
and after-sales.

Each replica runs it. A sweep takes due rows with ``FOR UPDATE SKIP LOCKED`` in batches and
moves them in the same transaction, one transaction per batch (a backlog never holds its
SKU and order rows locked for a whole round), so concurrent sweepers share the work and every
deadline fires exactly once: the move changes the state that made the row due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from laotie_common import metrics
from laotie_common.logs import get_logger
from laotie_common.uow import Units

from laotie_orders.domain import OPEN_REFUND_STATUSES, RefundAction
from laotie_orders.usecases import Tx, after_sales, orders

log = get_logger(__name__)
_OPEN_REFUNDS = ", ".join(f"'{status}'" for status in sorted(OPEN_REFUND_STATUSES))


@dataclass(frozen=True)
class Deadline:
    name: str
    due_sql: str  # selects the due rows' ids, oldest first, locked
    apply: Callable[[Tx, str], Awaitable[None]]


async def _expire(tx: Tx, order_id: str) -> None:
    await orders.expire_unpaid(tx, await orders.locked_order(tx, order_id))


async def _overdue(tx: Tx, order_id: str) -> None:
    await orders.flag_overdue_shipment(tx, await orders.locked_order(tx, order_id))


async def _auto_complete(tx: Tx, order_id: str) -> None:
    await orders.complete(tx, await orders.locked_order(tx, order_id), automatic=True)


async def _auto_approve(tx: Tx, refund_id: str) -> None:
    refund, order = await after_sales.locked_refund(tx, refund_id)
    await after_sales.grant_refund(tx, refund, order, action=RefundAction.AUTO_APPROVE)


async def _lapse_return(tx: Tx, refund_id: str) -> None:
    refund, order = await after_sales.locked_refund(tx, refund_id)
    await after_sales.close_refund(
        tx, refund, order, RefundAction.LAPSE_RETURN, "return_window_lapsed"
    )


async def _auto_receive(tx: Tx, refund_id: str) -> None:
    refund, order = await after_sales.locked_refund(tx, refund_id)
    await after_sales.receive_return(tx, refund, order, automatic=True)


DEADLINES = (
    Deadline(
        "payment_timeout",
        "SELECT order_id AS id FROM orders WHERE status = 'placed'"
        " AND payment_due_at <= $1 ORDER BY payment_due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        _expire,
    ),
    Deadline(
        "shipment_overdue",
        "SELECT order_id AS id FROM orders WHERE status = 'paid'"
        " AND overdue_flagged_at IS NULL AND ship_by <= $1 ORDER BY ship_by LIMIT $2"
        " FOR UPDATE SKIP LOCKED",
        _overdue,
    ),
    # The confirm window pauses while an after-sales case is open.
    Deadline(
        "auto_complete",
        "SELECT o.order_id AS id FROM orders o WHERE o.status = 'delivered'"  # noqa: S608
        " AND o.auto_complete_at <= $1 AND NOT EXISTS (SELECT 1 FROM refunds r"
        f" WHERE r.order_id = o.order_id AND r.status IN ({_OPEN_REFUNDS}))"  # a constant
        " ORDER BY o.auto_complete_at LIMIT $2"
        " FOR UPDATE OF o SKIP LOCKED",
        _auto_complete,
    ),
    Deadline(
        "refund_auto_approve",
        "SELECT refund_id AS id FROM refunds WHERE status ="
        " 'requested' AND answer_due_at <= $1 ORDER BY answer_due_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED",
        _auto_approve,
    ),
    Deadline(
        "return_window_lapsed",
        "SELECT refund_id AS id FROM refunds WHERE status ="
        " 'awaiting_return' AND return_due_at <= $1 ORDER BY return_due_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED",
        _lapse_return,
    ),
    Deadline(
        "return_auto_received",
        "SELECT refund_id AS id FROM refunds WHERE status ="
        " 'returned' AND receive_due_at <= $1 ORDER BY receive_due_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED",
        _auto_receive,
    ),
)


async def sweep_once(
    units: Units[Tx], *, batch: int = 100, now: datetime | None = None
) -> dict[str, int]:
    """Fire every due deadline once, a batch per transaction; returns how many fired here,
    by deadline."""
    fired: dict[str, int] = {}
    for deadline in DEADLINES:
        while True:
            async with units(now) as tx:
                ids = [r["id"] for r in await tx.conn.fetch(deadline.due_sql, tx.now, batch)]
                for item in ids:
                    await deadline.apply(tx, item)
            if ids:
                fired[deadline.name] = fired.get(deadline.name, 0) + len(ids)
                metrics.ORDER_DEADLINES_FIRED.labels(deadline.name).inc(len(ids))
            if len(ids) < batch:
                break
    return fired


async def sweep(units: Units[Tx]) -> None:
    """The ``deadlines`` job's round (a transaction per batch)."""
    fired = await sweep_once(units)
    if fired:
        log.info("deadlines fired", **fired)
