"""The Chuanliu bridge: affinity from distribution sales, grants when a brand goes live,
attribution of self-broadcast orders, and rewards for the creators who made them.

The budget is a ledger row per Asia/Shanghai day whose ``granted`` only grows by a
conditional UPDATE inside the deciding transaction, so concurrent replicas serialise on it
and can never grant past the budget; a session start is decided once (``triggers``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from laotie_common import metrics
from laotie_common.db import Connection
from laotie_common.ids import new_id
from laotie_common.uow import UnitOfWork
from laotie_contracts.chuanliu import CreatorRewarded, TrafficGranted

from laotie_chuanliu.policy import ChuanliuPolicy

SOURCE = "/laotie/chuanliu"
RESTRICTIVE_MEASURES = {
    "live_ban",
    "listing_ban",
    "traffic_restriction",
    "suspend",
    "close",
    "settlement_hold",
    "delist_products",
}


@dataclass
class Tx(UnitOfWork):
    source: ClassVar[str] = SOURCE
    policy: ChuanliuPolicy


# --- budget --------------------------------------------------------------------------------
async def budget_day(tx: Tx) -> tuple[date, float, int]:
    """Today's (day, share of day gone, budget), creating the day's ledger row if needed."""
    day, share = tx.policy.day_of(tx.now)
    budget = await tx.conn.fetchval(
        """INSERT INTO budget_days (day, budget)
           VALUES ($1, coalesce((SELECT daily_impressions FROM budget_settings), $2))
           ON CONFLICT (day) DO UPDATE SET budget = budget_days.budget RETURNING budget""",
        day,
        tx.policy.budget.daily_impressions,
    )
    return day, share, int(budget)


async def set_budget(tx: Tx, daily_impressions: int, operator: str) -> dict[str, Any]:
    """Operators set the daily budget: from today on. Today's can't drop below what's out."""
    await tx.conn.execute(
        "INSERT INTO budget_settings (id, daily_impressions, updated_at, updated_by)"
        " VALUES (true, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET"
        " daily_impressions = $1, updated_at = $2, updated_by = $3",
        daily_impressions,
        tx.now,
        operator,
    )
    day, _, _ = await budget_day(tx)
    await tx.conn.execute(
        "UPDATE budget_days SET budget = greatest($2, granted) WHERE day = $1",
        day,
        daily_impressions,
    )
    return await budget_view(tx)


async def budget_view(tx: Tx) -> dict[str, Any]:
    day, share, _ = await budget_day(tx)
    row = await tx.conn.fetchrow("SELECT budget, granted FROM budget_days WHERE day = $1", day)
    assert row is not None
    allowance = tx.policy.paced_allowance(row["budget"], share)
    return {
        "day": day,
        "budget": row["budget"],
        "granted": row["granted"],
        "left": row["budget"] - row["granted"],
        "day_share_gone": round(share, 4),
        "paced_allowance_now": allowance,
        "grantable_now": max(0, allowance - row["granted"]),
        "policy_version": tx.policy.version,
    }


# --- who may have traffic ---------------------------------------------------------------------
async def under_penalty(tx: Tx, subject_id: str) -> bool:
    return bool(
        await tx.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM penalties WHERE subject_id = $1 AND NOT revoked"
            " AND (until IS NULL OR until > $2))",
            subject_id,
            tx.now,
        )
    )


async def weight_of(tx: Tx, subject_key: str, unscored: float) -> tuple[float, str | None]:
    row = await tx.conn.fetchrow(
        "SELECT band, chuanliu_eligible, traffic_weight FROM bands WHERE subject_key = $1",
        subject_key,
    )
    if row is None:
        return unscored, None
    return (row["traffic_weight"] if row["chuanliu_eligible"] else 0.0), row["band"]


# --- grants ----------------------------------------------------------------------------------
async def grant_for_session(
    tx: Tx, *, session_id: str, room_id: str, brand_id: str
) -> dict[str, Any]:
    """Decide the grants a brand's session start earns, once per session."""
    claimed = await tx.conn.fetchval(
        "INSERT INTO triggers (session_id, brand_id, room_id, outcome, grants, impressions,"
        " decided_at) VALUES ($1, $2, $3, 'deciding', 0, 0, $4) ON CONFLICT DO NOTHING"
        " RETURNING 1",
        session_id,
        brand_id,
        room_id,
        tx.now,
    )
    if not claimed:
        return {"outcome": "decided_before"}
    weight, band = await weight_of(tx, f"shop:{brand_id}", tx.policy.grants.unscored_brand_weight)
    refusal = None
    if await under_penalty(tx, brand_id):
        refusal = "brand_under_penalty"
    elif weight <= 0:
        refusal = f"brand_band_{band}"
    granted = impressions = 0
    if refusal is None:
        granted, impressions, refusal = await _grant(tx, session_id, room_id, brand_id, weight)
    outcome = "granted" if granted else f"refused:{refusal}"
    await tx.conn.execute(
        "UPDATE triggers SET outcome = $2, grants = $3, impressions = $4 WHERE session_id = $1",
        session_id,
        outcome,
        granted,
        impressions,
    )
    if refusal:
        tx.after_commit.append(metrics.CHUANLIU_REFUSALS.labels(refusal.split(":")[0]).inc)
    return {"outcome": outcome, "grants": granted, "impressions": impressions}


async def _grant(
    tx: Tx, session_id: str, room_id: str, brand_id: str, weight: float
) -> tuple[int, int, str | None]:
    policy = tx.policy
    day, share, budget = await budget_day(tx)
    per_grant = policy.grants.impressions_per_grant
    brand_cap = int(budget * policy.budget.brand_share * weight)
    allowance = policy.paced_allowance(budget, share)
    half_life_s = policy.affinity.half_life_days * 86400
    candidates = await tx.conn.fetch(
        """SELECT buyer_id,
                  sum(exp(-ln(2) * EXTRACT(EPOCH FROM $2 - paid_at) / $3)) AS affinity,
                  (array_agg(creator_id ORDER BY paid_at DESC))[1] AS via
           FROM affinity WHERE brand_id = $1 AND NOT withdrawn AND paid_at <= $2
           GROUP BY buyer_id HAVING sum(exp(-ln(2) * EXTRACT(EPOCH FROM $2 - paid_at) / $3))
                                    >= $4
           ORDER BY affinity DESC, buyer_id LIMIT $5""",
        brand_id,
        tx.now,
        half_life_s,
        policy.affinity.min_affinity,
        policy.grants.max_grants_per_session,
    )
    granted = impressions = 0
    stop: str | None = None if candidates else "no_affinity"
    if per_grant > brand_cap:
        return 0, 0, "brand_share_spent"
    for candidate in candidates:
        buyer = candidate["buyer_id"]
        # The buyer's daily frequency cap: reserve one slot, or skip this buyer.
        slot = await tx.conn.fetchval(
            "INSERT INTO buyer_days AS b (day, buyer_id, grants) VALUES ($1, $2, 1)"
            " ON CONFLICT (day, buyer_id) DO UPDATE SET grants = b.grants + 1"
            " WHERE b.grants < $3 RETURNING grants",
            day,
            buyer,
            policy.grants.per_buyer_daily_cap,
        )
        if slot is None:
            continue
        # The brand's share, then the global paced budget; both conditional, both atomic.
        brand_ok = await tx.conn.fetchval(
            "INSERT INTO brand_days AS d (day, brand_id, granted) VALUES ($1, $2, $3)"
            " ON CONFLICT (day, brand_id) DO UPDATE SET granted = d.granted + $3"
            " WHERE d.granted + $3 <= $4 RETURNING 1",
            day,
            brand_id,
            per_grant,
            brand_cap,
        )
        if not brand_ok:
            stop = "brand_share_spent"
            await _release_slot(tx, day, buyer)
            break
        budget_ok = await tx.conn.fetchval(
            "UPDATE budget_days SET granted = granted + $2 WHERE day = $1"
            " AND granted + $2 <= least(budget, $3) RETURNING granted",
            day,
            per_grant,
            allowance,
        )
        if not budget_ok:
            stop = "budget_spent" if allowance >= budget else "paced"
            await tx.conn.execute(
                "UPDATE brand_days SET granted = granted - $3 WHERE day = $1 AND brand_id = $2",
                day,
                brand_id,
                per_grant,
            )
            await _release_slot(tx, day, buyer)
            break
        grant_id = new_id()
        await tx.conn.execute(
            "INSERT INTO grants (grant_id, session_id, buyer_id, brand_id, via_creator_id,"
            " affinity, impressions, day, granted_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            grant_id,
            session_id,
            buyer,
            brand_id,
            candidate["via"],
            float(candidate["affinity"]),
            per_grant,
            day,
            tx.now,
        )
        await tx.emit(
            TrafficGranted(
                grant_id=grant_id,
                recipient_id=buyer,
                brand_shop_id=brand_id,
                room_id=room_id,
                session_id=session_id,
                via_creator_id=candidate["via"],
                affinity=round(float(candidate["affinity"]), 6),
                impressions=per_grant,
                day=day.isoformat(),
                granted_at=tx.now,
            )
        )
        granted += 1
        impressions += per_grant
    if impressions:
        tx.after_commit.append(lambda: metrics.CHUANLIU_IMPRESSIONS.inc(impressions))
    return granted, impressions, stop


async def _release_slot(tx: Tx, day: date, buyer: str) -> None:
    await tx.conn.execute(
        "UPDATE buyer_days SET grants = grants - 1 WHERE day = $1 AND buyer_id = $2",
        day,
        buyer,
    )


# --- attribution and rewards ---------------------------------------------------------------
async def self_broadcast_order(
    tx: Tx,
    *,
    order_id: str,
    brand_id: str,
    buyer_id: str,
    placed_at: datetime,
    paid_day: date,
    gmv_fen: int,
    refunded_fen: int,
) -> None:
    """Record a paid self-broadcast order, attributed if the buyer had a grant for the brand
    in the attribution window before it was placed; reward the creator behind the grant on
    the attributed GMV, which is net of refunds: a later refund lowers the reward."""
    window = timedelta(days=tx.policy.attribution.window_days)
    grant = await tx.conn.fetchrow(
        "SELECT grant_id, via_creator_id FROM grants WHERE buyer_id = $1 AND brand_id = $2"
        " AND granted_at <= $3 AND granted_at > $4 ORDER BY granted_at DESC LIMIT 1",
        buyer_id,
        brand_id,
        placed_at,
        placed_at - window,
    )
    row = await tx.conn.fetchrow(
        """INSERT INTO self_broadcast_orders AS o (order_id, brand_id, buyer_id, day, gmv_fen,
               refunded_fen, attributed, grant_id, via_creator_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (order_id) DO UPDATE SET
               refunded_fen = greatest(o.refunded_fen, EXCLUDED.refunded_fen)
           RETURNING (xmax = 0) AS inserted, gmv_fen - refunded_fen AS net_fen, attributed,
               via_creator_id""",
        order_id,
        brand_id,
        buyer_id,
        paid_day,
        gmv_fen,
        refunded_fen,
        grant is not None,
        grant["grant_id"] if grant else None,
        grant["via_creator_id"] if grant else None,
    )
    assert row is not None
    creator, net_fen = row["via_creator_id"], int(row["net_fen"])
    if not row["inserted"]:
        if row["attributed"] and creator is not None:
            await reduce_reward(tx, creator=creator, order_id=order_id, net_fen=net_fen)
        return
    if grant is None:
        return
    tx.after_commit.append(lambda: metrics.CHUANLIU_ATTRIBUTED_FEN.inc(gmv_fen))
    if creator is None:
        return
    await reward_creator(tx, creator=creator, brand_id=brand_id, order_id=order_id, gmv_fen=net_fen)


def _reward_impressions(tx: Tx, net_fen: int, weight: float) -> int:
    return math.floor(net_fen / 100 * tx.policy.rewards.impressions_per_yuan * weight)


async def reduce_reward(tx: Tx, *, creator: str, order_id: str, net_fen: int) -> None:
    """A refund of an attributed order lowers its reward to what the net GMV earns (a
    reward never grows back: a redelivered payment or refund changes nothing)."""
    weight, _ = await weight_of(tx, f"creator:{creator}", tx.policy.rewards.unscored_creator_weight)
    if weight <= 0:
        return
    await tx.conn.execute(
        "UPDATE rewards SET impressions = $2 WHERE order_id = $1 AND impressions > $2",
        order_id,
        max(0, _reward_impressions(tx, net_fen, weight)),
    )


async def reward_creator(
    tx: Tx, *, creator: str, brand_id: str, order_id: str, gmv_fen: int
) -> None:
    weight, band = await weight_of(
        tx, f"creator:{creator}", tx.policy.rewards.unscored_creator_weight
    )
    if weight <= 0:
        tx.after_commit.append(metrics.CHUANLIU_REFUSALS.labels("creator_reputation").inc)
        return
    if await under_penalty(tx, creator):
        tx.after_commit.append(metrics.CHUANLIU_REFUSALS.labels("creator_under_penalty").inc)
        return
    impressions = _reward_impressions(tx, gmv_fen, weight)
    if impressions < 1:
        return
    reward_id = new_id()
    created = await tx.conn.fetchval(
        "INSERT INTO rewards (reward_id, order_id, creator_id, brand_id, impressions, band,"
        " rewarded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING"
        " RETURNING 1",
        reward_id,
        order_id,
        creator,
        brand_id,
        impressions,
        band,
        tx.now,
    )
    if created:
        await tx.emit(
            CreatorRewarded(
                reward_id=reward_id,
                recipient_id=creator,
                brand_shop_id=brand_id,
                order_id=order_id,
                attributed_gmv_fen=gmv_fen,
                reputation_band=band,
                impressions=impressions,
                rewarded_at=tx.now,
            )
        )


async def uplift(conn: Connection, brand_id: str, since: date, until: date) -> dict[str, Any]:
    rows = await conn.fetch(
        """SELECT day::text AS day,
                  coalesce(sum(gmv_fen - refunded_fen) FILTER (WHERE attributed), 0)
                      AS attributed_fen,
                  coalesce(sum(gmv_fen - refunded_fen) FILTER (WHERE NOT attributed), 0)
                      AS organic_fen,
                  count(*) FILTER (WHERE attributed) AS attributed_orders,
                  count(*) FILTER (WHERE NOT attributed) AS organic_orders
           FROM self_broadcast_orders WHERE brand_id = $1 AND day BETWEEN $2 AND $3
           GROUP BY day ORDER BY day""",
        brand_id,
        since,
        until,
    )
    days = [{**dict(r), "uplift": _ratio(r["attributed_fen"], r["organic_fen"])} for r in rows]
    attributed = sum(int(d["attributed_fen"]) for d in days)
    organic = sum(int(d["organic_fen"]) for d in days)
    return {
        "brand_id": brand_id,
        "from": since.isoformat(),
        "to": until.isoformat(),
        "days": days,
        "attributed_fen": attributed,
        "organic_fen": organic,
        "uplift": _ratio(attributed, organic),
    }


def _ratio(part: int, whole: int) -> float | None:
    """Attributed / non-attributed net GMV; None when there is no organic GMV to compare."""
    return round(part / whole, 4) if whole > 0 else None
