"""The writing half of the transactional outbox.

A service changes its tables and calls :func:`add` on the same connection, inside the same
transaction: the events it owes are committed with its effects or not at all. The relay
(:mod:`laotie_common.relay`) publishes them afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from laotie_contracts import Event

from laotie_common.db import Connection
from laotie_common.envelope import Envelope


async def add(
    conn: Connection,
    event: Event,
    *,
    source: str,
    subject: str | None = None,
    topic: str | None = None,
) -> Envelope:
    """Write ``event`` to the outbox in the caller's transaction; returns its envelope."""
    envelope = Envelope.for_event(event, source=source, subject=subject)
    await add_envelopes(conn, [(envelope, topic or event.topic)])
    return envelope


async def add_all(conn: Connection, events: Sequence[Event], *, source: str) -> list[Envelope]:
    """Write ``events`` to the outbox in the caller's transaction, in one statement and in
    their order (the relay publishes by row id)."""
    envelopes = [Envelope.for_event(event, source=source) for event in events]
    await add_envelopes(
        conn, [(e, event.topic) for e, event in zip(envelopes, events, strict=True)]
    )
    return envelopes


async def add_envelopes(conn: Connection, rows: Sequence[tuple[Envelope, str]]) -> None:
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.add must run inside the transaction that makes the change")
    if not rows:
        return
    # One round trip: the rows, and a notification delivered at commit only that wakes the
    # relay without waiting for its poll interval.
    await conn.execute(
        "WITH added AS (INSERT INTO outbox (event_id, event_type, topic, key, headers, payload)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[],"
        " $6::bytea[]) RETURNING 1)"
        " SELECT pg_notify('laotie_outbox_' || current_schema(), '')"
        " WHERE EXISTS (SELECT 1 FROM added)",
        [e.id for e, _ in rows],
        [e.type for e, _ in rows],
        [topic for _, topic in rows],
        [e.key for e, _ in rows],
        [json.dumps({k: v.decode() for k, v in e.headers()}) for e, _ in rows],
        [e.data for e, _ in rows],
    )
