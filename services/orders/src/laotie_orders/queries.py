"""Orders' reads: shops and their restrictions, products with their SKUs, orders, refunds
(each taking a connection; the views the routes and the use cases answer with)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from laotie_common.auth import Principal
from laotie_common.db import Connection
from laotie_common.problems import NotFound

from laotie_orders.access import can_read_order
from laotie_orders.domain import OPEN_REFUND_STATUSES, LiveRoom, Promotion, RefundKind


def active_restrictions(shop: str, now: str) -> str:
    """SQL: the kinds of restriction in force on ``shop`` at ``now`` (SQL expressions)."""
    return (
        f"SELECT DISTINCT kind FROM shop_restrictions WHERE shop_id = {shop}"  # noqa: S608
        f" AND revoked_at IS NULL AND (until IS NULL OR until > {now})"
    )


async def shop_restrictions(conn: Connection, shop_id: str, now: datetime) -> set[str]:
    return {r["kind"] for r in await conn.fetch(active_restrictions("$1", "$2"), shop_id, now)}


async def shop(conn: Connection, shop_id: str, now: datetime) -> dict[str, Any]:
    """A shop and the restrictions in force on it."""
    row = await conn.fetchrow("SELECT * FROM shops WHERE shop_id = $1", shop_id)
    if row is None:
        raise NotFound(f"no shop {shop_id}")
    blocks = await shop_restrictions(conn, shop_id, now)
    view = {**dict(row), "restrictions": sorted(blocks)}
    if row["profile_hidden"]:
        view["profile"] = ""  # hidden by moderation until the seller writes another
    return view


# --- products ------------------------------------------------------------------------------
PRODUCTS = "SELECT p.*, s.kind AS shop_kind FROM products p JOIN shops s USING (shop_id)"


async def product_view(conn: Connection, product_id: str) -> dict[str, Any]:
    product = await conn.fetchrow(PRODUCTS + " WHERE product_id = $1", product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    [view] = await _with_skus(conn, [product])
    return view


async def shop_products(conn: Connection, shop_id: str, limit: int) -> list[dict[str, Any]]:
    """A shop's products with their SKUs: two queries, however many products."""
    products = await conn.fetch(
        PRODUCTS + " WHERE shop_id = $1 ORDER BY product_id LIMIT $2", shop_id, limit
    )
    return await _with_skus(conn, products)


async def _with_skus(conn: Connection, products: list[asyncpg.Record]) -> list[dict[str, Any]]:
    skus = await conn.fetch(
        "SELECT * FROM skus WHERE product_id = ANY($1::text[]) ORDER BY product_id, sku_id",
        [p["product_id"] for p in products],
    )
    by_product: dict[str, list[dict[str, Any]]] = {}
    for sku in skus:
        by_product.setdefault(sku["product_id"], []).append(dict(sku))
    return [{**p, "skus": by_product.get(p["product_id"], [])} for p in products]


async def shop_product_ids(conn: Connection, shop_id: str) -> list[str]:
    rows = await conn.fetch("SELECT product_id FROM products WHERE shop_id = $1", shop_id)
    return [r["product_id"] for r in rows]


# --- distribution --------------------------------------------------------------------------
PLANS = "SELECT d.*, s.kind AS shop_kind FROM distribution_plans d JOIN shops s USING (shop_id)"
PROMOTIONS = (
    "SELECT m.*, d.product_id, d.shop_id, d.commission_rate_bp, d.starts_at, d.ends_at,"
    " d.ended_at FROM promotions m JOIN distribution_plans d USING (plan_id)"
)


async def plan_view(conn: Connection, plan_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(PLANS + " WHERE plan_id = $1", plan_id)
    if row is None:
        raise NotFound(f"no distribution plan {plan_id}")
    return dict(row)


async def product_plans(conn: Connection, product_id: str) -> list[dict[str, Any]]:
    """A product's distribution plans, the open one first: what creators may take up."""
    rows = await conn.fetch(
        PLANS + " WHERE product_id = $1 ORDER BY ended_at IS NOT NULL, created_at DESC",
        product_id,
    )
    return [dict(r) for r in rows]


async def promotion_view(
    conn: Connection, plan_id: str, creator_id: str, placement: str, placement_id: str
) -> dict[str, Any]:
    row = await conn.fetchrow(
        PROMOTIONS + " WHERE m.plan_id = $1 AND m.creator_id = $2 AND m.placement = $3"
        " AND m.placement_id = $4",
        plan_id,
        creator_id,
        placement,
        placement_id,
    )
    assert row is not None
    return dict(row)


async def promotions_by_reference(conn: Connection, references: list[str]) -> dict[str, Promotion]:
    """The promotions these references name (an unknown one is absent): one query."""
    if not references:
        return {}
    rows = await conn.fetch(
        PROMOTIONS + " WHERE m.reference = ANY($1::text[])", sorted(set(references))
    )
    return {
        r["reference"]: Promotion(**{f: r[f] for f in Promotion.__dataclass_fields__}) for r in rows
    }


# --- live rooms ----------------------------------------------------------------------------
async def live_rooms(conn: Connection, room_ids: list[str]) -> dict[str, LiveRoom]:
    """The live rooms these ids name, as ``live.room`` told of them (an unknown one is
    absent): one query."""
    if not room_ids:
        return {}
    rows = await conn.fetch(
        "SELECT room_id, owner_id, session_id FROM live_rooms WHERE room_id = ANY($1::text[])",
        sorted(set(room_ids)),
    )
    return {r["room_id"]: LiveRoom(r["room_id"], r["owner_id"], r["session_id"]) for r in rows}


async def live_room_view(conn: Connection, room_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM live_rooms WHERE room_id = $1", room_id)
    if row is None:
        raise NotFound(f"no live room {room_id} is known to orders")
    return dict(row) | {"live": row["session_id"] is not None}


# --- orders --------------------------------------------------------------------------------
def order_view(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


def refund_view(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


async def readable_order(conn: Connection, principal: Principal, order_id: str) -> asyncpg.Record:
    """The order, if ``principal`` may read it; else NotFound (not 403: do not reveal
    others' orders)."""
    row = await conn.fetchrow("SELECT * FROM orders WHERE order_id = $1", order_id)
    if row is None or not can_read_order(principal, row):
        raise NotFound(f"no order {order_id}")
    return row


async def order(conn: Connection, principal: Principal, order_id: str) -> dict[str, Any]:
    return order_view(await readable_order(conn, principal, order_id))


async def orders(
    conn: Connection, buyer_id: str | None, shop_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Orders of a buyer, a shop (or both, or neither), newest first."""
    rows = await conn.fetch(
        "SELECT * FROM orders WHERE ($1::text IS NULL OR buyer_id = $1)"
        " AND ($2::text IS NULL OR shop_id = $2) ORDER BY placed_at DESC LIMIT $3",
        buyer_id,
        shop_id,
        limit,
    )
    return [order_view(r) for r in rows]


# --- refunds -------------------------------------------------------------------------------
async def order_refunds(
    conn: Connection, principal: Principal, order_id: str
) -> list[dict[str, Any]]:
    await readable_order(conn, principal, order_id)
    rows = await conn.fetch(
        "SELECT * FROM refunds WHERE order_id = $1 ORDER BY requested_at", order_id
    )
    return [refund_view(r) for r in rows]


async def refund(conn: Connection, principal: Principal, refund_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT r.*, o.buyer_id, o.shop_id FROM refunds r JOIN orders o USING (order_id)"
        " WHERE refund_id = $1",
        refund_id,
    )
    if row is None or not can_read_order(principal, row):
        raise NotFound(f"no refund {refund_id}")
    return dict(row)


async def open_refund(conn: Connection, order_id: str, kind: RefundKind | None = None) -> bool:
    """Whether an after-sales case (of ``kind``, if given) is open on the order."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM refunds WHERE order_id = $1"
            " AND status = ANY($3::text[]) AND ($2::text IS NULL OR kind = $2))",
            order_id,
            kind.value if kind else None,
            sorted(OPEN_REFUND_STATUSES),
        )
    )
