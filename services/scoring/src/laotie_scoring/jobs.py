"""Scoring's periodic work."""

from __future__ import annotations

from laotie_common import metrics
from laotie_common.uow import Units

from laotie_scoring import queries, usecases
from laotie_scoring.domain import shanghai_day
from laotie_scoring.usecases import Tx


async def slide_windows(units: Units[Tx]) -> None:
    """As days pass, windows move without any new event: rescore what was last computed
    for an earlier day, each subject in a transaction of its own, all at the round's clock
    reading; then the band gauge. Safe in every replica (row locks, unchanged scores publish
    nothing)."""
    async with units() as tx:
        now, stale = tx.now, await queries.stale_subjects(tx.conn, shanghai_day(tx.policy, tx.now))
    for row in stale:
        async with units(now) as tx:
            await usecases.recompute(tx, row["kind"], row["subject_id"])
    async with units() as tx:
        bands = await queries.subjects_by_band(tx.conn)
    for row in bands:
        metrics.SCORE_SUBJECTS.labels(row["kind"], row["band"]).set(row["n"])
