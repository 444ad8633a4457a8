"""Chuanliu's periodic work."""

from __future__ import annotations

from laotie_common import metrics

from laotie_chuanliu import queries
from laotie_chuanliu.usecases import Tx


async def sample_budget(tx: Tx) -> None:
    """Today's budget left and grantable now, as gauges (set once the round committed)."""
    view = await queries.budget_view(tx.conn, tx.policy, tx.now)

    def gauges() -> None:
        metrics.CHUANLIU_BUDGET_LEFT.set(view["left"])
        metrics.CHUANLIU_BUDGET_GRANTABLE.set(view["grantable_now"])

    tx.after_commit.append(gauges)
