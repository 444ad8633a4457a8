"""The Chuanliu service as real processes on real Kafka and Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from laotie_common.envelope import Envelope
from laotie_contracts import live as lv
from laotie_contracts import orders as ev
from laotie_contracts.moderation import Measure, PenaltyApplied
from laotie_contracts.scoring import Resources, ScoreCurrent

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    publish,
    read_topic,
    republish,
    running_service,
)

POLICY = Path(__file__).resolve().parents[2] / (
    "services/chuanliu/src/laotie_chuanliu/policy/chuanliu.toml"
)


def policy_file(tmp: Path, **budget: Any) -> str:
    text = POLICY.read_text()
    for key, value in budget.items():
        text = "\n".join(
            f"{key} = {value}" if line.startswith(f"{key} =") else line
            for line in text.splitlines()
        )
    path = tmp / f"chuanliu-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(text)
    return str(path)


class Db:
    def __init__(self, url: str, schema: str) -> None:
        self.url, self.schema = url, schema

    async def value(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.url, server_settings={"search_path": self.schema})
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()


def distribution_sale(
    brand: str, buyer: str, creator: str, *, days_ago: float = 1, order_id: str | None = None
) -> ev.OrderPaid:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    return ev.OrderPaid(
        order_id=order_id or f"o-{uuid.uuid4().hex[:10]}",
        shop_id=brand,
        shop_kind="brand",
        buyer_id=buyer,
        product_id="p",
        sku_id="k",
        quantity=1,
        unit_price_fen=5000,
        total_fen=5000,
        attribution=ev.Attribution(
            channel="distribution", creator_id=creator, commission_rate_bp=1500
        ),
        status="paid",
        placed_at=when,
        occurred_at=when,
        ship_by=when + timedelta(days=2),
    )


def brand_goes_live(brand: str) -> tuple[str, str, list[lv.RoomFacts]]:
    room, session = f"room-{uuid.uuid4().hex[:8]}", f"sess-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    base = dict(
        room_id=room,
        owner_type="brand",
        owner_id=brand,
        shop_id=brand,
        title="品牌自播",
        occurred_at=now,
    )
    return (
        room,
        session,
        [
            lv.RoomCreated(**base),
            lv.SessionStarted(**base, session_id=session, self_broadcast=True, started_at=now),
        ],
    )


def self_broadcast_order(
    brand: str, room: str, buyer: str, total: int, *, order_id: str, refunded: int = 0
) -> list[ev.OrderFacts]:
    now = datetime.now(UTC)
    base: dict[str, Any] = dict(
        order_id=order_id,
        shop_id=brand,
        shop_kind="brand",
        buyer_id=buyer,
        product_id="p",
        sku_id="k",
        quantity=1,
        unit_price_fen=total,
        total_fen=total,
        attribution=ev.Attribution(channel="live_room", room_id=room, anchor_id=brand),
        placed_at=now,
        occurred_at=now,
    )
    events: list[ev.OrderFacts] = [ev.OrderPaid(**base, status="paid", ship_by=now)]
    if refunded:
        events.append(
            ev.OrderRefunded(
                **base,
                status="paid",
                refunded_fen=refunded,
                refund_id="r",
                refund_kind="refund_only",
                refund_reason="quality",
                refund_amount_fen=refunded,
            )
        )
    return events


@contextlib.asynccontextmanager
async def chuanliu(
    infra: Infra, policy: str, replicas: int = 1
) -> AsyncIterator[tuple[list[ServiceProcess], Db]]:
    unique = uuid.uuid4().hex[:8]
    env = {
        "DB_SCHEMA": f"chuanliu_{unique}",
        "CONSUMER_GROUP": f"chuanliu-{unique}",
        "CHUANLIU_POLICY": policy,
    }
    async with contextlib.AsyncExitStack() as stack:
        processes = [
            await stack.enter_async_context(
                running_service("laotie_chuanliu", infra.kafka_bootstrap, infra.database_url, **env)
            )
            for _ in range(replicas)
        ]
        yield processes, Db(infra.database_url, env["DB_SCHEMA"])


async def test_two_replicas_grant_exactly_the_budget_and_no_more(
    infra: Infra, tmp_path: Path
) -> None:
    policy = policy_file(tmp_path, daily_impressions=400, pacing_headroom=1.0, brand_share=1.0)
    async with chuanliu(infra, policy, replicas=2) as (_, db):
        brands = [f"brand-{uuid.uuid4().hex[:6]}" for _ in range(6)]
        await publish(
            infra.kafka_bootstrap,
            *[
                distribution_sale(brand, f"{brand}-buyer-{i}", "creator-1")
                for brand in brands
                for i in range(10)
            ],
        )

        async def affinity_known() -> bool:
            return await db.value("SELECT count(*) FROM affinity") == 60

        await eventually(affinity_known, timeout=60, what="the affinity recorded")
        sessions = []
        for brand in brands:
            _, session, facts = brand_goes_live(brand)
            sessions.append(session)
            await publish(infra.kafka_bootstrap, *facts)

        async def all_decided() -> bool:
            return await db.value(
                "SELECT count(*) FROM triggers WHERE outcome <> 'deciding'"
            ) == len(brands)

        await eventually(all_decided, timeout=60, what="every session start decided")
        granted = await db.value("SELECT coalesce(sum(impressions), 0) FROM grants")
        ledger = await db.value("SELECT granted FROM budget_days")
        assert granted == ledger == 400, "exactly the budget: 1,200 were asked for"
        assert await db.value("SELECT count(*) FROM grants") == 20
        outcomes = await db.value(
            "SELECT string_agg(DISTINCT split_part(outcome, ':', 1), ',') FROM triggers"
        )
        assert "granted" in outcomes
    records = await read_topic(infra.kafka_bootstrap, "chuanliu.traffic", expect=0, timeout=5)
    ours = [
        r
        for r in records
        if Envelope.from_record(r.key, r.value, r.headers).json().get("session_id") in sessions
    ]
    assert len(ours) == 20, "one event per grant, none twice"


@pytest.fixture(scope="module")
async def bridge(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Db]]:
    policy = policy_file(tmp_path_factory.mktemp("policy"), pacing_headroom=1.0)
    async with (
        chuanliu(infra, policy) as (processes, db),
        httpx.AsyncClient(base_url=processes[0].url, timeout=30) as client,
    ):
        yield client, db


async def _decided(db: Db, session: str) -> str:
    async def outcome() -> str | None:
        found = await db.value("SELECT outcome FROM triggers WHERE session_id = $1", session)
        return found if found and found != "deciding" else None

    result: str = await eventually(outcome, timeout=60, what=f"session {session} decided")
    return result


async def test_no_grants_for_a_poor_band_or_a_penalised_brand(
    bridge: tuple[httpx.AsyncClient, Db], infra: Infra
) -> None:
    _, db = bridge
    poor, penalised = f"brand-{uuid.uuid4().hex[:6]}", f"brand-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    await publish(
        infra.kafka_bootstrap,
        distribution_sale(poor, "u1", "c1"),
        distribution_sale(penalised, "u2", "c1"),
        ScoreCurrent(
            subject_key=f"shop:{poor}",
            kind="shop",
            subject_id=poor,
            value=4.1,
            band="poor",
            components={},
            sample_orders=40,
            window_days=30,
            window_end=now.date().isoformat(),
            policy_version="scores/x",
            computed_at=now,
            resources=Resources(
                traffic_weight=0.6,
                subsidy_eligible=False,
                campaign_eligible=False,
                paid_promotion_allowed=True,
                chuanliu_eligible=False,
            ),
        ),
        PenaltyApplied(
            penalty_id=f"pen-{uuid.uuid4().hex[:6]}",
            subject_type="shop",
            subject_id=penalised,
            shop_id=penalised,
            violation_code="diversion",
            occurred_at=now,
            measures=[Measure(kind="listing_ban", until=now + timedelta(days=3))],
        ),
    )

    async def known() -> bool:
        bands = await db.value("SELECT count(*) FROM bands WHERE subject_key = $1", f"shop:{poor}")
        penalties = await db.value(
            "SELECT count(*) FROM penalties WHERE subject_id = $1", penalised
        )
        return bool(bands and penalties)

    await eventually(known, timeout=60, what="the band and the penalty known")
    _, poor_session, poor_live = brand_goes_live(poor)
    _, pen_session, pen_live = brand_goes_live(penalised)
    await publish(infra.kafka_bootstrap, *poor_live, *pen_live)
    assert await _decided(db, poor_session) == "refused:brand_band_poor"
    assert await _decided(db, pen_session) == "refused:brand_under_penalty"
    assert (
        await db.value("SELECT count(*) FROM grants WHERE brand_id = ANY($1)", [poor, penalised])
        == 0
    )


async def test_a_refunded_distribution_order_removes_its_affinity(
    bridge: tuple[httpx.AsyncClient, Db], infra: Infra
) -> None:
    _, db = bridge
    brand = f"brand-{uuid.uuid4().hex[:6]}"
    kept = distribution_sale(brand, "loyal", "c1")
    refunded = distribution_sale(brand, "regretful", "c1")
    refund = ev.OrderRefunded(
        **{**refunded.model_dump(exclude={"ship_by"}), "status": "paid", "refunded_fen": 5000},
        refund_id="r1",
        refund_kind="refund_only",
        refund_reason="changed_mind",
        refund_amount_fen=5000,
    )
    await publish(infra.kafka_bootstrap, kept, refunded, refund)

    async def withdrawn() -> bool:
        return bool(
            await db.value("SELECT withdrawn FROM affinity WHERE order_id = $1", refunded.order_id)
        )

    await eventually(withdrawn, timeout=60, what="the affinity withdrawn")
    _, session, live = brand_goes_live(brand)
    await publish(infra.kafka_bootstrap, *live)
    assert await _decided(db, session) == "granted"
    buyers = await db.value(
        "SELECT string_agg(buyer_id, ',') FROM grants WHERE session_id = $1", session
    )
    assert buyers == "loyal"


async def test_attribution_and_uplift_match_a_hand_computed_example(
    bridge: tuple[httpx.AsyncClient, Db], infra: Infra
) -> None:
    client, db = bridge
    brand, creator = f"brand-{uuid.uuid4().hex[:6]}", f"creator-{uuid.uuid4().hex[:6]}"
    inputs = await publish(infra.kafka_bootstrap, distribution_sale(brand, "U", creator))
    room, session, live = brand_goes_live(brand)
    inputs += await publish(infra.kafka_bootstrap, *live)
    assert await _decided(db, session) == "granted"
    # U was granted the room: U's order counts for Chuanliu; V and W found it themselves.
    inputs += await publish(
        infra.kafka_bootstrap,
        *self_broadcast_order(brand, room, "U", 3000, order_id="oU", refunded=500),
        *self_broadcast_order(brand, room, "V", 2000, order_id="oV"),
        *self_broadcast_order(brand, room, "W", 1000, order_id="oW"),
    )

    async def counted() -> dict[str, Any] | None:
        body = (await client.get(f"/brands/{brand}/uplift")).json()
        ready = body["attributed_fen"] == 2500 and body["organic_fen"] == 3000
        return body if ready else None

    body = await eventually(counted, timeout=60, what="the uplift")
    assert body["uplift"] == round(2500 / 3000, 4)
    contribution = (await client.get(f"/creators/{creator}/contribution")).json()
    assert contribution["attributed_gmv_fen"] == 2500
    assert contribution["attributed_orders"] == 1
    assert contribution["reward_impressions"] == 300, "3000 fen = ¥30 × 10 × weight 1.0"

    # Replaying every input changes no ledger.
    before = await _ledger(db, brand)
    replay = [Envelope(**{**e.__dict__, "id": str(uuid.uuid4())}) for e in inputs]
    await republish(infra.kafka_bootstrap, replay)

    async def replayed() -> bool:
        return await db.value(
            "SELECT count(*) FROM processed_events WHERE event_id = ANY($1)", [e.id for e in replay]
        ) == len(replay)

    await eventually(replayed, timeout=60, what="the replay applied")
    await asyncio.sleep(0)  # the replay's own transactions have committed (checked above)
    assert await _ledger(db, brand) == before


async def _ledger(db: Db, brand: str) -> tuple[Any, ...]:
    return (
        await db.value("SELECT count(*) FROM grants WHERE brand_id = $1", brand),
        await db.value(
            "SELECT coalesce(sum(impressions), 0) FROM grants WHERE brand_id = $1", brand
        ),
        await db.value("SELECT granted FROM brand_days WHERE brand_id = $1", brand),
        await db.value(
            "SELECT coalesce(sum(gmv_fen - refunded_fen), 0)"
            " FROM self_broadcast_orders WHERE brand_id = $1",
            brand,
        ),
        await db.value(
            "SELECT coalesce(sum(impressions), 0) FROM rewards WHERE brand_id = $1", brand
        ),
        await db.value("SELECT count(*) FROM triggers WHERE brand_id = $1", brand),
    )
