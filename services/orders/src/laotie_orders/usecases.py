"""The orders use cases: each runs inside the caller's transaction, locks what it changes,
asks the domain whether the move is legal, writes the new state and the events it owes to
the outbox. Nothing here commits; nothing here publishes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import asyncpg
from laotie_common import metrics
from laotie_common.auth import Principal, Role
from laotie_common.db import Connection
from laotie_common.ids import new_id
from laotie_common.problems import Forbidden, NotFound
from laotie_common.uow import UnitOfWork
from laotie_contracts import Event
from laotie_contracts import orders as ev

from laotie_orders import domain
from laotie_orders.domain import (
    OPEN_REFUND_STATUSES,
    OrderAction,
    OrderStatus,
    RefundAction,
    RefundKind,
    RefundStatus,
    RuleViolation,
    Windows,
)

SOURCE = "/laotie/orders"
SHOP_SELLING_BLOCKS = frozenset({"suspend", "close"})
SHOP_LISTING_BLOCKS = frozenset({"listing_ban", "suspend", "close"})


@dataclass
class Tx(UnitOfWork):
    """What a use case works with: the transaction, one clock reading for the whole
    command, the policy windows, and work to do only once the transaction commits."""

    source: ClassVar[str] = SOURCE
    windows: Windows

    def emitted(self, event: Event) -> None:
        self.after_commit.extend(_business_metrics(event))


_STATUS_EVENTS = {
    "orders.order.placed",
    "orders.order.paid",
    "orders.order.shipped",
    "orders.order.delivered",
    "orders.order.completed",
    "orders.order.cancelled",
}


def _business_metrics(event: Event) -> list[Callable[[], None]]:
    """Orders and GMV counted from the facts themselves, once they are committed."""
    if not isinstance(event, ev.OrderFacts):
        return []
    channel = event.attribution.channel
    work: list[Callable[[], None]] = []
    if event.ce_type in _STATUS_EVENTS:
        work.append(metrics.ORDERS.labels(channel, event.status).inc)
    if isinstance(event, ev.OrderPaid):
        work.append(lambda: metrics.ORDERS_GMV_FEN.labels(channel).inc(event.total_fen))
    if isinstance(event, ev.OrderRefunded):
        work.append(
            lambda: metrics.ORDERS_REFUNDED_FEN.labels(channel).inc(event.refund_amount_fen)
        )
    return work


# --- views ---------------------------------------------------------------------------------
def order_view(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


def refund_view(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


async def product_view(conn: Connection, product_id: str) -> dict[str, Any]:
    product = await conn.fetchrow(
        "SELECT p.*, s.kind AS shop_kind FROM products p JOIN shops s USING (shop_id)"
        " WHERE product_id = $1",
        product_id,
    )
    if product is None:
        raise NotFound(f"no product {product_id}")
    skus = await conn.fetch("SELECT * FROM skus WHERE product_id = $1 ORDER BY sku_id", product_id)
    view = dict(product)
    view["skus"] = [dict(s) for s in skus]
    return view


def _product_facts(view: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "product_id": view["product_id"],
        "shop_id": view["shop_id"],
        "shop_kind": view["shop_kind"],
        "title": view["title"],
        "description": view["description"],
        "status": view["status"],
        "ship_within_hours": view["ship_within_hours"],
        "skus": [
            ev.SkuFacts(
                sku_id=s["sku_id"],
                name=s["name"],
                price_fen=s["price_fen"],
                stock=s["stock"],
                per_buyer_limit=s["per_buyer_limit"],
                sale_starts_at=s["sale_starts_at"],
                sale_ends_at=s["sale_ends_at"],
            )
            for s in view["skus"]
        ],
        "occurred_at": now,
    }


def _order_facts(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        "order_id": row["order_id"],
        "shop_id": row["shop_id"],
        "shop_kind": row["shop_kind"],
        "buyer_id": row["buyer_id"],
        "product_id": row["product_id"],
        "sku_id": row["sku_id"],
        "quantity": row["quantity"],
        "unit_price_fen": row["unit_price_fen"],
        "total_fen": row["total_fen"],
        "refunded_fen": row["refunded_fen"],
        "attribution": ev.Attribution(
            channel=row["channel"],
            room_id=row["room_id"],
            anchor_id=row["anchor_id"],
            video_id=row["video_id"],
            creator_id=row["creator_id"],
            commission_rate_bp=row["commission_rate_bp"],
        ),
        "status": row["status"],
        "placed_at": row["placed_at"],
        "occurred_at": now,
    }


def _refund_facts(order: asyncpg.Record, refund: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        **_order_facts(order, now),
        "refund_id": refund["refund_id"],
        "refund_kind": refund["kind"],
        "refund_reason": refund["reason"],
        "refund_amount_fen": refund["amount_fen"],
    }


# --- who may act --------------------------------------------------------------------------
def _as_buyer(principal: Principal, buyer_id: str) -> None:
    if principal.role is not Role.BUYER or principal.subject != buyer_id:
        raise Forbidden("only the order's buyer may do this")


def _as_seller(principal: Principal, shop_id: str) -> None:
    if principal.role is not Role.SELLER or principal.shop_id != shop_id:
        raise Forbidden(f"only a seller of shop {shop_id} may do this")


def can_read_order(principal: Principal, row: asyncpg.Record) -> bool:
    if principal.role in (Role.OPERATOR, Role.SERVICE, Role.REVIEWER):
        return True
    if principal.role is Role.BUYER:
        return bool(principal.subject == row["buyer_id"])
    if principal.role is Role.SELLER:
        return bool(principal.shop_id == row["shop_id"])
    return False


# --- shops and products ---------------------------------------------------------------------
def active_restrictions(shop: str, now: str) -> str:
    """SQL: the kinds of restriction in force on ``shop`` at ``now`` (SQL expressions)."""
    return (
        f"SELECT DISTINCT kind FROM shop_restrictions WHERE shop_id = {shop}"  # noqa: S608
        f" AND revoked_at IS NULL AND (until IS NULL OR until > {now})"
    )


async def shop_restrictions(conn: Connection, shop_id: str, now: datetime) -> set[str]:
    return {r["kind"] for r in await conn.fetch(active_restrictions("$1", "$2"), shop_id, now)}


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


async def create_shop(
    tx: Tx, principal: Principal, *, shop_id: str | None, name: str, kind: str, owner_id: str
) -> dict[str, Any]:
    if principal.role is Role.SELLER:
        if shop_id not in (None, principal.shop_id):
            raise Forbidden("a seller creates only the shop named in their token")
        shop_id, owner_id = principal.shop_id, principal.subject
    elif principal.role is not Role.OPERATOR:
        raise Forbidden("only operators and sellers create shops")
    row = await tx.conn.fetchrow(
        "INSERT INTO shops (shop_id, name, kind, owner_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING *",
        shop_id or new_id(),
        name,
        kind,
        owner_id,
    )
    if row is None:
        raise RuleViolation("shop_exists", f"shop {shop_id} already exists")
    return dict(row)


async def list_product(
    tx: Tx,
    principal: Principal,
    *,
    shop_id: str,
    title: str,
    description: str,
    ship_within_hours: int,
    skus: list[dict[str, Any]],
) -> dict[str, Any]:
    _as_seller(principal, shop_id)
    shop = await tx.conn.fetchrow("SELECT * FROM shops WHERE shop_id = $1", shop_id)
    if shop is None:
        raise NotFound(f"no shop {shop_id}")
    blocks = await shop_restrictions(tx.conn, shop_id, tx.now) & SHOP_LISTING_BLOCKS
    if blocks:
        raise RuleViolation(
            "listing_banned",
            f"shop {shop_id} may not list products now ({', '.join(sorted(blocks))})",
        )
    product_id = new_id()
    await tx.conn.execute(
        "INSERT INTO products (product_id, shop_id, title, description, status,"
        " ship_within_hours) VALUES ($1, $2, $3, $4, 'active', $5)",
        product_id,
        shop_id,
        title,
        description,
        ship_within_hours,
    )
    for sku in skus:
        await tx.conn.execute(
            "INSERT INTO skus (sku_id, product_id, name, price_fen, stock, per_buyer_limit,"
            " sale_starts_at, sale_ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            new_id(),
            product_id,
            sku["name"],
            sku["price_fen"],
            sku["stock"],
            sku.get("per_buyer_limit"),
            sku.get("sale_starts_at"),
            sku.get("sale_ends_at"),
        )
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductListed(**_product_facts(view, tx.now)))
    return view


async def _locked_product(tx: Tx, product_id: str) -> asyncpg.Record:
    row = await tx.conn.fetchrow(
        "SELECT * FROM products WHERE product_id = $1 FOR UPDATE", product_id
    )
    if row is None:
        raise NotFound(f"no product {product_id}")
    return row


async def update_sku(
    tx: Tx,
    principal: Principal,
    product_id: str,
    sku_id: str,
    *,
    price_fen: int | None,
    stock: int | None,
) -> dict[str, Any]:
    product = await _locked_product(tx, product_id)
    _as_seller(principal, product["shop_id"])
    row = await tx.conn.fetchrow(
        "UPDATE skus SET price_fen = coalesce($3, price_fen), stock = coalesce($4, stock)"
        " WHERE sku_id = $1 AND product_id = $2 RETURNING sku_id",
        sku_id,
        product_id,
        price_fen,
        stock,
    )
    if row is None:
        raise NotFound(f"product {product_id} has no SKU {sku_id}")
    await tx.conn.execute(
        "UPDATE products SET updated_at = $2 WHERE product_id = $1", product_id, tx.now
    )
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductChanged(**_product_facts(view, tx.now)))
    return view


async def refresh_product_status(tx: Tx, product_id: str) -> tuple[str, str]:
    """Recompute a product's status from its bans and its seller's choice: (before, after)."""
    row = await tx.conn.fetchrow(
        """UPDATE products p SET status = CASE
                 WHEN EXISTS (SELECT 1 FROM product_bans b WHERE b.product_id = p.product_id
                              AND b.revoked_at IS NULL) THEN 'banned'
                 WHEN p.seller_delisted THEN 'delisted' ELSE 'active' END,
               updated_at = $2
           FROM products old WHERE old.product_id = p.product_id AND p.product_id = $1
           RETURNING old.status AS before, p.status AS after""",
        product_id,
        tx.now,
    )
    assert row is not None
    return row["before"], row["after"]


async def delist_product(tx: Tx, principal: Principal, product_id: str) -> dict[str, Any]:
    product = await _locked_product(tx, product_id)
    _as_seller(principal, product["shop_id"])
    if product["status"] != "active":
        raise domain.IllegalTransition(f"cannot delist a product that is {product['status']}")
    await tx.conn.execute(
        "UPDATE products SET seller_delisted = true WHERE product_id = $1", product_id
    )
    await refresh_product_status(tx, product_id)
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductDelisted(**_product_facts(view, tx.now), reason="seller"))
    return view


async def relist_product(tx: Tx, principal: Principal, product_id: str) -> dict[str, Any]:
    product = await _locked_product(tx, product_id)
    _as_seller(principal, product["shop_id"])
    if product["status"] == "banned":
        raise domain.IllegalTransition("cannot relist a product banned by moderation")
    if product["status"] != "delisted":
        raise domain.IllegalTransition(f"cannot relist a product that is {product['status']}")
    blocks = await shop_restrictions(tx.conn, product["shop_id"], tx.now) & SHOP_LISTING_BLOCKS
    if blocks:
        raise RuleViolation(
            "listing_banned", f"the shop may not list products now ({', '.join(sorted(blocks))})"
        )
    await tx.conn.execute(
        "UPDATE products SET seller_delisted = false WHERE product_id = $1", product_id
    )
    await refresh_product_status(tx, product_id)
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductRelisted(**_product_facts(view, tx.now), reason="seller"))
    return view


# --- placing and moving orders ---------------------------------------------------------------
@dataclass(frozen=True)
class Reservation:
    """One buyer's order of a SKU, as parsed from the request."""

    buyer: Principal
    quantity: int
    attribution: dict[str, Any]


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
    outcomes: list[dict[str, Any] | Exception | None] = [_refused(sku, r, tx.now) for r in wanted]
    open_ = [i for i, outcome in enumerate(outcomes) if outcome is None]
    held = await _holdings(tx.conn, sku, [wanted[i].buyer.subject for i in open_])
    allotment = domain.allot(
        sku["stock"],
        sku["per_buyer_limit"],
        held,
        [(wanted[i].buyer.subject, wanted[i].quantity) for i in open_],
    )
    granted = []
    for i, reason in zip(open_, allotment.refusals, strict=True):
        if reason is None:
            granted.append(i)
        else:
            outcomes[i] = _refusal(reason, sku, wanted[i].quantity)
    rows = await _reserve(tx, sku, [wanted[i] for i in granted], allotment)
    for i, row in zip(granted, rows, strict=True):
        outcomes[i] = order_view(row)
    decided = [o for o in outcomes if o is not None]
    assert len(decided) == len(wanted), "every reservation decided"
    return decided


def _refused(sku: asyncpg.Record, wanted: Reservation, now: datetime) -> Exception | None:
    """Why this reservation cannot be placed whatever the stock, or None."""
    if wanted.buyer.role is not Role.BUYER:
        return Forbidden("only buyers place orders")
    try:
        domain.check_attribution(wanted.attribution["channel"], wanted.attribution)
        if sku["product_status"] != "active":
            raise RuleViolation(
                "product_unavailable", f"product {sku['product_id']} is {sku['product_status']}"
            )
        blocks = set(sku["restrictions"]) & SHOP_SELLING_BLOCKS
        if blocks:
            raise RuleViolation(
                "shop_suspended",
                f"shop {sku['shop_id']} sells nothing now ({', '.join(sorted(blocks))})",
            )
        domain.SaleWindow(sku["sale_starts_at"], sku["sale_ends_at"]).check(now)
    except RuleViolation as refused:
        return refused
    return None


def _refusal(reason: str, sku: asyncpg.Record, quantity: int) -> RuleViolation:
    if reason == "limit_exceeded":
        return RuleViolation(reason, f"at most {sku['per_buyer_limit']} per buyer for this SKU")
    return RuleViolation(reason, f"not enough stock for {quantity} of SKU {sku['sku_id']}")


async def _holdings(conn: Connection, sku: asyncpg.Record, buyers: list[str]) -> dict[str, int]:
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


async def _reserve(
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
            ev.OrderPlaced(**_order_facts(row, tx.now), payment_due_at=row["payment_due_at"])
            for row in placed
        ]
    )
    return placed


ATTRIBUTION_COLUMNS = (
    "channel",
    "room_id",
    "anchor_id",
    "video_id",
    "creator_id",
    "commission_rate_bp",
)
ORDERS_PLACED = """
INSERT INTO orders (order_id, shop_id, shop_kind, buyer_id, product_id, sku_id, quantity,
    unit_price_fen, total_fen, channel, room_id, anchor_id, video_id, creator_id,
    commission_rate_bp, status, placed_at, payment_due_at)
SELECT o, $2::text, $3::text, b, $5::text, $6::text, q, $8::bigint, $8::bigint * q, c, r, a, v,
    cr, bp, 'placed', $15::timestamptz, $16::timestamptz
FROM unnest($1::text[], $4::text[], $7::int[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::text[], $14::int[]) AS u(o, b, q, c, r, a, v, cr, bp)
RETURNING *
"""


async def locked_order(tx: Tx, order_id: str) -> asyncpg.Record:
    row = await tx.conn.fetchrow("SELECT * FROM orders WHERE order_id = $1 FOR UPDATE", order_id)
    if row is None:
        raise NotFound(f"no order {order_id}")
    return row


async def _move(
    tx: Tx, order: asyncpg.Record, action: OrderAction, sets: str = "", *args: Any
) -> asyncpg.Record:
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
    order = await locked_order(tx, order_id)
    _as_buyer(principal, order["buyer_id"])
    hours = await tx.conn.fetchval(
        "SELECT ship_within_hours FROM products WHERE product_id = $1", order["product_id"]
    )
    ship_by = tx.windows.ship_by(tx.now, hours)
    row = await _move(tx, order, OrderAction.PAY, "paid_at = $3, ship_by = $4", tx.now, ship_by)
    await tx.emit(ev.OrderPaid(**_order_facts(row, tx.now), ship_by=ship_by))
    return order_view(row)


async def cancel(tx: Tx, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await locked_order(tx, order_id)
    _as_buyer(principal, order["buyer_id"])
    return order_view(await _cancel(tx, order, OrderAction.CANCEL, "buyer"))


async def _cancel(
    tx: Tx, order: asyncpg.Record, action: OrderAction, reason: str
) -> asyncpg.Record:
    row = await _move(tx, order, action, "cancelled_at = $3, cancel_reason = $4", tx.now, reason)
    await _release_stock(tx, row)
    await tx.emit(ev.OrderCancelled(**_order_facts(row, tx.now), reason=reason))
    return row


async def ship(tx: Tx, principal: Principal, order_id: str, tracking_number: str) -> dict[str, Any]:
    order = await locked_order(tx, order_id)
    _as_seller(principal, order["shop_id"])
    if await _open_refund(tx, order_id, RefundKind.REFUND_ONLY):
        raise RuleViolation(
            "refund_in_progress", "a refund request before shipment is open; answer it first"
        )
    row = await _move(
        tx,
        order,
        OrderAction.SHIP,
        "shipped_at = $3, tracking_number = $4",
        tx.now,
        tracking_number,
    )
    await tx.emit(
        ev.OrderShipped(
            **_order_facts(row, tx.now),
            tracking_number=tracking_number,
            ship_by=row["ship_by"],
            late=tx.now > row["ship_by"],
        )
    )
    return order_view(row)


async def deliver(tx: Tx, principal: Principal, order_id: str) -> dict[str, Any]:
    if principal.role not in (Role.SERVICE, Role.OPERATOR):
        raise Forbidden("deliveries are reported by the logistics service or an operator")
    order = await locked_order(tx, order_id)
    complete_at = tx.now + tx.windows.confirm_window
    row = await _move(
        tx,
        order,
        OrderAction.DELIVER,
        "delivered_at = $3, auto_complete_at = $4",
        tx.now,
        complete_at,
    )
    await tx.emit(
        ev.OrderDelivered(
            **_order_facts(row, tx.now), shipped_at=row["shipped_at"], auto_complete_at=complete_at
        )
    )
    return order_view(row)


async def confirm(tx: Tx, principal: Principal, order_id: str) -> dict[str, Any]:
    order = await locked_order(tx, order_id)
    _as_buyer(principal, order["buyer_id"])
    return order_view(await complete(tx, order, automatic=False))


async def complete(tx: Tx, order: asyncpg.Record, *, automatic: bool) -> asyncpg.Record:
    action = OrderAction.AUTO_COMPLETE if automatic else OrderAction.CONFIRM
    row = await _move(tx, order, action, "completed_at = $3", tx.now)
    await tx.emit(ev.OrderCompleted(**_order_facts(row, tx.now), automatic=automatic))
    return row


async def expire_unpaid(tx: Tx, order: asyncpg.Record) -> asyncpg.Record:
    return await _cancel(tx, order, OrderAction.EXPIRE, "payment_timeout")


async def flag_overdue_shipment(tx: Tx, order: asyncpg.Record) -> None:
    row = await tx.conn.fetchrow(
        "UPDATE orders SET overdue_flagged_at = $2 WHERE order_id = $1"
        " AND overdue_flagged_at IS NULL AND status = 'paid' RETURNING *",
        order["order_id"],
        tx.now,
    )
    if row is not None:
        await tx.emit(ev.ShipmentOverdue(**_order_facts(row, tx.now), ship_by=row["ship_by"]))


# --- after-sales ----------------------------------------------------------------------------
async def _open_refund(tx: Tx, order_id: str, kind: RefundKind | None = None) -> bool:
    return bool(
        await tx.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM refunds WHERE order_id = $1"
            " AND status = ANY($3::text[]) AND ($2::text IS NULL OR kind = $2))",
            order_id,
            kind.value if kind else None,
            sorted(OPEN_REFUND_STATUSES),
        )
    )


async def request_refund(
    tx: Tx,
    principal: Principal,
    order_id: str,
    *,
    kind: str,
    reason: str,
    amount_fen: int | None,
) -> dict[str, Any]:
    order = await locked_order(tx, order_id)
    _as_buyer(principal, order["buyer_id"])
    amount = amount_fen if amount_fen is not None else order["total_fen"] - order["refunded_fen"]
    domain.check_refund_request(
        order["status"], kind, amount, order["total_fen"], order["refunded_fen"]
    )
    if await _open_refund(tx, order_id):
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
            **_refund_facts(order, refund, tx.now),
            answer_due_at=refund["answer_due_at"],
            after_shipment=refund["after_shipment"],
        )
    )
    return refund_view(refund)


async def locked_refund(tx: Tx, refund_id: str) -> tuple[asyncpg.Record, asyncpg.Record]:
    refund = await tx.conn.fetchrow(
        "SELECT * FROM refunds WHERE refund_id = $1 FOR UPDATE", refund_id
    )
    if refund is None:
        raise NotFound(f"no refund {refund_id}")
    return refund, await locked_order(tx, refund["order_id"])


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
    await tx.emit(ev.OrderRefunded(**_refund_facts(updated, refund, tx.now)))
    if updated["status"] == OrderStatus.PAID and updated["refunded_fen"] == updated["total_fen"]:
        await _cancel(tx, updated, OrderAction.REFUND_IN_FULL, "refunded_before_shipment")
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
                **_refund_facts(order, refund, tx.now),
                automatic=action is RefundAction.AUTO_APPROVE,
                answered_after_s=max(answered, 0.0),
                return_due_at=return_due,
            )
        )
    if status is RefundStatus.REFUNDED:
        return await _pay_back(tx, order, refund)
    return await _set_refund(tx, refund, status, "return_due_at = $3", return_due)


async def approve_refund(tx: Tx, principal: Principal, refund_id: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id)
    _as_seller(principal, order["shop_id"])
    return refund_view(await grant_refund(tx, refund, order, action=RefundAction.APPROVE))


async def reject_refund(tx: Tx, principal: Principal, refund_id: str, note: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id)
    _as_seller(principal, order["shop_id"])
    status = domain.next_refund_status(refund["status"], refund["kind"], RefundAction.REJECT)
    row = await _set_refund(tx, refund, status, "answered_at = $3, note = $4", tx.now, note)
    await tx.emit(
        ev.RefundRejected(
            **_refund_facts(order, row, tx.now),
            note=note,
            answered_after_s=max((tx.now - refund["requested_at"]).total_seconds(), 0.0),
        )
    )
    return refund_view(row)


async def escalate_refund(tx: Tx, principal: Principal, refund_id: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id)
    _as_buyer(principal, order["buyer_id"])
    status = domain.next_refund_status(refund["status"], refund["kind"], RefundAction.ESCALATE)
    if await _open_refund(tx, order["order_id"]):
        raise RuleViolation("refund_in_progress", "another after-sales case for this order is open")
    row = await _set_refund(tx, refund, status)
    await tx.emit(ev.RefundEscalated(**_refund_facts(order, row, tx.now)))
    return refund_view(row)


async def decide_dispute(
    tx: Tx, principal: Principal, refund_id: str, in_favour_of: str
) -> dict[str, Any]:
    if principal.role not in (Role.REVIEWER, Role.OPERATOR):
        raise Forbidden("disputes are decided by platform reviewers")
    refund, order = await locked_refund(tx, refund_id)
    if refund["status"] != RefundStatus.DISPUTED:
        raise domain.IllegalTransition(f"cannot decide a refund that is {refund['status']}")
    refund = await _set_refund(
        tx, refund, RefundStatus.DISPUTED, "decided_by = $3", principal.subject
    )
    await tx.emit(
        ev.RefundDisputeDecided(
            **_refund_facts(order, refund, tx.now),
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
    await tx.emit(ev.RefundClosed(**_refund_facts(order, row, tx.now), why=why))
    return row


async def ship_return(
    tx: Tx, principal: Principal, refund_id: str, tracking_number: str
) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id)
    _as_buyer(principal, order["buyer_id"])
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
            **_refund_facts(order, row, tx.now), tracking_number=tracking_number, receive_due_at=due
        )
    )
    return refund_view(row)


async def receive_return(
    tx: Tx, refund: asyncpg.Record, order: asyncpg.Record, *, automatic: bool
) -> asyncpg.Record:
    action = RefundAction.AUTO_RECEIVE if automatic else RefundAction.RECEIVE
    domain.next_refund_status(refund["status"], refund["kind"], action)
    refund = await _set_refund(tx, refund, refund["status"], "received_at = $3", tx.now)
    await tx.emit(ev.ReturnReceived(**_refund_facts(order, refund, tx.now), automatic=automatic))
    return await _pay_back(tx, order, refund)


async def confirm_return(tx: Tx, principal: Principal, refund_id: str) -> dict[str, Any]:
    refund, order = await locked_refund(tx, refund_id)
    _as_seller(principal, order["shop_id"])
    return refund_view(await receive_return(tx, refund, order, automatic=False))


# --- reviews ---------------------------------------------------------------------------------
async def review(
    tx: Tx, principal: Principal, order_id: str, stars: dict[str, int], text: str
) -> dict[str, Any]:
    order = await locked_order(tx, order_id)
    _as_buyer(principal, order["buyer_id"])
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
    await tx.emit(ev.OrderReviewed(**_order_facts(order, tx.now), **stars, text=text))
    return dict(row)
