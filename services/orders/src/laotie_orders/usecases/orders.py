"""Placing orders (one at a time, or a SKU's waiting reservations together: the flash-sale
lane), paying, cancelling, shipping, delivering, completing, and the lifecycle's automatic
steps the deadline job takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from laotie_common.auth import Principal
from laotie_common.db import Connection
from laotie_common.group_commit import Batch
from laotie_common.ids import new_id
from laotie_common.problems import NotFound
from laotie_contracts import orders as ev

from laotie_orders import domain
from laotie_orders.access import (
    can_read_order,
    may_place,
    require_buyer,
    require_logistics,
    require_seller,
)
from laotie_orders.domain import (
    LiveRoom,
    OrderAction,
    Promotion,
    RefundKind,
    RuleViolation,
    Windows,
)
from laotie_orders.facts import order_facts
from laotie_orders.queries import (
    active_restrictions,
    live_rooms,
    open_refund,
    order_view,
    promotions_by_reference,
)
from laotie_orders.usecases.unit import Tx

# SKU $1 with what placing an order of it at $2 needs, its shop's restrictions included, its
# row locked for the group of reservations: one round trip.
SKU_TO_ORDER = "".join(
    (
        "SELECT s.*, p.status AS product_status, p.shop_id, sh.kind AS shop_kind, ARRAY(",
        active_restrictions("p.shop_id", "$2"),
        ") AS restrictions FROM skus s JOIN products p USING (product_id)",
        " JOIN shops sh USING (shop_id) WHERE s.sku_id = $1 FOR UPDATE OF s",
    )
)
ATTRIBUTION_COLUMNS = (
    "channel",
    "room_id",
    "anchor_id",
    "video_id",
    "creator_id",
    "commission_rate_bp",
    "plan_id",
    "promotion_id",
)
ORDERS_PLACED = """
INSERT INTO orders (order_id, shop_id, shop_kind, buyer_id, product_id, sku_id, quantity,
    unit_price_fen, total_fen, channel, room_id, anchor_id, video_id, creator_id,
    commission_rate_bp, plan_id, promotion_id, status, placed_at, payment_due_at)
SELECT o, $2::text, $3::text, b, $5::text, $6::text, q, $8::bigint, $8::bigint * q, c, r, a, v,
    cr, bp, pl, pm, 'placed', $17::timestamptz, $18::timestamptz
FROM unnest($1::text[], $4::text[], $7::int[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::text[], $14::int[], $15::text[], $16::text[])
    AS u(o, b, q, c, r, a, v, cr, bp, pl, pm)
RETURNING *
"""


# --- placing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reservation:
    """One buyer's order of a SKU, as parsed from the request."""

    buyer: Principal
    quantity: int
    attribution: dict[str, Any]


def placing(windows: Windows) -> Batch:
    """The place-order lane's batch: a SKU's waiting reservations in one unit of work."""

    async def place(
        conn: Connection, sku_id: str, wanted: list[Reservation]
    ) -> tuple[list[Any], Callable[[], None]]:
        tx = Tx(conn, datetime.now(UTC), windows)
        return await place_orders(tx, sku_id, wanted), tx.committed

    return place


async def place_order(
    tx: Tx, principal: Principal, *, sku_id: str, quantity: int, attribution: dict[str, Any]
) -> dict[str, Any]:
    [placed] = await place_orders(tx, sku_id, [Reservation(principal, quantity, attribution)])
    if isinstance(placed, Exception):
        raise placed
    return placed


async def place_orders(
    tx: Tx, sku_id: str, wanted: list[Reservation]
) -> list[dict[str, Any] | Exception]:
    """Orders of one SKU decided together in arrival order, each as it would be alone: the
    SKU row locked and read once, the buyers' holdings read once, then one statement each for
    holdings, stock, orders and their events. Each reservation gets its order or its error."""
    sku = await tx.conn.fetchrow(SKU_TO_ORDER, sku_id, tx.now)
    if sku is None:
        return [NotFound(f"no SKU {sku_id}") for _ in wanted]
    references = [r.attribution.get("promotion_ref") for r in wanted]
    promotions = await promotions_by_reference(tx.conn, [r for r in references if r])
    room_ids = [r.attribution.get("room_id") for r in wanted]
    rooms = await live_rooms(tx.conn, [r for r in room_ids if r])
    attributed = [attributed_as(sku, r, promotions, rooms, tx.now) for r in wanted]
    outcomes: list[dict[str, Any] | Exception | None] = [
        refused(sku, r, tx.now) if isinstance(a, dict) else (may_place(r.buyer) or a)
        for r, a in zip(wanted, attributed, strict=True)
    ]
    wanted = [
        Reservation(r.buyer, r.quantity, a) if isinstance(a, dict) else r
        for r, a in zip(wanted, attributed, strict=True)
    ]
    open_ = [i for i, outcome in enumerate(outcomes) if outcome is None]
    buyers = [wanted[i].buyer.subject for i in open_]
    allotment = domain.allot(
        sku["stock"],
        sku["per_buyer_limit"],
        await holdings(tx.conn, sku, buyers),
        [(buyer, wanted[i].quantity) for buyer, i in zip(buyers, open_, strict=True)],
        domain.Unpaid(await unpaid(tx.conn, sku["sku_id"], buyers), tx.windows.unpaid_per_sku),
    )
    granted = []
    for i, reason in zip(open_, allotment.refusals, strict=True):
        if reason is None:
            granted.append(i)
        else:
            outcomes[i] = domain.refusal(
                reason, sku["sku_id"], wanted[i].quantity, sku["per_buyer_limit"]
            )
    rows = await reserve(tx, sku, [wanted[i] for i in granted], allotment)
    for i, row in zip(granted, rows, strict=True):
        outcomes[i] = order_view(row)
    decided = [o for o in outcomes if o is not None]
    assert len(decided) == len(wanted), "every reservation decided"
    return decided


def refused(sku: asyncpg.Record, wanted: Reservation, now: datetime) -> Exception | None:
    """Why this reservation cannot be placed whatever the stock, or None."""
    forbidden = may_place(wanted.buyer)
    if forbidden is not None:
        return forbidden
    try:
        domain.check_sellable(
            sku["product_id"],
            sku["product_status"],
            sku["shop_id"],
            sku["restrictions"],
            domain.SaleWindow(sku["sale_starts_at"], sku["sale_ends_at"]),
            now,
        )
    except RuleViolation as refusal:
        return refusal
    return None


def attributed_as(
    sku: asyncpg.Record,
    wanted: Reservation,
    promotions: dict[str, Promotion],
    rooms: dict[str, LiveRoom],
    now: datetime,
) -> dict[str, Any] | RuleViolation:
    """The reservation's attribution as the order takes it (a live room's owner, a
    promotion's creator and commission), or why it is refused."""
    reference = wanted.attribution.get("promotion_ref")
    promotion = promotions.get(reference) if reference else None
    room = rooms.get(wanted.attribution.get("room_id") or "")
    try:
        return domain.attribute(wanted.attribution, promotion, room, sku["product_id"], now)
    except RuleViolation as refusal:
        return refusal


async def holdings(conn: Connection, sku: asyncpg.Record, buyers: list[str]) -> dict[str, int]:
    """What these buyers already hold of a SKU with a per-buyer limit (their rows locked)."""
    if sku["per_buyer_limit"] is None or not buyers:
        return {}
    rows = await conn.fetch(
        "SELECT buyer_id, quantity FROM buyer_purchases WHERE sku_id = $1"
        " AND buyer_id = ANY($2::text[]) ORDER BY buyer_id FOR UPDATE",
        sku["sku_id"],
        sorted(set(buyers)),
    )
    return {r["buyer_id"]: r["quantity"] for r in rows}


async def unpaid(conn: Connection, sku_id: str, buyers: list[str]) -> dict[str, int]:
    """How many placed, unpaid orders of the SKU each of these buyers has open (exact: the
    SKU row is locked, so no other placement of it runs meanwhile)."""
    if not buyers:
        return {}
    rows = await conn.fetch(
        "SELECT buyer_id, count(*) AS n FROM orders WHERE sku_id = $1 AND status = 'placed'"
        " AND buyer_id = ANY($2::text[]) GROUP BY buyer_id",
        sku_id,
        sorted(set(buyers)),
    )
    return {r["buyer_id"]: r["n"] for r in rows}


async def reserve(
    tx: Tx, sku: asyncpg.Record, granted: list[Reservation], allotment: domain.Allotment
) -> list[asyncpg.Record]:
    """The granted reservations written: holdings, stock, orders, their events."""
    if not granted:
        return []
    if allotment.holdings:
        await tx.conn.execute(
            "INSERT INTO buyer_purchases (sku_id, buyer_id, quantity)"
            " SELECT $1, b, q FROM unnest($2::text[], $3::int[]) AS u(b, q)"
            " ON CONFLICT (sku_id, buyer_id) DO UPDATE SET quantity = EXCLUDED.quantity",
            sku["sku_id"],
            list(allotment.holdings),
            list(allotment.holdings.values()),
        )
    await tx.conn.execute(
        "UPDATE skus SET stock = $2 WHERE sku_id = $1", sku["sku_id"], allotment.stock_left
    )
    ids = [new_id() for _ in granted]
    rows = await tx.conn.fetch(
        ORDERS_PLACED,
        ids,
        sku["shop_id"],
        sku["shop_kind"],
        [r.buyer.subject for r in granted],
        sku["product_id"],
        sku["sku_id"],
        [r.quantity for r in granted],
        sku["price_fen"],
        *([r.attribution.get(f) for r in granted] for f in ATTRIBUTION_COLUMNS),
        tx.now,
        tx.now + tx.windows.payment_timeout,
    )
    by_id = {row["order_id"]: row for row in rows}
    placed = [by_id[order_id] for order_id in ids]
    await tx.emit_all(
        [
            ev.OrderPlaced(**order_facts(row, tx.now), payment_due_at=row["payment_due_at"])
            for row in placed
        ]
    )
    return placed


# --- moving orders ---------------------------------------------------------------------------
async def locked_order(tx: Tx, order_id: str, seen_by: Principal | None = None) -> asyncpg.Record:
    """The order, locked; NotFound as well when ``seen_by`` may not read it (a command on
    another's order must not reveal that it exists, as a read does not)."""
    row = await tx.conn.fetchrow("SELECT * FROM orders WHERE order_id = $1 FOR UPDATE", order_id)
    if row is None or (seen_by is not None and not can_read_order(seen_by, row)):
        raise NotFound(f"no order {order_id}")
    return row


async def move(
    tx: Tx, order: asyncpg.Record, action: OrderAction, sets: str = "", *args: Any
) -> asyncpg.Record:
    """The order moved by ``action`` (if the domain allows it), ``sets`` written with it."""
    status = domain.next_order_status(order["status"], action)
    row = await tx.conn.fetchrow(
        f"UPDATE orders SET status = $2{', ' + sets if sets else ''}"  # noqa: S608 - fixed text
        " WHERE order_id = $1 RETURNING *",
        order["order_id"],
        status.value,
        *args,
    )
    assert row is not None
    return row


async def _release_stock(tx: Tx, order: asyncpg.Record) -> None:
    await tx.conn.execute(
        "UPDATE skus SET stock = stock + $2 WHERE sku_id = $1", order["sku_id"], order["quantity"]
    )
    await tx.conn.execute(
        "UPDATE buyer_purchases SET quantity = greatest(quantity - $3, 0)"
        " WHERE sku_id = $1 AND buyer_id = $2",
        order["sku_id"],
        order["buyer_id"],
        order["quantity"],
    )


async def pay(tx: Tx, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await locked_order(tx, order_id, principal)
    require_buyer(principal, order["buyer_id"])
    hours = await tx.conn.fetchval(
        "SELECT ship_within_hours FROM products WHERE product_id = $1", order["product_id"]
    )
    ship_by = tx.windows.ship_by(tx.now, hours)
    row = await move(tx, order, OrderAction.PAY, "paid_at = $3, ship_by = $4", tx.now, ship_by)
    await tx.emit(ev.OrderPaid(**order_facts(row, tx.now), ship_by=ship_by))
    return order_view(row)


async def cancel(tx: Tx, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await locked_order(tx, order_id, principal)
    require_buyer(principal, order["buyer_id"])
    return order_view(await cancel_order(tx, order, OrderAction.CANCEL, "buyer"))


async def cancel_order(
    tx: Tx, order: asyncpg.Record, action: OrderAction, reason: str
) -> asyncpg.Record:
    """The order cancelled (by ``action``, for ``reason``), its stock and holding released."""
    row = await move(tx, order, action, "cancelled_at = $3, cancel_reason = $4", tx.now, reason)
    await _release_stock(tx, row)
    await tx.emit(ev.OrderCancelled(**order_facts(row, tx.now), reason=reason))
    return row


async def ship(tx: Tx, principal: Principal, order_id: str, tracking_number: str) -> dict[str, Any]:
    order = await locked_order(tx, order_id, principal)
    require_seller(principal, order["shop_id"])
    if await open_refund(tx.conn, order_id, RefundKind.REFUND_ONLY):
        raise RuleViolation(
            "refund_in_progress", "a refund request before shipment is open; answer it first"
        )
    row = await move(
        tx,
        order,
        OrderAction.SHIP,
        "shipped_at = $3, tracking_number = $4",
        tx.now,
        tracking_number,
    )
    await tx.emit(
        ev.OrderShipped(
            **order_facts(row, tx.now),
            tracking_number=tracking_number,
            ship_by=row["ship_by"],
            late=tx.now > row["ship_by"],
        )
    )
    return order_view(row)


async def deliver(tx: Tx, principal: Principal, order_id: str) -> dict[str, Any]:
    require_logistics(principal)
    order = await locked_order(tx, order_id, principal)
    complete_at = tx.now + tx.windows.confirm_window
    row = await move(
        tx,
        order,
        OrderAction.DELIVER,
        "delivered_at = $3, auto_complete_at = $4",
        tx.now,
        complete_at,
    )
    await tx.emit(
        ev.OrderDelivered(
            **order_facts(row, tx.now), shipped_at=row["shipped_at"], auto_complete_at=complete_at
        )
    )
    return order_view(row)


async def confirm(tx: Tx, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await locked_order(tx, order_id, principal)
    require_buyer(principal, order["buyer_id"])
    return order_view(await complete(tx, order, automatic=False))


async def complete(tx: Tx, order: asyncpg.Record, *, automatic: bool) -> asyncpg.Record:
    action = OrderAction.AUTO_COMPLETE if automatic else OrderAction.CONFIRM
    row = await move(tx, order, action, "completed_at = $3", tx.now)
    await tx.emit(ev.OrderCompleted(**order_facts(row, tx.now), automatic=automatic))
    return row


async def expire_unpaid(tx: Tx, order: asyncpg.Record) -> asyncpg.Record:
    return await cancel_order(tx, order, OrderAction.EXPIRE, "payment_timeout")


async def flag_overdue_shipment(tx: Tx, order: asyncpg.Record) -> None:
    row = await tx.conn.fetchrow(
        "UPDATE orders SET overdue_flagged_at = $2 WHERE order_id = $1"
        " AND overdue_flagged_at IS NULL AND status = 'paid' RETURNING *",
        order["order_id"],
        tx.now,
    )
    if row is not None:
        await tx.emit(ev.ShipmentOverdue(**order_facts(row, tx.now), ship_by=row["ship_by"]))
