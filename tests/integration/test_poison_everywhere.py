"""A poison record on every consumed topic: each consuming service parks it in its
dead-letter topic with the reason and moves on. All five services run as real processes,
each in a new consumer group committed at the current end of its topics (so it reads what
this test publishes, not the history earlier tests left on the shared broker).

On partition 0 of every topic that has consumers, under one key, the test publishes in this
order: three kinds of poison (no CloudEvent headers at all; a header that is not UTF-8; a
known type whose data breaks its contract), a well-formed event of a type nobody knows
(tolerant read: ignored, never parked), and last one good event of a type every consumer of
the topic applies. Then, for every consumer:

- it applied the good event, which comes after the poison on the same partition: its own
  ``processed_events`` (written in the transaction of the handler, so only when the handler
  succeeded) holds the event at the offset it was published at, and the group's committed
  offset on that partition reaches past it;
- its dead-letter topic holds, among the letters carrying this run's marker, exactly one
  letter per poison record (topic, partition, offset as published; its reason; class
  "poison"), and nothing else: neither the unknown-type event nor the good one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from laotie_common.envelope import Envelope
from laotie_contracts import TOPICS, dead_letter_topic
from laotie_contracts.events import Event
from laotie_contracts.live import CommentPosted, ProfileChanged, RoomCreated
from laotie_contracts.moderation import Evidence, PenaltyApplied, ViolationDetected
from laotie_contracts.orders import (
    Attribution,
    ProductListed,
    RefundApproved,
    ShopProfileChanged,
    SkuFacts,
)

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    group_at_end,
    header,
    order_facts,
    poor_shop_score,
    read_topic,
    running_service,
)

SERVICES = ("orders", "live", "moderation", "scoring", "chuanliu")
PARTITION = 0

# The poison kinds, each with the start of the reason its letter must carry.
NO_HEADERS = "no CloudEvent headers"
BAD_HEADER = "a header not UTF-8"
BAD_DATA = "data breaking its contract"
REASONS = {
    NO_HEADERS: "not a CloudEvent: missing header(s)",
    BAD_HEADER: "header(s) not UTF-8: ce_source",
}


def _good_events(marker: str) -> dict[str, Event]:
    """Per consumed topic, an event every consumer of that topic has a handler for and
    applies without touching other services (no violation found, no measure to enforce)."""
    now = datetime.now(UTC)
    shop = f"shop-{marker}"
    good: list[Event] = [
        ProductListed(
            product_id=f"product-{marker}",
            shop_id=shop,
            shop_kind="merchant",
            title="Wool scarf",
            description="Warm",
            status="active",
            ship_within_hours=48,
            skus=[SkuFacts(sku_id=f"sku-{marker}", name="grey", price_fen=100, stock=5)],
            occurred_at=now,
        ),
        RefundApproved(  # answered by the seller (not automatic): moderation finds nothing
            **order_facts(
                shop,
                f"order-{marker}",
                f"buyer-{marker}",
                100,
                now,
                Attribution(channel="shop_page"),
                shop_kind="merchant",
                product_id=f"product-{marker}",
                sku_id=f"sku-{marker}",
            ),
            status="paid",
            refund_id=f"refund-{marker}",
            refund_kind="refund_only",
            refund_reason="changed_mind",
            refund_amount_fen=100,
            automatic=False,
            answered_after_s=60.0,
        ),
        ShopProfileChanged(  # a clean profile: moderation finds nothing
            shop_id=shop,
            shop_kind="merchant",
            text="Hand-knitted since 1998",
            revision_id=f"shop-rev-{marker}",
            occurred_at=now,
        ),
        ProfileChanged(
            owner_type="anchor",
            owner_id=f"anchor-{marker}",
            text="Evenings at eight",
            revision_id=f"anchor-rev-{marker}",
            occurred_at=now,
        ),
        RoomCreated(
            room_id=f"room-{marker}",
            owner_type="anchor",
            owner_id=f"anchor-{marker}",
            title="Evening picks",
            occurred_at=now,
        ),
        CommentPosted(
            comment_id=f"comment-{marker}",
            session_id=f"session-{marker}",
            room_id=f"room-{marker}",
            author_id=f"viewer-{marker}",
            author_role="viewer",
            room_owner_id=f"anchor-{marker}",
            text="Nice colour",
            posted_at=now,
        ),
        ViolationDetected(  # of a comment live does not know: nothing to hide
            violation_id=f"violation-{marker}",
            subject_type="viewer",
            subject_id=f"viewer-{marker}",
            code="diversion",
            severity="general",
            degree="light",
            hide_content=True,
            evidence=Evidence(source_type="comment", source_id=f"comment-{marker}"),
            decided_by="rule:test",
            occurred_at=now,
        ),
        PenaltyApplied(  # no measure: nothing to enforce anywhere
            penalty_id=f"penalty-{marker}",
            subject_type="product",
            subject_id=f"product-{marker}",
            violation_code="diversion",
            measures=[],
            occurred_at=now,
        ),
        poor_shop_score(shop, (now - timedelta(days=1)).date(), now),
    ]
    return {type(e).topic: e for e in good}


async def _committed(bootstrap: str, group: str, tps: list[TopicPartition]) -> dict[str, int]:
    """The group's committed offset per topic (partition PARTITION); -1 where none."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    return {tp.topic: (offsets[tp].offset if tp in offsets else -1) for tp in tps}


async def _applied(process: ServiceProcess, infra: Infra, ids: list[str]) -> dict[str, Any]:
    """The consumer's own record of the events it applied: ce_id -> (topic, partition,
    offset)."""
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": process.env_vars["DB_SCHEMA"]}
    )
    try:
        rows = await conn.fetch(
            "SELECT event_id, topic, kafka_partition, kafka_offset FROM processed_events"
            " WHERE consumer = $1 AND event_id = ANY($2::text[])",
            process.env_vars["CONSUMER_GROUP"],
            ids,
        )
    finally:
        await conn.close()
    return {r["event_id"]: (r["topic"], r["kafka_partition"], r["kafka_offset"]) for r in rows}


async def _publish(
    producer: AIOKafkaProducer, topic: str, event: Event, marker: str
) -> tuple[dict[str, int], int]:
    """The poison, the unknown-type event and the good event, in this order, on one
    partition under the good event's key: (offset per poison kind, the good one's offset)."""
    envelope = Envelope.for_event(event, source="/laotie/test", event_id=f"{marker}-{topic}-good")
    key = (envelope.key or "").encode()

    async def send(value: bytes, headers: list[tuple[str, bytes]]) -> int:
        sent = await producer.send_and_wait(
            topic, value, key=key, partition=PARTITION, headers=headers
        )
        return int(sent.offset)

    def ce_headers(suffix: str, ce_type: str) -> list[tuple[str, bytes]]:
        """The good event's CloudEvent headers with another id and type."""
        replaced = {"ce_id": f"{marker}-{topic}-{suffix}".encode(), "ce_type": ce_type.encode()}
        return [(k, replaced.get(k, v)) for k, v in envelope.headers()]

    marked = json.dumps({"marker": marker}).encode()
    offsets = {
        NO_HEADERS: await send(b"\xff\x00" + marker.encode(), []),
        BAD_HEADER: await send(
            marked,
            [
                (k, b"\xff\xfe" if k == "ce_source" else v)
                for k, v in ce_headers("bad-header", envelope.type)
            ],
        ),
        BAD_DATA: await send(marked, ce_headers("bad-data", envelope.type)),
    }
    await send(marked, ce_headers("unknown-type", f"{topic}.something_new"))
    return offsets, await send(envelope.data, envelope.headers())


async def test_every_consumer_parks_poison_and_moves_on(infra: Infra) -> None:
    marker = uuid.uuid4().hex
    consumed = {spec.name: spec.consumers for spec in TOPICS if spec.consumers}
    good = _good_events(marker)
    assert set(good) == set(consumed), "a good event for every consumed topic"
    # (topic, poison kind) -> the offset it was published at; topic -> the good one's offset
    poison: dict[tuple[str, str], int] = {}
    good_at: dict[str, int] = {}
    async with contextlib.AsyncExitStack() as stack:

        async def start(name: str) -> ServiceProcess:
            group = await group_at_end(infra.kafka_bootstrap, name)
            return await stack.enter_async_context(
                running_service(
                    f"laotie_{name}",
                    infra.kafka_bootstrap,
                    infra.database_url,
                    CONSUMER_GROUP=group,
                )
            )

        # Started together (each still waits for its own readiness); every one that started
        # is stopped by the stack, even when another failed to start.
        started = await asyncio.gather(*(start(n) for n in SERVICES), return_exceptions=True)
        processes: dict[str, ServiceProcess] = {}
        for name, outcome in zip(SERVICES, started, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            processes[name] = outcome
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            for topic, event in good.items():
                offsets, good_at[topic] = await _publish(producer, topic, event, marker)
                poison.update({(topic, kind): offset for kind, offset in offsets.items()})
        finally:
            await producer.stop()
        assert all(offset < good_at[t] for (t, _), offset in poison.items()), "poison first"

        for name, process in processes.items():
            seen: dict[str, Any] = {}  # what the last check saw, for the failure message
            group = process.env_vars["CONSUMER_GROUP"]
            topics = sorted(t for t, consumers in consumed.items() if name in consumers)
            good_ids = [f"{marker}-{t}-good" for t in topics]
            tps = [TopicPartition(t, PARTITION) for t in topics]

            async def moved_on(
                process: ServiceProcess = process,
                group: str = group,
                topics: list[str] = topics,
                good_ids: list[str] = good_ids,
                tps: list[TopicPartition] = tps,
                seen: dict[str, Any] = seen,
            ) -> bool:
                applied = await _applied(process, infra, good_ids)
                committed = await _committed(infra.kafka_bootstrap, group, tps)
                seen.update(applied=applied, committed=committed, good_at=good_at)
                return len(applied) == len(topics) and all(
                    committed[t] > good_at[t] for t in topics
                )

            try:
                await eventually(
                    moved_on,
                    timeout=120,
                    interval=0.5,
                    what=f"{name} to apply the good event after the poison on {topics}",
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}; the last check saw {seen}") from None
            # The good events were applied where they were published: after the poison.
            assert await _applied(process, infra, good_ids) == {
                f"{marker}-{t}-good": (t, PARTITION, good_at[t]) for t in topics
            }

            # Every letter is published before its record is acknowledged, and the
            # committed offsets are past all poison: the letters are there to read.
            letters = [
                r
                for r in await read_topic(
                    infra.kafka_bootstrap, dead_letter_topic(name).name, expect=0, timeout=30
                )
                if r.value is not None
                and marker.encode() in r.value
                and header(r, "dlq_consumer") == group  # other tests' groups park them too
            ]
            found = Counter(
                (
                    header(r, "dlq_consumer"),
                    header(r, "dlq_original_topic"),
                    int(header(r, "dlq_original_partition")),
                    int(header(r, "dlq_original_offset")),
                    header(r, "dlq_error_class"),
                )
                for r in letters
            )
            expected = Counter(
                (group, t, PARTITION, poison[t, kind], "poison")
                for t in topics
                for kind in (NO_HEADERS, BAD_HEADER, BAD_DATA)
            )
            assert len(expected) == 3 * len(topics)
            assert found == expected, (name, found, expected)
            kinds = {(t, offset): kind for (t, kind), offset in poison.items()}
            for r in letters:
                t = header(r, "dlq_original_topic")
                kind = kinds[t, int(header(r, "dlq_original_offset"))]
                reason = header(r, "dlq_reason")
                prefix = REASONS.get(kind, f"{good[t].ce_type}: data does not match its contract")
                assert reason.startswith(prefix), (name, t, kind, reason)
