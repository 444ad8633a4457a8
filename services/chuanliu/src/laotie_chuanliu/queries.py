"""Chuanliu's reads: the budget ledger, who may have traffic (bands, penalties), the buyers a
brand's sales pulled, what is out today, grants, uplift and creators' contribution."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
from laotie_common.db import Connection
from laotie_common.problems import NotFound

from laotie_chuanliu import domain
from laotie_chuanliu.policy import ChuanliuPolicy

CANDIDATES_SQL = """
SELECT buyer_id,
       sum(exp(-ln(2) * EXTRACT(EPOCH FROM $2 - paid_at) / $3)) AS affinity,
       (array_agg(creator_id ORDER BY paid_at DESC))[1] AS via
FROM affinity WHERE brand_id = $1 AND NOT withdrawn AND paid_at <= $2
  AND buyer_id NOT IN (SELECT buyer_id FROM grants WHERE session_id = $6)
  AND buyer_id NOT IN (SELECT buyer_id FROM holdouts WHERE session_id = $6)
GROUP BY buyer_id HAVING sum(exp(-ln(2) * EXTRACT(EPOCH FROM $2 - paid_at) / $3))
                         >= $4
ORDER BY affinity DESC, buyer_id LIMIT $5
"""

UPLIFT_SQL = """
SELECT day::text AS day,
       coalesce(sum(gmv_fen - refunded_fen) FILTER (WHERE attributed), 0) AS attributed_fen,
       coalesce(sum(gmv_fen - refunded_fen) FILTER (WHERE NOT attributed), 0) AS organic_fen,
       count(*) FILTER (WHERE attributed) AS attributed_orders,
       count(*) FILTER (WHERE NOT attributed) AS organic_orders
FROM self_broadcast_orders WHERE brand_id = $1 AND day BETWEEN $2 AND $3
GROUP BY day ORDER BY day
"""


# --- the budget ledger ------------------------------------------------------------------------
async def budget_day(conn: Connection, day: date, default_budget: int) -> asyncpg.Record:
    """The day's ledger row (budget, granted), made on first sight with the operators'
    budget or the policy's. An upsert: it locks the row until the caller's transaction
    ends, so every decision of the day serialises on it and what it reads stays true."""
    row = await conn.fetchrow(
        """INSERT INTO budget_days (day, budget)
           VALUES ($1, coalesce((SELECT daily_impressions FROM budget_settings), $2))
           ON CONFLICT (day) DO UPDATE SET budget = budget_days.budget
           RETURNING budget, granted""",
        day,
        default_budget,
    )
    assert row is not None
    return row


async def creator_day_gmv(conn: Connection, creator_id: str, day: date) -> int:
    """The attributed net GMV a creator's rewards of ``day`` were earned on."""
    total: int = await conn.fetchval(
        "SELECT coalesce(sum(net_fen), 0) FROM rewards WHERE creator_id = $1 AND day = $2",
        creator_id,
        day,
    )
    return int(total)


async def budget_view(conn: Connection, policy: ChuanliuPolicy, now: datetime) -> dict[str, Any]:
    """Today's budget, what is out and left, and the pacing (in a transaction of its own, or
    a savepoint of the caller's)."""
    day, share = policy.day_of(now)
    async with conn.transaction():
        row = await budget_day(conn, day, policy.budget.daily_impressions)
    return domain.budget_view(
        day=day,
        share=share,
        budget=row["budget"],
        granted=row["granted"],
        allowance=policy.paced_allowance(row["budget"], share),
        version=policy.version,
    )


# --- who may have traffic ---------------------------------------------------------------------
async def band_of(conn: Connection, subject_key: str) -> domain.Band | None:
    row = await conn.fetchrow(
        "SELECT band, chuanliu_eligible, traffic_weight FROM bands WHERE subject_key = $1",
        subject_key,
    )
    if row is None:
        return None
    return domain.Band(row["band"], row["chuanliu_eligible"], row["traffic_weight"])


async def under_penalty(conn: Connection, subject_id: str, now: datetime) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM penalties WHERE subject_id = $1 AND NOT revoked"
            " AND (until IS NULL OR until > $2))",
            subject_id,
            now,
        )
    )


async def brand_of_room(conn: Connection, room_id: str) -> str | None:
    brand: str | None = await conn.fetchval(
        "SELECT brand_id FROM brand_rooms WHERE room_id = $1", room_id
    )
    return brand


# --- grants -----------------------------------------------------------------------------------
async def candidates(
    conn: Connection,
    brand_id: str,
    session_id: str,
    now: datetime,
    policy: ChuanliuPolicy,
    reach: int,
) -> list[domain.Candidate]:
    """The buyers the brand's distribution sales pull whom the session has neither granted
    nor held out yet, highest affinity (decayed with the policy's half-life) first, at most
    ``reach``."""
    rows = await conn.fetch(
        CANDIDATES_SQL,
        brand_id,
        now,
        policy.affinity.half_life_days * 86400,
        policy.affinity.min_affinity,
        reach,
        session_id,
    )
    return [domain.Candidate(r["buyer_id"], float(r["affinity"]), r["via"]) for r in rows]


async def due_sessions(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Live sessions whose next round is due, the longest waiting first."""
    rows = await conn.fetch(
        "SELECT session_id FROM triggers WHERE next_round_at <= $1 ORDER BY next_round_at LIMIT $2",
        now,
        limit,
    )
    return [r["session_id"] for r in rows]


async def due_session(conn: Connection, session_id: str, now: datetime) -> asyncpg.Record | None:
    """The session's trigger row, locked, if its next round is still due (None: another
    replica holds it or had it)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT session_id, room_id, brand_id, rounds FROM triggers"
        " WHERE session_id = $1 AND next_round_at <= $2 FOR UPDATE SKIP LOCKED",
        session_id,
        now,
    )
    return row


async def ledger(
    conn: Connection, day: date, brand_id: str, budget_granted: int, buyers: Sequence[str]
) -> domain.Ledger:
    """What is out on ``day``: to the brand and to each of ``buyers``."""
    brand = await conn.fetchval(
        "SELECT granted FROM brand_days WHERE day = $1 AND brand_id = $2", day, brand_id
    )
    rows = await conn.fetch(
        "SELECT buyer_id, grants FROM buyer_days WHERE day = $1 AND buyer_id = ANY($2::text[])",
        day,
        list(buyers),
    )
    return domain.Ledger(
        budget_granted=budget_granted,
        brand_granted=int(brand or 0),
        buyer_grants={r["buyer_id"]: r["grants"] for r in rows},
    )


async def grant_in_window(
    conn: Connection, buyer_id: str, brand_id: str, placed_at: datetime, since: datetime
) -> asyncpg.Record | None:
    """The buyer's latest grant for the brand in (since, placed_at]."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT grant_id, via_creator_id FROM grants WHERE buyer_id = $1 AND brand_id = $2"
        " AND granted_at <= $3 AND granted_at > $4 ORDER BY granted_at DESC LIMIT 1",
        buyer_id,
        brand_id,
        placed_at,
        since,
    )
    return row


async def session_decision(conn: Connection, session_id: str) -> dict[str, Any]:
    trigger = await conn.fetchrow("SELECT * FROM triggers WHERE session_id = $1", session_id)
    if trigger is None:
        raise NotFound(f"no decision for session {session_id} (yet)")
    return dict(trigger)


async def session_grants(
    conn: Connection, session_id: str, *, limit: int, offset: int, buyers: bool
) -> dict[str, Any]:
    """A page of a session's grants, highest affinity first; buyer ids only if ``buyers``."""
    rows = await conn.fetch(
        "SELECT buyer_id, via_creator_id, affinity, impressions, round, granted_at FROM grants"
        " WHERE session_id = $1 ORDER BY affinity DESC, grant_id LIMIT $2 OFFSET $3",
        session_id,
        limit + 1,
        offset,
    )
    shown = [dict(r) if buyers else {k: v for k, v in r.items() if k != "buyer_id"} for r in rows]
    more = len(shown) > limit
    return {
        "grants_detail": shown[:limit],
        "next_offset": offset + limit if more else None,
    }


# --- uplift and contribution ------------------------------------------------------------------
# Per arm, the buyers (first reached in the days asked), how many bought in the brand's own
# room within the attribution window of that day, and their net GMV there.
ARMS_SQL = """
WITH arms AS (
    SELECT 'treated' AS arm, buyer_id, min(day) AS day FROM grants
    WHERE brand_id = $1 AND day BETWEEN $2 AND $3 GROUP BY buyer_id
    UNION ALL
    SELECT 'holdout', buyer_id, min(day) FROM holdouts
    WHERE brand_id = $1 AND day BETWEEN $2 AND $3 GROUP BY buyer_id
), bought AS (
    SELECT a.arm, a.buyer_id, coalesce(sum(o.gmv_fen - o.refunded_fen), 0) AS net_fen,
           count(o.order_id) AS orders
    FROM arms a LEFT JOIN self_broadcast_orders o ON o.brand_id = $1
        AND o.buyer_id = a.buyer_id AND o.day BETWEEN a.day AND a.day + $4::int
    GROUP BY a.arm, a.buyer_id
)
SELECT arm, count(*) AS buyers, count(*) FILTER (WHERE orders > 0) AS converted,
       coalesce(sum(net_fen), 0) AS net_fen
FROM bought GROUP BY arm
"""


async def uplift(
    conn: Connection, brand_id: str, since: date, until: date, window_days: int
) -> dict[str, Any]:
    rows = await conn.fetch(UPLIFT_SQL, brand_id, since, until)
    arms = {r["arm"]: r for r in await conn.fetch(ARMS_SQL, brand_id, since, until, window_days)}
    treated, held = (
        domain.arm(
            int(arms[a]["buyers"]) if a in arms else 0,
            int(arms[a]["converted"]) if a in arms else 0,
            int(arms[a]["net_fen"]) if a in arms else 0,
        )
        for a in ("treated", "holdout")
    )
    return domain.uplift(brand_id, since, until, [dict(r) for r in rows]) | {
        "against_holdout": domain.holdout_uplift(treated, held)
    }


async def contribution(conn: Connection, creator_id: str) -> dict[str, Any]:
    by_brand = await conn.fetch(
        "SELECT brand_id, count(*) AS orders, sum(gmv_fen - refunded_fen) AS gmv_fen"
        " FROM self_broadcast_orders WHERE attributed AND via_creator_id = $1"
        " GROUP BY brand_id ORDER BY brand_id",
        creator_id,
    )
    rewards = await conn.fetchrow(
        "SELECT count(*) AS rewards, coalesce(sum(impressions), 0) AS impressions,"
        " coalesce(sum(withdrawn), 0) AS withdrawn FROM rewards WHERE creator_id = $1",
        creator_id,
    )
    assert rewards is not None
    return {
        "creator_id": creator_id,
        "attributed_gmv_fen": sum(int(r["gmv_fen"]) for r in by_brand),
        "attributed_orders": sum(int(r["orders"]) for r in by_brand),
        "by_brand": [{**dict(r), "gmv_fen": int(r["gmv_fen"])} for r in by_brand],
        "rewards": int(rewards["rewards"]),
        "reward_impressions": int(rewards["impressions"]),
        "reward_impressions_withdrawn": int(rewards["withdrawn"]),
    }
