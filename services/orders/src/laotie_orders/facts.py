"""The facts orders' events carry, built from its rows (one place for each event's shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from laotie_contracts import orders as ev


def product_facts(view: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A product's facts from its view (``queries.product_view``)."""
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


def order_facts(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
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
            plan_id=row["plan_id"],
            promotion_id=row["promotion_id"],
        ),
        "status": row["status"],
        "placed_at": row["placed_at"],
        "occurred_at": now,
    }


def refund_facts(order: asyncpg.Record, refund: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        **order_facts(order, now),
        "refund_id": refund["refund_id"],
        "refund_kind": refund["kind"],
        "refund_reason": refund["reason"],
        "refund_amount_fen": refund["amount_fen"],
    }
