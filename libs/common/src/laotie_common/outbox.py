"""The writing half of the transactional outbox.

A service changes its tables and calls :func:`add` on the same connection, inside the same
transaction: the events it owes are committed with its effects or not at all. The relay
(:mod:`laotie_common.relay`) publishes them afterwards.
"""

from __future__ import annotations

import json

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
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.add must run inside the transaction that makes the change")
    envelope = Envelope.for_event(event, source=source, subject=subject)
    await add_envelope(conn, envelope, topic=topic or event.topic)
    return envelope


async def add_envelope(conn: Connection, envelope: Envelope, *, topic: str) -> None:
    headers = {k: v.decode() for k, v in envelope.headers()}
    # One round trip: the row, and a notification delivered at commit only that wakes the
    # relay without waiting for its poll interval.
    await conn.execute(
        "WITH added AS (INSERT INTO outbox (event_id, event_type, topic, key, headers, payload)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING 1)"
        " SELECT pg_notify('laotie_outbox_' || current_schema(), '') FROM added",
        envelope.id,
        envelope.type,
        topic,
        envelope.key,
        json.dumps(headers),
        envelope.data,
    )
