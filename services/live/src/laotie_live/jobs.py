"""Live's periodic work."""

from __future__ import annotations

from laotie_common import metrics

from laotie_live.usecases import Tx


async def sample_live_sessions(tx: Tx) -> None:
    metrics.LIVE_SESSIONS.set(
        await tx.conn.fetchval("SELECT count(*) FROM sessions WHERE ended_at IS NULL")
    )
