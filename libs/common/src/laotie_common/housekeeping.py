"""The plumbing tables' retention, run as a job in every service: ``processed_events`` kept
longer than any topic keeps its records (a replay by offset reset finds its ids still
there), ``idempotency_keys`` (with the answers they replay) for a day or two. Each round
deletes in bounded batches until what is due is gone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from laotie_common import metrics
from laotie_common.settings import ServiceSettings
from laotie_common.uow import Units

BATCH = 10_000
MAX_BATCHES_PER_ROUND = 50


@dataclass(frozen=True)
class Retention:
    table: str
    column: str
    keep_s: float


def retentions(settings: ServiceSettings) -> tuple[Retention, ...]:
    return (
        Retention("processed_events", "processed_at", settings.processed_events_retention_s),
        Retention("idempotency_keys", "created_at", settings.idempotency_key_retention_s),
    )


async def prune(units: Units[Any], settings: ServiceSettings) -> dict[str, int]:
    """One round: every table's rows past retention, in batches; how many went, by table."""
    gone: dict[str, int] = {}
    for kept in retentions(settings):
        for _ in range(MAX_BATCHES_PER_ROUND):
            async with units() as tx:
                deleted = await tx.conn.fetchval(
                    f"""WITH gone AS (
                            DELETE FROM {kept.table} WHERE ctid = ANY(ARRAY(
                                SELECT ctid FROM {kept.table}
                                WHERE {kept.column} < now() - make_interval(secs => $1)
                                LIMIT $2))
                            RETURNING 1)
                        SELECT count(*) FROM gone""",  # noqa: S608 (our constants)
                    kept.keep_s,
                    BATCH,
                )
            gone[kept.table] = gone.get(kept.table, 0) + deleted
            metrics.ROWS_PRUNED.labels(kept.table).inc(deleted)
            if deleted < BATCH:
                break
    return gone
