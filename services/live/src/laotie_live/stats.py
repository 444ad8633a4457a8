"""Session statistics from the database: viewers from the report timeline, sales from the
session's orders. Both are recomputed from their facts, so they are replay-safe."""

from __future__ import annotations

from typing import Any

from laotie_common.db import Connection
from laotie_contracts.live import SessionTotals

VIEWERS_SQL = """
WITH ordered AS (
    SELECT viewer_id, at, action,
           lag(action) OVER (PARTITION BY viewer_id ORDER BY at, action) AS previous
    FROM viewer_events WHERE session_id = $1
), deltas AS (
    SELECT at, (action = 'join')::int - (coalesce(previous, 'leave') = 'join')::int AS d
    FROM ordered
), timeline AS (
    -- RANGE: reports at the same instant are summed together before the peak is taken.
    SELECT sum(d) OVER (ORDER BY at RANGE UNBOUNDED PRECEDING) AS running FROM deltas
)
SELECT coalesce((SELECT sum(d) FROM deltas), 0) AS concurrent,
       coalesce((SELECT max(running) FROM timeline), 0) AS peak,
       (SELECT count(DISTINCT viewer_id) FROM viewer_events
        WHERE session_id = $1 AND action = 'join') AS unique_viewers
"""

SALES_SQL = """
SELECT coalesce(sum(paid_fen) FILTER (WHERE paid), 0) AS gmv_fen,
       coalesce(sum(refunded_fen), 0) AS refunded_fen,
       count(*) FILTER (WHERE paid) AS orders,
       count(DISTINCT buyer_id) FILTER (WHERE paid) AS buyers
FROM session_orders WHERE session_id = $1
"""


async def session_stats(conn: Connection, session_id: str) -> dict[str, Any]:
    viewers = await conn.fetchrow(VIEWERS_SQL, session_id)
    sales = await conn.fetchrow(SALES_SQL, session_id)
    comments = await conn.fetchval(
        "SELECT count(*) FROM comments WHERE session_id = $1", session_id
    )
    assert viewers is not None
    assert sales is not None
    unique = int(viewers["unique_viewers"])
    totals = SessionTotals(
        gmv_fen=int(sales["gmv_fen"]),
        refunded_fen=int(sales["refunded_fen"]),
        net_gmv_fen=int(sales["gmv_fen"]) - int(sales["refunded_fen"]),
        orders=int(sales["orders"]),
        buyers=int(sales["buyers"]),
        unique_viewers=unique,
        peak_viewers=int(viewers["peak"]),
        comments=int(comments or 0),
        conversion=round(int(sales["buyers"]) / unique, 4) if unique else 0.0,
    )
    return {**totals.model_dump(), "concurrent_viewers": int(viewers["concurrent"])}
