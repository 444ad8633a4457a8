"""Enforcing moderation's decisions (``moderation.penalty``) on shops and products.

What each penalty imposed is kept per penalty (``product_bans``, ``shop_restrictions``) so a
revocation undoes exactly that and no more; timed restrictions end by themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime

from laotie_common.consumer import Handler
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_contracts import orders as ev
from laotie_contracts.moderation import PenaltyApplied, PenaltyRevoked

from laotie_orders.domain import Windows
from laotie_orders.usecases import Tx, _product_facts, product_view, refresh_product_status

SHOP_MEASURES = {"listing_ban", "suspend", "close"}


def penalty_handlers(windows: Windows) -> dict[str, Handler]:
    async def applied(conn: Connection, envelope: Envelope) -> None:
        await apply_penalty(Tx(conn, datetime.now(UTC), windows), envelope.parse(PenaltyApplied))

    async def revoked(conn: Connection, envelope: Envelope) -> None:
        await revoke_penalty(Tx(conn, datetime.now(UTC), windows), envelope.parse(PenaltyRevoked))

    return {"moderation.penalty.applied": applied, "moderation.penalty.revoked": revoked}


async def apply_penalty(tx: Tx, penalty: PenaltyApplied) -> None:
    shop_id = penalty.shop_id or (penalty.subject_id if penalty.subject_type == "shop" else None)
    for measure in penalty.measures:
        if measure.kind == "delist_products":
            ids = list(measure.product_ids)
            if penalty.subject_type == "product" and not ids:
                ids = [penalty.subject_id]
            if not ids and shop_id:
                ids = [
                    r["product_id"]
                    for r in await tx.conn.fetch(
                        "SELECT product_id FROM products WHERE shop_id = $1", shop_id
                    )
                ]
            for product_id in ids:
                await _ban(tx, penalty.penalty_id, product_id)
        elif measure.kind in SHOP_MEASURES and shop_id:
            await tx.conn.execute(
                "INSERT INTO shop_restrictions (penalty_id, shop_id, kind, until)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                penalty.penalty_id,
                shop_id,
                measure.kind,
                None if measure.kind == "close" else measure.until,
            )


async def _ban(tx: Tx, penalty_id: str, product_id: str) -> None:
    exists = await tx.conn.fetchval(
        "SELECT 1 FROM products WHERE product_id = $1 FOR UPDATE", product_id
    )
    if not exists:
        return  # not one of ours (or not yet known): nothing to enforce here
    await tx.conn.execute(
        "INSERT INTO product_bans (penalty_id, product_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        penalty_id,
        product_id,
    )
    before, after = await refresh_product_status(tx, product_id)
    if before != after:
        view = await product_view(tx.conn, product_id)
        await tx.emit(
            ev.ProductDelisted(
                **_product_facts(view, tx.now), reason="moderation", penalty_id=penalty_id
            )
        )


async def revoke_penalty(tx: Tx, penalty: PenaltyRevoked) -> None:
    await tx.conn.execute(
        "UPDATE shop_restrictions SET revoked_at = $2 WHERE penalty_id = $1 AND revoked_at IS NULL",
        penalty.penalty_id,
        tx.now,
    )
    unbanned = await tx.conn.fetch(
        "UPDATE product_bans SET revoked_at = $2 WHERE penalty_id = $1 AND revoked_at IS NULL"
        " RETURNING product_id",
        penalty.penalty_id,
        tx.now,
    )
    for row in unbanned:
        await tx.conn.execute(
            "SELECT 1 FROM products WHERE product_id = $1 FOR UPDATE", row["product_id"]
        )
        before, after = await refresh_product_status(tx, row["product_id"])
        if before == "banned" and after != "banned":
            view = await product_view(tx.conn, row["product_id"])
            if after == "active":
                await tx.emit(
                    ev.ProductRelisted(**_product_facts(view, tx.now), reason="moderation_revoked")
                )
