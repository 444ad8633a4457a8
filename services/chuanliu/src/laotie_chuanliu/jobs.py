"""Chuanliu's periodic work."""

from __future__ import annotations

from laotie_common import metrics
from laotie_common.uow import Units

from laotie_chuanliu import queries, usecases
from laotie_chuanliu.usecases import Tx

ROUNDS_PER_PASS = 50  # sessions topped up per pass of the job, at most


async def top_up_sessions(units: Units[Tx]) -> None:
    """Live sessions whose next round is due get it, each in a transaction of its own that
    holds the session's trigger row (another replica skips it); the ledgers' own guards
    keep two replicas' rounds within the budget."""
    async with units() as tx:
        due = await queries.due_sessions(tx.conn, tx.now, ROUNDS_PER_PASS)
    for session_id in due:
        async with units() as tx:
            session = await queries.due_session(tx.conn, session_id, tx.now)
            if session is not None:
                await usecases.top_up(tx, session)


async def sample_budget(tx: Tx) -> None:
    """Today's budget left and grantable now, as gauges (set once the round committed)."""
    view = await queries.budget_view(tx.conn, tx.policy, tx.now)

    def gauges() -> None:
        metrics.CHUANLIU_BUDGET_LEFT.set(view["left"])
        metrics.CHUANLIU_BUDGET_GRANTABLE.set(view["grantable_now"])

    tx.after_commit.append(gauges)
