"""After-sales (售后): refund requests, the merchant's answer, disputes, returns, the
money paid back; and the buyer's review of a completed order."""

from __future__ import annotations

from typing import Any

import asyncpg
from laotie_common.auth import Principal
from laotie_common.ids import new_id
from laotie_common.problems import NotFound
from laotie_contracts import orders as ev

from laotie_orders import domain
from laotie_orders.access import can_read_order, require_buyer, require_reviewer, require_seller
from laotie_orders.domain import OrderAction, OrderStatus, RefundAction, RefundStatus, RuleViolation
from laotie_orders.facts import order_facts, refund_facts
from laotie_orders.queries import open_refund, refund_view
from laotie_orders.usecases.orders import cancel_order, locked_order
from laotie_orders.usecases.unit import Tx


async def request_refund(
    tx: Tx,
    principal: Principal,
    order_id: str,
    *,
    kind: str,
    reason: str,
    amount_fen: int | None,
) -> dict[str, Any]:
    order = await locked_order(tx, order_id, principal)
    require_buyer(principal, order["buyer_id"])
    amount = amount_fen if amount_fen is not None else order["total_fen"] - order["refunded_fen"]
    domain.check_refund_request(
        order["status"], kind, amount, order["total_fen"], order["refunded_fen"]
    )
    if await open_refund(tx.conn, order_id):
        raise RuleViolation("refund_in_progress", "an after-sales case for this order is open")
    refund = await tx.conn.fetchrow(
        "INSERT INTO refunds (refund_id, order_id, kind, reason, amount_fen, status,"
        " after_shipment, requested_at, answer_due_at)"
        " VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8) RETURNING *",
        new_id(),
        order_id,
        kind,
        reason,
        amount,
        order["status"] != OrderStatus.PAID,
        tx.now,
        tx.now + tx.windows.refund_answer,
    )
    assert refund is not None
    await tx.emit(
        ev.RefundRequested(
            **refund_facts(order, refund, tx.now),
            answer_due_at=refund["answer_due_at"],
            after_shipment=refund["after_shipment"],
        )
    )
    return refund_view(refund)


async def locked_refund(
    tx: Tx, refund_id: str, seen_by: Principal | None = None
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The refund and its order, both locked; NotFound as well when ``seen_by`` may not read
    the order (as a read of it answers)."""
    refund = await tx.conn.fetchrow(
        "SELECT * FROM refunds WHERE refund_id = $1 FOR UPDATE", refund_id
    )
    if refund is None:
        raise NotFound(f"no refund {refund_id}")
    order = await locked_order(tx, refund["order_id"])
    if seen_by is not None and not can_read_order(seen_by, order):
        raise NotFound(f"no refund {refund_id}")
    return refund, order


async def _set_refund(
    tx: Tx, refund: asyncpg.Record, status: RefundStatus | str, sets: str = "", *args: Any
) -> asyncpg.Record:
    row = await tx.conn.fetchrow(
        f"UPDATE refunds SET status = $2{', ' + sets if sets else ''}"  # noqa: S608 - fixed text
        " WHERE refund_id = $1 RETURNING *",
        refund["refund_id"],
        RefundStatus(status).value,
        *args,
    )
    assert row is not None
    return row


async def _pay_back(tx: Tx, order: asyncpg.Record, refund: asyncpg.Record) -> asyncpg.Record:
    """Give the money back; a paid order refunded in full before shipment is cancelled."""
    refund = await _set_refund(tx, refund, RefundStatus.REFUNDED, "refunded_at = $3", tx.now)
    updated = await tx.conn.fetchrow(
        "UPDATE orders SET refunded_fen = refunded_fen + $2 WHERE order_id = $1 RETURNING *",
        order["order_id"],
        refund["amount_fen"],
    )
    assert updated is not None
    await tx.emit(ev.OrderRefunded(**refund_facts(updated, refund, tx.now)))
    if domain.cancelled_by_refund(updated["status"], updated["refunded_fen"], updated["total_fen"]):
        await cancel_order(tx, updated, OrderAction.REFUND_IN_FULL, "refunded_before_shipment")
    return refund


async def grant_refund(
    tx: Tx, refund: asyncpg.Record, order: asyncpg.Record, *, action: RefundAction
) -> asyncpg.Record:
    """Approve (by the merchant, automatically, or by a dispute decision)."""
    status = domain.next_refund_status(refund["status"], refund["kind"], action)
    answered = (tx.now - refund["requested_at"]).total_seconds()
    if action in (RefundAction.APPROVE, RefundAction.AUTO_APPROVE):
        refund = await _set_refund(tx, refund, refund["status"], "answered_at = $3", tx.now)
    return_due = (
        tx.now + tx.windows.return_window if status is RefundStatus.AWAITING_RETURN else None
    )
    if action is not RefundAction.DECIDE_FOR_BUYER:
        await tx.emit(
            ev.RefundApproved(
                **refund_facts(order, refund, tx.now),
                automatic=action is RefundAction.AUTO_APPROVE,
                answered_after_s=max(answered, 0.0),
                return_due_at=return_due,
            )
        )
    if status is RefundStatus.REFUNDED:
        return await _pay_back(tx, order, refund)
    return await _set_refund(tx, refund, status, "return_due_at = $3", return_due)


async def approve_refund(tx: Tx, principal: Principal, refund_id: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id, principal)
    require_seller(principal, order["shop_id"])
    return refund_view(await grant_refund(tx, refund, order, action=RefundAction.APPROVE))


async def reject_refund(tx: Tx, principal: Principal, refund_id: str, note: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id, principal)
    require_seller(principal, order["shop_id"])
    status = domain.next_refund_status(refund["status"], refund["kind"], RefundAction.REJECT)
    row = await _set_refund(tx, refund, status, "answered_at = $3, note = $4", tx.now, note)
    await tx.emit(
        ev.RefundRejected(
            **refund_facts(order, row, tx.now),
            note=note,
            answered_after_s=max((tx.now - refund["requested_at"]).total_seconds(), 0.0),
        )
    )
    return refund_view(row)


async def escalate_refund(tx: Tx, principal: Principal, refund_id: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id, principal)
    require_buyer(principal, order["buyer_id"])
    status = domain.next_refund_status(refund["status"], refund["kind"], RefundAction.ESCALATE)
    if await open_refund(tx.conn, order["order_id"]):
        raise RuleViolation("refund_in_progress", "another after-sales case for this order is open")
    row = await _set_refund(tx, refund, status)
    await tx.emit(ev.RefundEscalated(**refund_facts(order, row, tx.now)))
    return refund_view(row)


async def decide_dispute(
    tx: Tx, principal: Principal, refund_id: str, in_favour_of: str
) -> dict[str, Any]:
    require_reviewer(principal)
    refund, order = await locked_refund(tx, refund_id, principal)
    if refund["status"] != RefundStatus.DISPUTED:
        raise domain.IllegalTransition(f"cannot decide a refund that is {refund['status']}")
    refund = await _set_refund(
        tx, refund, RefundStatus.DISPUTED, "decided_by = $3", principal.subject
    )
    await tx.emit(
        ev.RefundDisputeDecided(
            **refund_facts(order, refund, tx.now),
            in_favour_of=in_favour_of,
            decided_by=principal.subject,
        )
    )
    if in_favour_of == "buyer":
        return refund_view(
            await grant_refund(tx, refund, order, action=RefundAction.DECIDE_FOR_BUYER)
        )
    return refund_view(
        await close_refund(tx, refund, order, RefundAction.DECIDE_FOR_MERCHANT, "dispute_lost")
    )


async def close_refund(
    tx: Tx, refund: asyncpg.Record, order: asyncpg.Record, action: RefundAction, why: str
) -> asyncpg.Record:
    status = domain.next_refund_status(refund["status"], refund["kind"], action)
    row = await _set_refund(tx, refund, status, "closed_why = $3", why)
    await tx.emit(ev.RefundClosed(**refund_facts(order, row, tx.now), why=why))
    return row


async def ship_return(
    tx: Tx, principal: Principal, refund_id: str, tracking_number: str
) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id, principal)
    require_buyer(principal, order["buyer_id"])
    status = domain.next_refund_status(refund["status"], refund["kind"], RefundAction.SHIP_RETURN)
    due = tx.now + tx.windows.receipt_window
    row = await _set_refund(
        tx,
        refund,
        status,
        "return_tracking = $3, returned_at = $4, receive_due_at = $5",
        tracking_number,
        tx.now,
        due,
    )
    await tx.emit(
        ev.ReturnShipped(
            **refund_facts(order, row, tx.now), tracking_number=tracking_number, receive_due_at=due
        )
    )
    return refund_view(row)


async def receive_return(
    tx: Tx, refund: asyncpg.Record, order: asyncpg.Record, *, automatic: bool
) -> asyncpg.Record:
    action = RefundAction.AUTO_RECEIVE if automatic else RefundAction.RECEIVE
    domain.next_refund_status(refund["status"], refund["kind"], action)
    refund = await _set_refund(tx, refund, refund["status"], "received_at = $3", tx.now)
    await tx.emit(ev.ReturnReceived(**refund_facts(order, refund, tx.now), automatic=automatic))
    return await _pay_back(tx, order, refund)


async def confirm_return(tx: Tx, principal: Principal, refund_id: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id, principal)
    require_seller(principal, order["shop_id"])
    return refund_view(await receive_return(tx, refund, order, automatic=False))


# --- reviews ---------------------------------------------------------------------------------
async def review(
    tx: Tx, principal: Principal, order_id: str, stars: dict[str, int], text: str
) -> dict[str, Any]:
    order = await locked_order(tx, order_id, principal)
    require_buyer(principal, order["buyer_id"])
    if order["status"] != OrderStatus.COMPLETED:
        raise domain.IllegalTransition(f"cannot review an order that is {order['status']}")
    row = await tx.conn.fetchrow(
        "INSERT INTO reviews (order_id, product_stars, logistics_stars, service_stars, text)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING *",
        order_id,
        stars["product_stars"],
        stars["logistics_stars"],
        stars["service_stars"],
        text,
    )
    if row is None:
        raise domain.IllegalTransition("this order has been reviewed already")
    await tx.emit(ev.OrderReviewed(**order_facts(order, tx.now), **stars, text=text))
    return dict(row)
