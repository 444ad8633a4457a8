"""Chuanliu's use cases: affinity from distribution sales, grants when a brand goes live,
attribution of self-broadcast orders, rewards for the creators who made them, the budget.
Each runs in the caller's unit of work, reads with ``queries``, decides with ``domain`` and
writes what was decided; events go to the outbox. Nothing here commits or publishes.

The budget is a ledger row per Asia/Shanghai day whose ``granted`` only grows by a
conditional UPDATE inside the deciding transaction, which holds the row locked from its
first read (``queries.budget_day``): concurrent replicas serialise on it and can never grant
past the budget; a session start is decided once (``triggers``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar

import asyncpg
from laotie_common import metrics
from laotie_common.ids import new_id
from laotie_common.uow import UnitOfWork
from laotie_contracts import live as live_events
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import PenaltyFacts
from laotie_contracts.scoring import ScoreCurrent, ScoreNotEnoughData

from laotie_chuanliu import domain, facts, queries
from laotie_chuanliu.policy import ChuanliuPolicy

SOURCE = "/laotie/chuanliu"


@dataclass
class Tx(UnitOfWork):
    source: ClassVar[str] = SOURCE
    policy: ChuanliuPolicy


class LedgerMoved(RuntimeError):
    """A ledger changed between the decision's reads and its writes: never, while the day's
    budget row is locked; the transaction is rolled back rather than grant past a cap."""


# --- budget --------------------------------------------------------------------------------
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
    day, _ = tx.policy.day_of(tx.now)
    row = await queries.budget_day(tx.conn, day, tx.policy.budget.daily_impressions)
    await tx.conn.execute(
        "UPDATE budget_days SET budget = $2 WHERE day = $1",
        day,
        domain.todays_budget(daily_impressions, row["granted"]),
    )
    return await queries.budget_view(tx.conn, tx.policy, tx.now)


# --- what other services tell us --------------------------------------------------------------
async def note_brand_room(tx: Tx, room: live_events.RoomFacts) -> bool:
    """Remember a brand's own room; False for any other room."""
    if room.owner_type != "brand" or not room.shop_id:
        return False
    await tx.conn.execute(
        "INSERT INTO brand_rooms (room_id, brand_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        room.room_id,
        room.shop_id,
    )
    return True


async def forget_band(tx: Tx, score: ScoreNotEnoughData) -> None:
    """A subject scoring withdrew the score of: unscored again (not its old band)."""
    await tx.conn.execute(
        "DELETE FROM bands WHERE subject_key = $1 AND computed_at <= $2",
        score.subject_key,
        score.computed_at,
    )


async def record_band(tx: Tx, score: ScoreCurrent) -> None:
    """The latest band of a shop or creator (an older score never overwrites a newer one)."""
    if score.kind not in ("shop", "creator"):
        return
    await tx.conn.execute(
        """INSERT INTO bands AS b (subject_key, band, chuanliu_eligible, traffic_weight,
               computed_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (subject_key) DO UPDATE SET band = EXCLUDED.band,
               chuanliu_eligible = EXCLUDED.chuanliu_eligible,
               traffic_weight = EXCLUDED.traffic_weight, computed_at = EXCLUDED.computed_at
           WHERE b.computed_at <= EXCLUDED.computed_at""",
        score.subject_key,
        score.band,
        score.resources.chuanliu_eligible,
        score.resources.traffic_weight,
        score.computed_at,
    )


async def apply_penalty(tx: Tx, penalty: PenaltyFacts) -> None:
    """A penalty with a restrictive measure keeps its subject (and shop) out while it lasts."""
    restricts, until = domain.restriction(penalty.measures)
    if not restricts:
        return
    for subject in domain.penalised_subjects(penalty.subject_id, penalty.shop_id):
        await tx.conn.execute(
            "INSERT INTO penalties (penalty_id, subject_id, until) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            penalty.penalty_id,
            subject,
            until,
        )


async def revoke_penalty(tx: Tx, penalty: PenaltyFacts) -> None:
    await tx.conn.execute(
        "UPDATE penalties SET revoked = true WHERE penalty_id = $1", penalty.penalty_id
    )


# --- orders: affinity and self-broadcast ------------------------------------------------------
async def apply_order_fact(tx: Tx, ce_type: str, order: order_events.OrderFacts) -> None:
    """A brand's distribution sale moves the buyer's affinity; a paid sale in the brand's own
    room is a self-broadcast order (attributed to a grant or not)."""
    if domain.is_brand_distribution(order):
        change = domain.affinity_change(ce_type, order.refunded_fen)
        if change == "gained":
            await gain_affinity(tx, order)
        elif change == "withdrawn":
            await withdraw_affinity(tx, order)
        return
    room = domain.live_room_of(order)
    if room is None:
        return
    brand = await queries.brand_of_room(tx.conn, room)
    if domain.is_self_broadcast(order, brand):
        await self_broadcast_order(tx, order)


async def gain_affinity(tx: Tx, order: order_events.OrderFacts) -> None:
    await tx.conn.execute(
        "INSERT INTO affinity (order_id, buyer_id, brand_id, creator_id, paid_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        order.order_id,
        order.buyer_id,
        order.shop_id,
        order.attribution.creator_id,
        order.occurred_at,
    )


async def withdraw_affinity(tx: Tx, order: order_events.OrderFacts) -> None:
    """Insert-or-withdraw: a refund seen before the payment still withdraws."""
    await tx.conn.execute(
        "INSERT INTO affinity AS f (order_id, buyer_id, brand_id, creator_id,"
        " paid_at, withdrawn) VALUES ($1, $2, $3, $4, $5, true)"
        " ON CONFLICT (order_id) DO UPDATE SET withdrawn = true",
        order.order_id,
        order.buyer_id,
        order.shop_id,
        order.attribution.creator_id,
        order.placed_at,
    )


# --- grants ----------------------------------------------------------------------------------
async def grant_for_session(
    tx: Tx, *, session_id: str, room_id: str, brand_id: str
) -> dict[str, Any]:
    """The first round of a brand's session start, once per session."""
    if not await claim_session(tx, session_id=session_id, room_id=room_id, brand_id=brand_id):
        return {"outcome": "decided_before"}
    return await grant_round(tx, session_id=session_id, room_id=room_id, brand_id=brand_id)


async def top_up(tx: Tx, session: asyncpg.Record) -> dict[str, Any]:
    """A live session's next round (the caller holds its trigger row)."""
    return await grant_round(
        tx,
        session_id=session["session_id"],
        room_id=session["room_id"],
        brand_id=session["brand_id"],
        round_=session["rounds"] + 1,
    )


async def end_session(tx: Tx, ended: live_events.SessionEnded) -> None:
    """A session over takes no more rounds."""
    await tx.conn.execute(
        "UPDATE triggers SET ended_at = $2, next_round_at = NULL WHERE session_id = $1",
        ended.session_id,
        ended.ended_at,
    )


async def grant_round(
    tx: Tx, *, session_id: str, room_id: str, brand_id: str, round_: int = 1
) -> dict[str, Any]:
    """Decide one round of a session's grants: the brand's eligibility now, then grants to
    buyers the session has not granted yet, within what the ledgers have left by now."""
    band = await queries.band_of(tx.conn, f"shop:{brand_id}")
    weight, band_name = domain.weight_of(band, tx.policy.grants.unscored_brand_weight)
    refusal = domain.brand_refusal(
        under_penalty=await queries.under_penalty(tx.conn, brand_id, tx.now),
        weight=weight,
        band=band_name,
    )
    granted = impressions = 0
    if refusal is None:
        day, limits, plan = await plan_for_brand(tx, brand_id, weight, session_id)
        await carry_out(
            tx,
            day,
            limits,
            plan,
            session_id=session_id,
            room_id=room_id,
            brand_id=brand_id,
            round_=round_,
        )
        granted, impressions, refusal = len(plan.buyers), plan.impressions, plan.stop
    total = await record_round(tx, session_id, round_, granted, impressions, refusal)
    if refusal:
        tx.after_commit.append(metrics.CHUANLIU_REFUSALS.labels(domain.refusal_label(refusal)).inc)
    return {"outcome": total["outcome"], "round": round_, "grants": granted}


async def record_round(
    tx: Tx, session_id: str, round_: int, granted: int, impressions: int, refusal: str | None
) -> asyncpg.Record:
    """Add a round to the session's totals and say when the next one is due."""
    grants = tx.policy.grants
    due = domain.next_round_at(round_, grants.rounds_per_session, tx.now, grants.top_up_every_s)
    row = await tx.conn.fetchrow(
        "UPDATE triggers SET grants = grants + $3, impressions = impressions + $4,"
        " outcome = CASE WHEN grants + $3 > 0 THEN 'granted' ELSE $5 END, rounds = $2,"
        " next_round_at = CASE WHEN ended_at IS NULL THEN $6::timestamptz END"
        " WHERE session_id = $1 RETURNING outcome",
        session_id,
        round_,
        granted,
        impressions,
        domain.outcome(granted, refusal),
        due,
    )
    assert row is not None  # claimed
    return row


async def claim_session(tx: Tx, *, session_id: str, room_id: str, brand_id: str) -> bool:
    """Take the session start's decision (False: it was decided before)."""
    claimed = await tx.conn.fetchval(
        "INSERT INTO triggers (session_id, brand_id, room_id, outcome, grants, impressions,"
        " decided_at, rounds) VALUES ($1, $2, $3, 'deciding', 0, 0, $4, 0)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        session_id,
        brand_id,
        room_id,
        tx.now,
    )
    return bool(claimed)


async def plan_for_brand(
    tx: Tx, brand_id: str, weight: float, session_id: str
) -> tuple[date, domain.Limits, domain.GrantPlan]:
    """Read today's ledgers (the budget row locked first) and the brand's candidates not yet
    granted in the session, and plan the round's grants."""
    policy = tx.policy
    day, share = policy.day_of(tx.now)
    today = await queries.budget_day(tx.conn, day, policy.budget.daily_impressions)
    budget = int(today["budget"])
    limits = domain.Limits(
        per_grant=policy.grants.impressions_per_grant,
        per_buyer_daily_cap=policy.grants.per_buyer_daily_cap,
        brand_cap=domain.brand_cap(budget, policy.budget.brand_share, weight),
        budget=budget,
        allowance=policy.paced_allowance(budget, share),
    )
    reach = domain.reach(policy.grants.max_grants_per_round, weight)
    everyone = await queries.candidates(tx.conn, brand_id, session_id, tx.now, policy, reach)
    candidates, held = domain.split_holdout(everyone, policy.grants.holdout_share)
    ledger = await queries.ledger(
        tx.conn, day, brand_id, int(today["granted"]), [c.buyer_id for c in candidates]
    )
    plan = domain.plan_grants(candidates, limits, ledger)
    reached = domain.reached_holdout(everyone, held, plan)
    return day, limits, dataclasses.replace(plan, held=tuple(reached))


async def carry_out(
    tx: Tx,
    day: date,
    limits: domain.Limits,
    plan: domain.GrantPlan,
    *,
    session_id: str,
    room_id: str,
    brand_id: str,
    round_: int,
) -> None:
    """Take the plan's grants from the ledgers, record each and tell its buyer."""
    if not plan.buyers:
        return
    await take_from_ledgers(tx, day, limits, plan, brand_id)
    if plan.held:
        await tx.conn.execute(
            "INSERT INTO holdouts (session_id, brand_id, buyer_id, affinity, day, held_at)"
            " SELECT $1, $2, b, a, $5, $6 FROM unnest($3::text[], $4::numeric[]) AS u(b, a)"
            " ON CONFLICT DO NOTHING",
            session_id,
            brand_id,
            [c.buyer_id for c in plan.held],
            [c.affinity for c in plan.held],
            day,
            tx.now,
        )
    for buyer in plan.buyers:
        grant = await tx.conn.fetchrow(
            "INSERT INTO grants (grant_id, session_id, buyer_id, brand_id, via_creator_id,"
            " affinity, impressions, day, granted_at, round)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
            new_id(),
            session_id,
            buyer.buyer_id,
            brand_id,
            buyer.via_creator_id,
            buyer.affinity,
            plan.per_grant,
            day,
            tx.now,
            round_,
        )
        assert grant is not None
        await tx.emit(facts.traffic_granted(grant, room_id))
    impressions = plan.impressions
    tx.after_commit.append(lambda: metrics.CHUANLIU_IMPRESSIONS.inc(impressions))


async def take_from_ledgers(
    tx: Tx, day: date, limits: domain.Limits, plan: domain.GrantPlan, brand_id: str
) -> None:
    """A slot of each buyer's frequency cap, the brand's share, the paced budget: each
    conditional, as a last guard."""
    buyers = [b.buyer_id for b in plan.buyers]
    slotted = await tx.conn.fetch(
        "INSERT INTO buyer_days AS b (day, buyer_id, grants)"
        " SELECT $1, unnest($2::text[]), 1"
        " ON CONFLICT (day, buyer_id) DO UPDATE SET grants = b.grants + 1"
        " WHERE b.grants < $3 RETURNING buyer_id",
        day,
        buyers,
        limits.per_buyer_daily_cap,
    )
    brand_ok = await tx.conn.fetchval(
        "INSERT INTO brand_days AS d (day, brand_id, granted) VALUES ($1, $2, $3)"
        " ON CONFLICT (day, brand_id) DO UPDATE SET granted = d.granted + $3"
        " WHERE d.granted + $3 <= $4 RETURNING 1",
        day,
        brand_id,
        plan.impressions,
        limits.brand_cap,
    )
    budget_ok = await tx.conn.fetchval(
        "UPDATE budget_days SET granted = granted + $2 WHERE day = $1"
        " AND granted + $2 <= least(budget, $3) RETURNING granted",
        day,
        plan.impressions,
        limits.allowance,
    )
    if len(slotted) != len(buyers) or not brand_ok or not budget_ok:
        raise LedgerMoved(f"the ledgers of {day} moved while {brand_id}'s grants were decided")


# --- attribution and rewards ---------------------------------------------------------------
async def self_broadcast_order(tx: Tx, order: order_events.OrderFacts) -> None:
    """Record a paid self-broadcast order, attributed if the buyer had a grant for the brand
    in the attribution window before it was placed; reward the creator behind the grant on
    the attributed GMV, which is net of refunds: a later refund lowers the reward."""
    window = timedelta(days=tx.policy.attribution.window_days)
    brand_id, placed_at = order.shop_id, order.placed_at
    grant = await queries.grant_in_window(
        tx.conn, order.buyer_id, brand_id, placed_at, placed_at - window
    )
    row = await tx.conn.fetchrow(
        """INSERT INTO self_broadcast_orders AS o (order_id, brand_id, buyer_id, day, gmv_fen,
               refunded_fen, attributed, grant_id, via_creator_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (order_id) DO UPDATE SET
               refunded_fen = greatest(o.refunded_fen, EXCLUDED.refunded_fen)
           RETURNING (xmax = 0) AS inserted, gmv_fen - refunded_fen AS net_fen, attributed,
               via_creator_id""",
        order.order_id,
        brand_id,
        order.buyer_id,
        tx.policy.day_of(placed_at)[0],
        order.total_fen,
        order.refunded_fen,
        grant is not None,
        grant["grant_id"] if grant else None,
        grant["via_creator_id"] if grant else None,
    )
    assert row is not None
    creator, net_fen = row["via_creator_id"], int(row["net_fen"])
    if row["inserted"] and grant is not None:
        gmv_fen = order.total_fen
        tx.after_commit.append(lambda: metrics.CHUANLIU_ATTRIBUTED_FEN.inc(gmv_fen))
    follow_up = domain.order_follow_up(
        inserted=row["inserted"], attributed=row["attributed"], creator=creator
    )
    if creator is None:
        return
    if follow_up == "reduce_reward":
        await reduce_reward(tx, creator=creator, order_id=order.order_id, net_fen=net_fen)
    elif follow_up == "reward":
        await reward_creator(
            tx, creator=creator, brand_id=brand_id, order_id=order.order_id, gmv_fen=net_fen
        )


async def creator_weight(tx: Tx, creator: str) -> tuple[float, str | None]:
    band = await queries.band_of(tx.conn, f"creator:{creator}")
    return domain.weight_of(band, tx.policy.rewards.unscored_creator_weight)


async def reduce_reward(tx: Tx, *, creator: str, order_id: str, net_fen: int) -> None:
    """A refund of an attributed order withdraws what its GMV earned the creator's day: the
    impressions go back to the day's budget, and ``creator_reward_reduced`` says so (a
    reward never grows back: a redelivered payment or refund changes nothing)."""
    reward = await tx.conn.fetchrow(
        "SELECT * FROM rewards WHERE order_id = $1 AND creator_id = $2 FOR UPDATE",
        order_id,
        creator,
    )
    if reward is None or reward["net_fen"] is None:
        return  # none, or booked before rewards kept their GMV (2026.11-1)
    refunded = reward["net_fen"] - max(0, net_fen)
    if refunded <= 0:
        return
    key = f"reward:{creator}:{reward['day']}"
    await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)
    day_net = await queries.creator_day_gmv(tx.conn, creator, reward["day"])
    weight, _ = await creator_weight(tx, creator)
    withdrawn = domain.withdrawn_impressions(
        day_net, refunded, reward["impressions"], tx.policy.rewards, weight
    )
    row = await tx.conn.fetchrow(
        "UPDATE rewards SET impressions = impressions - $2, withdrawn = withdrawn + $2,"
        " net_fen = $3 WHERE order_id = $1"
        " RETURNING *",
        order_id,
        withdrawn,
        max(0, net_fen),
    )
    assert row is not None
    if withdrawn <= 0:
        return
    await tx.conn.execute(
        "UPDATE budget_days SET granted = granted - $2 WHERE day = $1", reward["day"], withdrawn
    )
    await tx.emit(facts.creator_reward_reduced(row, withdrawn, tx.now))


async def reward_creator(
    tx: Tx, *, creator: str, brand_id: str, order_id: str, gmv_fen: int
) -> None:
    weight, band = await creator_weight(tx, creator)
    penalised = weight > 0 and await queries.under_penalty(tx.conn, creator, tx.now)
    refusal = domain.creator_refusal(weight=weight, under_penalty=penalised)
    if refusal is not None:
        tx.after_commit.append(metrics.CHUANLIU_REFUSALS.labels(refusal).inc)
        return
    day, _ = tx.policy.day_of(tx.now)
    # One creator's rewards of a day are decided one at a time (in every replica): the curve
    # is of their day's total, and the budget row is locked next.
    await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"reward:{creator}:{day}")
    before = await queries.creator_day_gmv(tx.conn, creator, day)
    impressions = domain.reward_impressions(before, gmv_fen, tx.policy.rewards, weight)
    ledger = await queries.budget_day(tx.conn, day, tx.policy.budget.daily_impressions)
    impressions = min(impressions, ledger["budget"] - ledger["granted"])
    if impressions < 1:
        refusal = "budget_exhausted" if ledger["granted"] >= ledger["budget"] else None
        if refusal:
            tx.after_commit.append(metrics.CHUANLIU_REFUSALS.labels(refusal).inc)
        return
    reward = await tx.conn.fetchrow(
        "INSERT INTO rewards (reward_id, order_id, creator_id, brand_id, impressions, band,"
        " rewarded_at, day, net_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (order_id) DO NOTHING RETURNING *",
        new_id(),
        order_id,
        creator,
        brand_id,
        impressions,
        band,
        tx.now,
        day,
        gmv_fen,
    )
    if reward is not None:
        await tx.conn.execute(
            "UPDATE budget_days SET granted = granted + $2 WHERE day = $1", day, impressions
        )
        await tx.emit(facts.creator_rewarded(reward, gmv_fen))
