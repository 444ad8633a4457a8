"""Duplicated and reordered deliveries, injected on purpose, change no consumer's state.

Two copies of scoring and of Chuanliu run as real processes. The *reference* pair reads the
order facts of 40 orders in the order the orders service would publish them. The *mixed*
pair starts at the end of the topic and then reads the very same records (same ``ce_id``)
twice each, shuffled across and within orders (a refund before its payment, a review
before the shipment), plus a few re-sent under new ids as a confused producer would. Both
pairs must end with the same rows: scoring's order facts, daily buckets and scores,
Chuanliu's affinity. The reference pair, which also receives the shuffled copies, must not
change at all.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from laotie_common.envelope import Envelope
from laotie_common.kafka import ensure_topics
from laotie_common.settings import KafkaSettings
from laotie_contracts import all_topics
from laotie_contracts import orders as ev

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    _partitions,
    eventually,
    publish,
    republish,
    running_service,
)
from tests.integration.test_scoring import order_events

pytestmark = pytest.mark.integration

QUERIES = {
    "scoring": [
        "SELECT * FROM order_facts WHERE shop_id = $1 ORDER BY order_id",
        "SELECT * FROM daily_buckets WHERE subject_id LIKE $1 || '%'"
        " ORDER BY kind, subject_id, day",
        "SELECT kind, subject_id, value, band, components, sample_orders FROM scores"
        " WHERE subject_id LIKE $1 || '%' ORDER BY kind, subject_id",
    ],
    "chuanliu": ["SELECT * FROM affinity WHERE brand_id = $1 ORDER BY order_id"],
}


async def _start_at_end(bootstrap: str, group: str) -> None:
    """Commit the current end of ``orders.order`` for ``group``: it will read only what
    is published from now on."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = await eventually(
            lambda: _partitions(consumer, "orders.order"), what="metadata of orders.order"
        )
        tps = [TopicPartition("orders.order", p) for p in partitions]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit(dict(ends.items()))
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def _pair(boot: str, url: str, role: str) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Scoring and Chuanliu in fresh groups that start at the end of ``orders.order``."""
    groups = {svc: f"{svc}-{role}-{uuid.uuid4().hex[:8]}" for svc in ("scoring", "chuanliu")}
    for group in groups.values():
        await _start_at_end(boot, group)
    async with (
        running_service("laotie_scoring", boot, url, CONSUMER_GROUP=groups["scoring"]) as s,
        running_service("laotie_chuanliu", boot, url, CONSUMER_GROUP=groups["chuanliu"]) as c,
    ):
        yield {"scoring": s, "chuanliu": c}


async def _all_applied(
    url: str, procs: dict[str, ServiceProcess], ids: set[str], which: str
) -> None:
    for svc, proc in procs.items():

        async def done(schema: str = proc.env_vars["DB_SCHEMA"]) -> bool:
            return await _applied(url, schema, ids) == len(ids)

        await eventually(done, timeout=60, what=f"{svc} ({which}) to apply {len(ids)} events")


async def _rows(url: str, schema: str, service: str, shop: str) -> list[list[dict[str, Any]]]:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        return [[dict(r) for r in await conn.fetch(q, shop)] for q in QUERIES[service]]
    finally:
        await conn.close()


async def _applied(url: str, schema: str, ids: set[str]) -> int:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        found = await conn.fetchval(
            "SELECT count(DISTINCT event_id) FROM processed_events WHERE event_id = ANY($1)",
            list(ids),
        )
        return int(found)
    finally:
        await conn.close()


async def test_duplicated_and_reordered_deliveries_change_nothing(infra: Infra) -> None:
    shop = f"reorder-{uuid.uuid4().hex[:8]}"
    facts = order_events(shop, 20, good=True) + order_events(shop, 20, good=False)
    boot, url = infra.kafka_bootstrap, infra.database_url
    await ensure_topics(KafkaSettings(kafka_bootstrap_servers=boot), all_topics())
    async with _pair(boot, url, "ref") as refs:
        envelopes: list[Envelope] = await publish(boot, *facts)
        ids = {e.id for e in envelopes}
        await _all_applied(url, refs, ids, "reference")
        reference = {
            svc: await _rows(url, proc.env_vars["DB_SCHEMA"], svc, shop)
            for svc, proc in refs.items()
        }
        assert reference["scoring"][0], "the reference scoring stored no order facts"
        assert any(r["withdrawn"] for r in reference["chuanliu"][0]), "no refund withdrew affinity"

        async with _pair(boot, url, "mix") as mixes:
            rng = random.Random(20261123)
            mixed = envelopes * 2
            rng.shuffle(mixed)
            renamed = [
                Envelope.for_event(
                    envelope.parse(ev.CATALOGUE_BY_TYPE[envelope.type]), source="/laotie/test"
                )
                for envelope in rng.sample(envelopes, 10)
            ]
            mixed += renamed
            inversions = _inversions(envelopes, mixed)
            await republish(boot, mixed)
            every = ids | {e.id for e in renamed}
            await _all_applied(url, mixes, every, "mixed")
            await _all_applied(url, refs, every, "reference, the copies")  # saw them too
            print(
                f"\ninjected: {len(envelopes)} events of 40 orders sent again"
                f" twice each, shuffled ({inversions} pairs of one order's events out of order),"
                f" and {len(renamed)} re-sent under new ids"
            )
            for svc in ("scoring", "chuanliu"):
                mixed_rows = await _rows(url, mixes[svc].env_vars["DB_SCHEMA"], svc, shop)
                again = await _rows(url, refs[svc].env_vars["DB_SCHEMA"], svc, shop)
                print(
                    f"{svc}: reference {[len(t) for t in reference[svc]]} rows,"
                    f" mixed {[len(t) for t in mixed_rows]} rows,"
                    f" equal: {mixed_rows == reference[svc]}"
                )
                pairs = zip(mixed_rows, reference[svc], strict=True)
                for table, (mine, theirs) in enumerate(pairs):
                    differing = [(a, b) for a, b in zip(mine, theirs, strict=False) if a != b]
                    assert mine == theirs, f"{svc} query {table}: reordering changed {differing}"
                assert again == reference[svc], f"{svc}: duplicates changed the reference"


def _inversions(published: list[Envelope], delivered: list[Envelope]) -> int:
    """Pairs of one order's events delivered against the order they were published in."""
    index = {envelope.id: i for i, envelope in enumerate(published)}
    by_key: dict[str | None, list[int]] = {}
    for envelope in delivered:
        if envelope.id in index:
            by_key.setdefault(envelope.key, []).append(index[envelope.id])
    return sum(
        1
        for positions in by_key.values()
        for i, a in enumerate(positions)
        for b in positions[i + 1 :]
        if a > b
    )
