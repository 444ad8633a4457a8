"""The scoring service as a real process on real Kafka and Postgres."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from laotie_common.envelope import Envelope
from laotie_contracts.moderation import Measure, PenaltyApplied, PenaltyRevoked
from laotie_scoring.policy import load_policy
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    group_at_end,
    header,
    order_events,
    publish,
    read_topic,
    republish,
    running_service,
)


@pytest.fixture(scope="module")
async def scoring(infra: Infra) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceProcess]]:
    async with (
        running_service("laotie_scoring", infra.kafka_bootstrap, infra.database_url) as process,
        httpx.AsyncClient(base_url=process.url, timeout=30) as client,
    ):
        yield client, process


async def _score_records(infra: Infra, topic: str, key: str) -> list[dict[str, Any]]:
    records = await read_topic(infra.kafka_bootstrap, topic, expect=0, timeout=5)
    return [json.loads(r.value) for r in records if r.key == key.encode()]


async def test_a_shop_that_ships_late_and_sells_poor_goods_falls_into_the_poor_band(
    scoring: tuple[httpx.AsyncClient, ServiceProcess], infra: Infra
) -> None:
    client, process = scoring
    shop = f"shop-{uuid.uuid4().hex[:6]}"
    good = await publish(infra.kafka_bootstrap, *order_events(shop, 40, good=True))

    async def scored(band: str) -> dict[str, Any] | None:
        response = await client.get(f"/scores/shop/{shop}")
        body = response.json() if response.status_code == 200 else {}
        return body if body.get("band") == band else None

    first = await eventually(lambda: scored("excellent"), timeout=60, what="an excellent score")
    assert first["value"] == 5.0
    assert first["policy_version"].startswith("scores/")
    assert first["window"]["days"] == 30
    assert first["resources"]["chuanliu"] is True

    bad = await publish(infra.kafka_bootstrap, *order_events(shop, 40, good=False))

    async def all_applied() -> bool:
        return await process.applied([e.id for e in bad]) == len(bad)

    await eventually(all_applied, timeout=60, what="the bad facts to be applied")
    poor = await eventually(lambda: scored("poor"), timeout=5, what="the poor band")
    assert poor["value"] < 4.4
    assert poor["components"]["product.negative_review_rate"] == 0.0
    assert poor["counts"]["quality_refunds"] == 40

    async def relayed() -> list[dict[str, Any]] | None:
        found = await _score_records(infra, "scoring.score", f"shop:{shop}")
        return found if found and found[-1]["band"] == "poor" else None

    # the relay publishes after the commit the route already reads
    changes = await eventually(relayed, timeout=30, what="the poor score published")
    band_changes = [(c["previous_band"], c["band"]) for c in changes if c["band_changed"]]
    assert band_changes[0][0] is None, "the first score is a band change from nothing"
    assert band_changes[-1][0] != "poor"
    assert band_changes[-1][1] == "poor", "falling into the poor band is an event"
    latest = await _score_records(infra, "scoring.score-latest", f"shop:{shop}")
    assert latest[-1]["band"] == "poor", "Chuanliu reads the poor band from the latest topic"
    assert latest[-1]["resources"]["chuanliu_eligible"] is False
    uses = (await client.get(f"/scores/shop/{shop}/resources")).json()
    assert (uses["band"], uses["subsidy_eligible"], uses["campaign_eligible"]) == (
        "poor",
        False,
        False,
    )

    # Replaying the input changes nothing: same facts, new event ids.
    history_before = (await client.get(f"/scores/shop/{shop}/history")).json()
    replay = [Envelope(**{**e.__dict__, "id": str(uuid.uuid4())}) for e in good]
    await republish(infra.kafka_bootstrap, replay)

    async def replayed() -> bool:
        return await process.applied([e.id for e in replay]) == len(replay)

    await eventually(replayed, timeout=60, what="the replay to be applied")
    assert (await client.get(f"/scores/shop/{shop}/history")).json() == history_before
    after = await client.get(f"/scores/shop/{shop}")
    assert after.json()["value"] == poor["value"]


async def test_late_shipments_and_unanswered_refunds_are_not_violations_again(
    scoring: tuple[httpx.AsyncClient, ServiceProcess], infra: Infra
) -> None:
    """Moderation judges a shop's late_shipment week from the late orders ship_on_time_rate
    already counts, and refund_unanswered from the answers refund_answer_hours already counts
    (score policy 2026.12-1, violations_measured_elsewhere): such penalties do not lower the
    shop's content dimension again; a diversion penalty does. Revoking either is applied."""
    client, process = scoring
    shop = f"shop-{uuid.uuid4().hex[:6]}"
    await publish(infra.kafka_bootstrap, *order_events(shop, 40, good=True))

    async def scored(check: Any) -> dict[str, Any] | None:
        response = await client.get(f"/scores/shop/{shop}")
        body = response.json() if response.status_code == 200 else {}
        return body if body.get("status") == "scored" and check(body) else None

    first = await eventually(
        lambda: scored(lambda b: b["sample_orders"] == 40), timeout=60, what="a score"
    )
    assert (first["value"], first["components"]["content"]) == (5.0, 1.0)

    def penalty(code: str, points: int = 5) -> dict[str, Any]:
        return dict(
            penalty_id=f"pen-{uuid.uuid4().hex[:8]}",
            subject_type="shop",
            subject_id=shop,
            shop_id=shop,
            violation_code=code,
            occurred_at=datetime.now(UTC),
            measures=[Measure(kind="warning")],
            step_points=points,
        )

    async def applied(envelopes: list[Envelope]) -> bool:
        return await process.applied([e.id for e in envelopes]) == len(envelopes)

    late, unanswered, diversion = (
        penalty(c) for c in ("late_shipment", "refund_unanswered", "diversion")
    )
    sent = await publish(
        infra.kafka_bootstrap, *(PenaltyApplied(**p) for p in (late, unanswered, diversion))
    )
    await eventually(lambda: applied(sent), timeout=60, what="the penalties applied")
    body = await eventually(
        lambda: scored(lambda b: b["value"] != 5.0), timeout=10, what="the diversion to count"
    )
    assert body["counts"]["violations"] == 1, "only the diversion is a violation"
    assert body["components"]["content"] == 0.6667
    assert body["components"]["logistics"] == 1.0, "every order shipped on time"
    assert body["value"] == 4.93
    assert body["policy_version"] == load_policy().version

    revoked = await publish(
        infra.kafka_bootstrap,
        *(PenaltyRevoked(**p, reason="appeal upheld") for p in (late, diversion)),
    )
    await eventually(lambda: applied(revoked), timeout=60, what="the revocations applied")
    body = await eventually(
        lambda: scored(lambda b: b["value"] == 5.0), timeout=10, what="the score restored"
    )
    assert body["counts"]["violations"] == 0
    assert body["components"]["content"] == 1.0

    # weighed by points (2026.12-3): a 0-point warning half, a 100-point counterfeit the worst
    warning, counterfeit = penalty("false_advertising", 0), penalty("counterfeit", 100)
    sent = await publish(infra.kafka_bootstrap, PenaltyApplied(**warning))
    await eventually(lambda: applied(sent), timeout=60, what="the warning applied")
    body = await eventually(
        lambda: scored(lambda b: b["value"] != 5.0), timeout=10, what="the warning to count"
    )
    assert (body["counts"]["violations"], body["components"]["content"]) == (0.5, 0.8333)
    sent = await publish(infra.kafka_bootstrap, PenaltyApplied(**counterfeit))
    await eventually(lambda: applied(sent), timeout=60, what="the counterfeit applied")
    body = await eventually(
        lambda: scored(lambda b: b["components"]["content"] == 0.0),
        timeout=10,
        what="the counterfeit to weigh the most",
    )
    assert body["counts"]["violations"] == 3.5


async def test_a_shop_under_the_minimum_sample_has_no_score(
    scoring: tuple[httpx.AsyncClient, ServiceProcess], infra: Infra
) -> None:
    client, process = scoring
    shop = f"shop-{uuid.uuid4().hex[:6]}"
    sent = await publish(infra.kafka_bootstrap, *order_events(shop, 12, good=True))

    async def applied() -> bool:
        return await process.applied([e.id for e in sent]) == len(sent)

    await eventually(applied, timeout=60, what="the facts applied")
    body = (await client.get(f"/scores/shop/{shop}")).json()
    assert body["status"] == "not_enough_data"
    assert (body["sample_orders"], body["min_sample_orders"]) == (12, 30)
    uses = (await client.get(f"/scores/shop/{shop}/resources")).json()
    assert uses["status"] == "not_enough_data"
    assert (uses["band"], uses["traffic_weight"], uses["subsidy_eligible"]) == (None, 1.0, False)
    product = (await client.get(f"/scores/product/{shop}-p")).json()
    assert product["status"] == "not_enough_data"
    assert await _score_records(infra, "scoring.score", f"shop:{shop}") == []


async def test_the_latest_topic_is_compacted_and_keyed_by_subject(
    scoring: tuple[httpx.AsyncClient, ServiceProcess], infra: Infra
) -> None:
    """Its own shop, scored twice (excellent, then poor): the latest topic is compacted and
    keeps records forever; every score change of a subject is one record there, keyed by the
    subject, on one partition, so the last record per key (what compaction keeps) is the
    subject's current score."""
    client, process = scoring
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "scoring.score-latest")]
        )
    finally:
        await admin.close()
    configs = {c[0]: c[1] for c in response.resources[0][4]}
    assert {k: configs[k] for k in ("cleanup.policy", "retention.ms")} == {
        "cleanup.policy": "compact",
        "retention.ms": "-1",
    }

    shop = f"shop-{uuid.uuid4().hex[:6]}"
    key = f"shop:{shop}"

    async def current(band: str) -> dict[str, Any] | None:
        response = await client.get(f"/scores/shop/{shop}")
        body = response.json() if response.status_code == 200 else {}
        return body if body.get("band") == band else None

    await publish(infra.kafka_bootstrap, *order_events(shop, 40, good=True))
    # Alone, this test's consumer group first works through the topics' whole backlog.
    await eventually(lambda: current("excellent"), timeout=120, what="an excellent score")
    bad = await publish(infra.kafka_bootstrap, *order_events(shop, 40, good=False))

    async def all_applied() -> bool:
        return await process.applied([e.id for e in bad]) == len(bad)

    await eventually(all_applied, timeout=60, what="the bad facts to be applied")
    now = await eventually(lambda: current("poor"), timeout=5, what="the poor band")

    async def mine(topic: str) -> list[Any]:
        records = await read_topic(infra.kafka_bootstrap, topic, expect=0, timeout=5)
        return [r for r in records if r.key == key.encode()]

    def score_of(body: dict[str, Any]) -> tuple[Any, ...]:
        # Not sample_orders: the same score from a larger sample is not published again.
        return body["value"], body["band"], body["components"]

    async def current_is_latest() -> tuple[list[Any], list[Any]] | None:
        latest, changes = await mine("scoring.score-latest"), await mine("scoring.score")
        if not latest or score_of(json.loads(latest[-1].value)) != score_of(now):
            return None
        return (latest, changes) if len(changes) == len(latest) else None

    try:
        latest, changes = await eventually(
            current_is_latest, what="the current score as the key's last latest record"
        )
    except AssertionError as exc:
        found = [score_of(json.loads(r.value)) for r in await mine("scoring.score-latest")]
        raise AssertionError(f"{exc}\ncurrent: {score_of(now)}\nlatest: {found}") from None
    assert {r.partition for r in latest} == {latest[0].partition}, "one partition per key"
    assert {header(r, "ce_type") for r in latest} == {"scoring.score-latest.current"}
    bodies = [json.loads(r.value) for r in latest]
    assert {(b["subject_key"], b["kind"], b["subject_id"]) for b in bodies} == {(key, "shop", shop)}
    change_only = {"previous_value", "previous_band", "band_changed"}
    assert [
        {k: v for k, v in json.loads(r.value).items() if k not in change_only} for r in changes
    ] == bodies, "one latest record per score change, with the change's score, in order"
    assert (bodies[0]["band"], bodies[-1]["band"]) == ("excellent", "poor")
    kept = bodies[-1]  # what compaction keeps of the key: the current score (waited for)
    assert kept["resources"]["chuanliu_eligible"] is False


def _recomputations(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "laotie_scoring_recomputations"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def test_a_backlog_is_scored_once_per_subject_and_batch_with_the_same_result(
    infra: Infra,
) -> None:
    """A backlog of 160 facts about one shop (its product and creator too), published before
    scoring starts, is applied in a few batches; each batch recomputes each subject once
    (per record it was 3 × 160 recomputations), and the score is the one the facts give."""
    shop = f"shop-{uuid.uuid4().hex[:6]}"
    group = await group_at_end(infra.kafka_bootstrap, "scoring")
    sent = await publish(infra.kafka_bootstrap, *order_events(shop, 40, good=True))
    async with (
        running_service(
            "laotie_scoring",
            infra.kafka_bootstrap,
            infra.database_url,
            CONSUMER_GROUP=group,
            WINDOW_SLIDE_INTERVAL_S="3600",
        ) as process,
        httpx.AsyncClient(base_url=process.url, timeout=30) as client,
    ):

        async def applied() -> bool:
            return await process.applied([e.id for e in sent]) == len(sent)

        await eventually(applied, timeout=60, what="the backlog applied")
        recomputed = _recomputations(await process.metrics())
        body = (await client.get(f"/scores/shop/{shop}")).json()

        async def changes() -> list[ConsumerRecord[bytes, bytes]] | None:
            records = await read_topic(infra.kafka_bootstrap, "scoring.score", expect=0, timeout=5)
            ours = [r for r in records if r.key == f"shop:{shop}".encode()]
            return ours or None

        published = await eventually(changes, timeout=30, what="the shop's score published")
    assert 3 <= recomputed <= len(sent) // 4, f"{recomputed} recomputations for {len(sent)} facts"
    facts = {e.correlation_id for e in sent}
    assert {header(r, "ce_correlationid") for r in published} <= facts, (
        "a score change continues the trace of a fact that moved it"
    )
    assert body["band"] == "excellent"
    assert body["value"] == 5.0
    assert body["sample_orders"] == 40, "every fact of the batch counted"


async def test_a_score_the_window_no_longer_supports_is_withdrawn_on_both_topics(
    infra: Infra,
) -> None:
    """A shop's orders leave the window: its score once stayed stored and the compacted
    latest topic kept its old band (Chuanliu used it) while the route said not_enough_data.
    Now both topics carry the no-score state and the route agrees (issue 20)."""
    import asyncpg
    from laotie_scoring.bootstrap import Settings, build
    from laotie_scoring.domain import NotEnoughData, Score
    from laotie_scoring.queries import score as score_view
    from laotie_scoring.usecases import Tx, recompute, record_order_fact, refresh_bucket

    schema = f"scoring_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        db_schema=schema,
    )
    await build(settings).migrate()
    policy = load_policy()
    shop = f"shop-{uuid.uuid4().hex[:6]}"
    events = order_events(shop, 30, good=True, days_ago=20)
    t0 = datetime.now(UTC)
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    try:

        async def step(now: datetime) -> Score | NotEnoughData:
            async with conn.transaction():
                tx = Tx(conn, now, policy)
                days = set()
                for e in events:
                    touched = await record_order_fact(tx, e.ce_type, e, e)
                    if touched is not None and touched.day is not None:
                        days.add(touched.day)
                for day in days:
                    await refresh_bucket(tx, "shop", shop, day)
                return await recompute(tx, "shop", shop)

        assert isinstance(await step(t0), Score)
        later = await step(t0 + timedelta(days=15))  # the orders are 35 days old now
        assert later == NotEnoughData("shop", 0, 30)
        rows = await conn.fetch(
            "SELECT event_type, payload FROM outbox WHERE event_type LIKE 'scoring.%' ORDER BY id"
        )
        types = [r["event_type"] for r in rows]
        assert types == [
            "scoring.score.changed",
            "scoring.score-latest.current",
            "scoring.score.withdrawn",
            "scoring.score-latest.not_enough_data",
        ]
        withdrawn = json.loads(bytes(rows[2]["payload"]))
        assert withdrawn["previous_band"] == json.loads(bytes(rows[0]["payload"]))["band"]
        view = await score_view(conn, policy, "shop", shop, t0 + timedelta(days=15))
        assert view["status"] == "not_enough_data"
        assert await step(t0 + timedelta(days=16)) == NotEnoughData("shop", 0, 30)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 4, "published once"
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
