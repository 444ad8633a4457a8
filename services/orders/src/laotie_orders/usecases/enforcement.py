"""Enforcing moderation's decisions (``moderation.penalty``) on shops and products.

What each penalty imposed is kept per penalty (``product_bans``, ``shop_restrictions``) so a
revocation undoes exactly that and no more; timed restrictions end by themselves.
"""

from __future__ import annotations

from laotie_contracts import orders as ev
from laotie_contracts.moderation import (
    DelistingLifted,
    PenaltyApplied,
    PenaltyRevoked,
    ViolationDetected,
)

from laotie_orders import domain
from laotie_orders.facts import product_facts
from laotie_orders.queries import product_view, shop_product_ids, shop_restrictions
from laotie_orders.usecases.catalogue import refresh_product_status
from laotie_orders.usecases.unit import Tx


async def apply_penalty(tx: Tx, penalty: PenaltyApplied) -> None:
    shop_id = domain.penalised_shop(penalty.subject_type, penalty.subject_id, penalty.shop_id)
    for measure in penalty.measures:
        if measure.kind in domain.DELISTING_MEASURES:
            ids = domain.named_products(
                penalty.subject_type, penalty.subject_id, measure.product_ids
            )
            if not ids and shop_id:
                ids = await shop_product_ids(tx.conn, shop_id)
            for product_id in ids:
                await _ban(tx, penalty.penalty_id, product_id)
        if measure.kind in domain.SHOP_MEASURES and shop_id:  # `close` is both
            await tx.conn.execute(
                "INSERT INTO shop_restrictions (penalty_id, shop_id, kind, until)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                penalty.penalty_id,
                shop_id,
                measure.kind,
                domain.restriction_until(measure.kind, measure.until),
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
                **product_facts(view, tx.now), reason="moderation", penalty_id=penalty_id
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
                    ev.ProductRelisted(**product_facts(view, tx.now), reason="moderation_revoked")
                )


async def lift_delisting(tx: Tx, lifted: DelistingLifted) -> None:
    """A rectified product: the penalty's ban on it ends (its other bans stand); active
    again, it is relisted, unless its shop may not list now (a listing ban, suspension): then
    it waits delisted, for its seller to relist it once the shop may."""
    product = await tx.conn.fetchrow(
        "SELECT shop_id FROM products WHERE product_id = $1 FOR UPDATE", lifted.product_id
    )
    if product is None:
        return
    if domain.SHOP_LISTING_BLOCKS & await shop_restrictions(tx.conn, product["shop_id"], tx.now):
        await tx.conn.execute(
            "UPDATE products SET seller_delisted = true WHERE product_id = $1", lifted.product_id
        )
    ended = await tx.conn.fetchval(
        "UPDATE product_bans SET revoked_at = $3 WHERE penalty_id = $1 AND product_id = $2"
        " AND revoked_at IS NULL RETURNING 1",
        lifted.penalty_id,
        lifted.product_id,
        tx.now,
    )
    if not ended:
        return
    before, after = await refresh_product_status(tx, lifted.product_id)
    view = await product_view(tx.conn, lifted.product_id)
    if before == "banned" and after == "active":
        await tx.emit(ev.ProductRelisted(**product_facts(view, tx.now), reason="rectified"))
    elif before != after:
        await tx.emit(ev.ProductChanged(**product_facts(view, tx.now)))


async def hide_profile(tx: Tx, violation: ViolationDetected) -> None:
    """A shop profile found diverting is hidden: that revision of it, not a later one."""
    evidence = violation.evidence
    if evidence.source_type != "shop_profile" or not violation.hide_content:
        return
    await tx.conn.execute(
        "UPDATE shops SET profile_hidden = true WHERE shop_id = $1 AND profile_revision = $2",
        violation.subject_id,
        evidence.source_id,
    )
