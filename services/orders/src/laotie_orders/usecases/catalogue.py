"""Shops, products and their SKUs (price, stock), as their sellers keep them."""

from __future__ import annotations

from typing import Any

import asyncpg
from laotie_common.auth import Principal, Role
from laotie_common.ids import new_id
from laotie_common.problems import NotFound
from laotie_contracts import orders as ev

from laotie_orders import domain
from laotie_orders.access import new_shop_owner, require_operator, require_seller
from laotie_orders.domain import RuleViolation
from laotie_orders.facts import product_facts
from laotie_orders.queries import product_view, shop, shop_restrictions
from laotie_orders.usecases.unit import Tx


async def create_shop(
    tx: Tx, principal: Principal, *, shop_id: str | None, name: str, kind: str, owner_id: str
) -> dict[str, Any]:
    """A new shop. A seller asking for a brand gets a merchant shop with the request pending
    until an operator verifies it; an operator creating a brand verifies it then and there."""
    shop_id, owner_id = new_shop_owner(principal, shop_id, owner_id)
    verified = kind == "brand" and principal.role is Role.OPERATOR
    row = await tx.conn.fetchrow(
        "INSERT INTO shops (shop_id, name, kind, owner_id, brand_requested, brand_verified_by,"
        " brand_verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
        " RETURNING *",
        shop_id or new_id(),
        name,
        "brand" if verified else "merchant",
        owner_id,
        kind == "brand" and not verified,
        principal.subject if verified else None,
        tx.now if verified else None,
    )
    if row is None:
        raise RuleViolation("shop_exists", f"shop {shop_id} already exists")
    if verified:
        await _brand_verified(tx, row["shop_id"], principal, "created as a brand by an operator")
    return dict(row)


async def verify_brand(
    tx: Tx, principal: Principal, shop_id: str, *, verified: bool, note: str
) -> dict[str, Any]:
    """An operator's decision on a shop's request to be a brand (audited by the route)."""
    require_operator(principal)
    row = await tx.conn.fetchrow(
        "UPDATE shops SET kind = CASE WHEN $2 THEN 'brand' ELSE kind END,"
        " brand_requested = false,"
        " brand_verified_by = CASE WHEN $2 THEN $3 ELSE brand_verified_by END,"
        " brand_verified_at = CASE WHEN $2 THEN $4 ELSE brand_verified_at END"
        " WHERE shop_id = $1 AND brand_requested AND kind = 'merchant'"
        " RETURNING shop_id",
        shop_id,
        verified,
        principal.subject,
        tx.now,
    )
    if row is None:
        current = await shop(tx.conn, shop_id, tx.now)  # NotFound when there is no such shop
        raise domain.IllegalTransition(
            f"shop {shop_id} is a {current['kind']} with no brand request pending"
        )
    if verified:
        await _brand_verified(tx, shop_id, principal, note)
    return await shop(tx.conn, shop_id, tx.now)


async def _brand_verified(tx: Tx, shop_id: str, principal: Principal, note: str) -> None:
    await tx.emit(
        ev.ShopBrandVerified(
            shop_id=shop_id, verified_by=principal.subject, note=note, occurred_at=tx.now
        )
    )


async def write_profile(tx: Tx, principal: Principal, shop_id: str, text: str) -> dict[str, Any]:
    """A shop's profile text, a new revision (shown again if an earlier one was hidden);
    moderation scans it (``orders.shop.profile_changed``)."""
    require_seller(principal, shop_id)
    revision = new_id()
    row = await tx.conn.fetchrow(
        "UPDATE shops SET profile = $2, profile_revision = $3, profile_hidden = false"
        " WHERE shop_id = $1 RETURNING kind",
        shop_id,
        text,
        revision,
    )
    if row is None:
        raise NotFound(f"no shop {shop_id}")
    await tx.emit(
        ev.ShopProfileChanged(
            shop_id=shop_id,
            shop_kind=row["kind"],
            text=text,
            revision_id=revision,
            occurred_at=tx.now,
        )
    )
    return await shop(tx.conn, shop_id, tx.now)


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
    require_seller(principal, shop_id)
    shop = await tx.conn.fetchrow("SELECT * FROM shops WHERE shop_id = $1", shop_id)
    if shop is None:
        raise NotFound(f"no shop {shop_id}")
    domain.check_listing(await shop_restrictions(tx.conn, shop_id, tx.now), f"shop {shop_id}")
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
    await _add_skus(tx, product_id, skus)
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductListed(**product_facts(view, tx.now)))
    return view


async def _add_skus(tx: Tx, product_id: str, skus: list[dict[str, Any]]) -> None:
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


async def locked_product(tx: Tx, product_id: str) -> asyncpg.Record:
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
    product = await locked_product(tx, product_id)
    require_seller(principal, product["shop_id"])
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
    await tx.emit(ev.ProductChanged(**product_facts(view, tx.now)))
    return view


async def edit_text(
    tx: Tx,
    principal: Principal,
    product_id: str,
    *,
    title: str | None,
    description: str | None,
) -> dict[str, Any]:
    """Change a product's words, whatever its status: an active product is re-scanned by
    moderation (``orders.product.changed``); a banned one may then be resubmitted."""
    product = await locked_product(tx, product_id)
    require_seller(principal, product["shop_id"])
    await tx.conn.execute(
        "UPDATE products SET title = coalesce($2, title), description = coalesce($3,"
        " description), updated_at = $4 WHERE product_id = $1",
        product_id,
        title,
        description,
        tx.now,
    )
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductChanged(**product_facts(view, tx.now)))
    return view


async def resubmit_product(tx: Tx, principal: Principal, product_id: str) -> dict[str, Any]:
    """Rectification (整改): a banned product goes back to moderation with its text as it
    stands; what moderation decides comes back on ``moderation.penalty`` (its bans for that
    text lifted, the product relisted) or stays with a reviewer. Returns the resubmission's id
    (moderation's ``GET /rectifications/{id}``) and the product."""
    product = await locked_product(tx, product_id)
    require_seller(principal, product["shop_id"])
    if product["status"] != "banned":
        raise domain.IllegalTransition(
            f"only a product banned by moderation is resubmitted; this one is {product['status']}"
        )
    view = await product_view(tx.conn, product_id)
    resubmission_id = new_id()
    await tx.emit(
        ev.ProductResubmitted(**product_facts(view, tx.now), resubmission_id=resubmission_id)
    )
    return {"resubmission_id": resubmission_id, "product": view}


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
    product = await locked_product(tx, product_id)
    require_seller(principal, product["shop_id"])
    if product["status"] != "active":
        raise domain.IllegalTransition(f"cannot delist a product that is {product['status']}")
    await tx.conn.execute(
        "UPDATE products SET seller_delisted = true WHERE product_id = $1", product_id
    )
    await refresh_product_status(tx, product_id)
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductDelisted(**product_facts(view, tx.now), reason="seller"))
    return view


async def relist_product(tx: Tx, principal: Principal, product_id: str) -> dict[str, Any]:
    product = await locked_product(tx, product_id)
    require_seller(principal, product["shop_id"])
    if product["status"] == "banned":
        raise domain.IllegalTransition("cannot relist a product banned by moderation")
    if product["status"] != "delisted":
        raise domain.IllegalTransition(f"cannot relist a product that is {product['status']}")
    restrictions = await shop_restrictions(tx.conn, product["shop_id"], tx.now)
    domain.check_listing(restrictions, "the shop")
    await tx.conn.execute(
        "UPDATE products SET seller_delisted = false WHERE product_id = $1", product_id
    )
    await refresh_product_status(tx, product_id)
    view = await product_view(tx.conn, product_id)
    await tx.emit(ev.ProductRelisted(**product_facts(view, tx.now), reason="seller"))
    return view
