"""Distribution (达人分销): a shop's plan for a product (the commission creators earn on it),
and a creator's promotion of it in a short video, a live room or their shop window, whose
reference is the only way an order credits a creator."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from laotie_common.auth import Principal, Role
from laotie_common.ids import new_id
from laotie_common.problems import Forbidden
from laotie_contracts import orders as ev

from laotie_orders.access import require_seller
from laotie_orders.domain import IllegalTransition, RuleViolation, plan_over
from laotie_orders.queries import plan_view, promotion_view
from laotie_orders.usecases.catalogue import locked_product
from laotie_orders.usecases.unit import Tx


async def offer_distribution(
    tx: Tx,
    principal: Principal,
    product_id: str,
    *,
    commission_rate_bp: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> dict[str, Any]:
    """The shop's new plan for the product; the open one before it ends now (orders already
    placed keep the plan they were placed under)."""
    product = await locked_product(tx, product_id)
    require_seller(principal, product["shop_id"])
    if product["status"] == "banned":
        raise IllegalTransition("a product banned by moderation is not offered for distribution")
    starts = max(starts_at or tx.now, tx.now)
    if ends_at is not None and ends_at <= starts:
        raise RuleViolation("plan_window", "the plan must end after it starts")
    replaced = await tx.conn.fetchval(
        "UPDATE distribution_plans SET ended_at = $2 WHERE product_id = $1 AND ended_at IS NULL"
        " RETURNING plan_id",
        product_id,
        tx.now,
    )
    plan_id = new_id()
    await tx.conn.execute(
        "INSERT INTO distribution_plans (plan_id, product_id, shop_id, commission_rate_bp,"
        " starts_at, ends_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        plan_id,
        product_id,
        product["shop_id"],
        commission_rate_bp,
        starts,
        ends_at,
        tx.now,
    )
    plan = await plan_view(tx.conn, plan_id)
    await tx.emit(
        ev.DistributionOffered(
            **{k: plan[k] for k in ("plan_id", "product_id", "shop_id", "shop_kind")},
            commission_rate_bp=commission_rate_bp,
            starts_at=starts,
            ends_at=ends_at,
            replaces_plan_id=replaced,
            occurred_at=tx.now,
        )
    )
    return plan


async def promote(
    tx: Tx, principal: Principal, plan_id: str, *, placement: str, placement_id: str | None
) -> dict[str, Any]:
    """A creator takes the plan's product into a video, a room or their shop window: the
    promotion and its reference (the same one again if they already took it there)."""
    if principal.role is not Role.ANCHOR:
        raise Forbidden("only creators and anchors promote products")
    where = principal.subject if placement == "shop_window" else placement_id
    if not where:
        raise RuleViolation("placement_incomplete", f"a {placement} promotion needs its id")
    plan = await plan_view(tx.conn, plan_id)
    if plan_over(plan["ends_at"], plan["ended_at"], tx.now):
        raise IllegalTransition(f"plan {plan_id} is no longer open")
    row = await tx.conn.fetchrow(
        "INSERT INTO promotions (promotion_id, reference, plan_id, creator_id, placement,"
        " placement_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (plan_id, creator_id, placement, placement_id) DO NOTHING"
        " RETURNING promotion_id",
        new_id(),
        "prm_" + secrets.token_urlsafe(16),
        plan_id,
        principal.subject,
        placement,
        where,
        tx.now,
    )
    if row is None:  # taken there before: the same promotion
        return await promotion_view(tx.conn, plan_id, principal.subject, placement, where)
    await tx.emit(
        ev.ProductPromoted(
            promotion_id=row["promotion_id"],
            plan_id=plan_id,
            product_id=plan["product_id"],
            shop_id=plan["shop_id"],
            creator_id=principal.subject,
            placement=placement,
            placement_id=where,
            commission_rate_bp=plan["commission_rate_bp"],
            occurred_at=tx.now,
        )
    )
    return await promotion_view(tx.conn, plan_id, principal.subject, placement, where)
