"""Scoring's periodic work."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from laotie_common import metrics

from laotie_scoring import queries, usecases
from laotie_scoring.domain import shanghai_day
from laotie_scoring.usecases import Tx


async def slide_windows(tx: Tx, pool: Callable[[], asyncpg.Pool]) -> None:
    """As days pass, windows move without any new event: rescore what was last computed
    for an earlier day, each subject in a transaction of its own (from ``pool``), all at
    the round's clock reading; then the band gauge. ``tx`` only reads. Safe in every replica
    (row locks, unchanged scores publish nothing)."""
    for row in await queries.stale_subjects(tx.conn, shanghai_day(tx.policy, tx.now)):
        async with pool().acquire() as conn, conn.transaction():
            await usecases.recompute(Tx(conn, tx.now, tx.policy), row["kind"], row["subject_id"])
    for row in await queries.subjects_by_band(tx.conn):
        metrics.SCORE_SUBJECTS.labels(row["kind"], row["band"]).set(row["n"])
