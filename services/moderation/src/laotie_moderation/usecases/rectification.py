"""Rectification (整改): a product banned for its words, resubmitted by its seller with new
text, is re-scanned; clean, the delistings its content caused end, else a reviewer decides
(``domain.rectification``). Each decision is an event the orders service enforces
(``moderation.penalty.delisting_lifted``); the seller's steps and the reviewer's are in the
audit trails of orders and moderation."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from laotie_common.auth import Principal
from laotie_common.problems import Conflict
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import DelistingLifted

from laotie_moderation import queries
from laotie_moderation.domain.detection import text_findings, text_version
from laotie_moderation.domain.rectification import Delisting, product_text, rescan_outcome
from laotie_moderation.facts import penalty_row_facts
from laotie_moderation.usecases import Tx

INSERT = """
INSERT INTO rectifications (rectification_id, product_id, shop_id, text, text_version, findings,
                            penalty_ids, status, decided_by, reason, created_at, decided_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12)
ON CONFLICT DO NOTHING RETURNING 1
"""


async def review_resubmission(tx: Tx, product: order_events.ProductResubmitted) -> None:
    """Re-scan a resubmitted product's text and decide, once per resubmission."""
    text = product_text(product.title, product.description)
    penalties = await queries.content_delistings(
        tx.conn, product.product_id, product.shop_id, tx.policy.rectification.codes
    )
    delistings = [
        Delisting(p["penalty_id"], p["decided_by"], p["evidence_text"]) for p in penalties
    ]
    waiting = await queries.in_review(tx.conn, product.product_id)
    findings = text_findings(text)
    outcome = rescan_outcome(delistings, text, findings, waiting)
    inserted = await tx.conn.fetchval(
        INSERT,
        product.resubmission_id,
        product.product_id,
        product.shop_id,
        text,
        text_version(text),
        json.dumps([{"code": code, "rule": f.rule, "detail": f.detail} for code, f in findings]),
        [p["penalty_id"] for p in penalties],
        outcome.status,
        outcome.decided_by,
        outcome.reason,
        tx.now,
        tx.now if outcome.decided_by else None,
    )
    if inserted and outcome.status == "accepted" and outcome.decided_by:
        await _lift(tx, product.resubmission_id, product.product_id, penalties, outcome.decided_by)


async def decide_rectification(
    tx: Tx, principal: Principal, rectification_id: str, accepted: bool, note: str
) -> dict[str, Any]:
    """A reviewer's decision on a resubmission the re-scan could not pass."""
    row = await queries.get_rectification(tx.conn, rectification_id, lock=True)
    if row["status"] != "in_review":
        raise Conflict("the rectification was decided already", reason="decided_already")
    decided_by = f"reviewer:{principal.subject}"
    updated = await tx.conn.fetchrow(
        "UPDATE rectifications SET status = $2, decided_by = $3, reason = $4, decided_at = $5"
        " WHERE rectification_id = $1 RETURNING *",
        rectification_id,
        "accepted" if accepted else "rejected",
        decided_by,
        note,
        tx.now,
    )
    assert updated is not None
    if accepted:
        penalties = await queries.penalties_by_id(tx.conn, list(row["penalty_ids"]))
        await _lift(tx, rectification_id, row["product_id"], penalties, decided_by)
    return queries.rectification_view(updated)


async def _lift(
    tx: Tx,
    rectification_id: str,
    product_id: str,
    penalties: list[asyncpg.Record],
    decided_by: str,
) -> None:
    for penalty in penalties:
        await tx.emit(
            DelistingLifted(
                **penalty_row_facts(penalty, tx.now),
                product_id=product_id,
                rectification_id=rectification_id,
                decided_by=decided_by,
            )
        )
