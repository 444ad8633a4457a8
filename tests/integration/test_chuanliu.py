"""The Chuanliu service as real processes on real Kafka and Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.partitioner import murmur2
from laotie_common.auth import Role, mint_token
from laotie_common.envelope import Envelope
from laotie_common.metrics_text import total
from laotie_common.settings import ServiceSettings
from laotie_contracts import all_topics
from laotie_contracts import live as lv
from laotie_contracts import orders as ev
from laotie_contracts.moderation import Measure, PenaltyApplied

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    chuanliu_policy,
    eventually,
    header,
    keyed_records,
    order_facts,
    poor_shop_score,
    promoted_by,
    publish,
    read_topic,
    republish,
    running_service,
    session_ended,
    start_at_end,
)

CONSUMED = ("orders.order", "live.room", "scoring.score-latest", "moderation.penalty")


def policy_file(tmp: Path, **budget: Any) -> str:
    """The policy with ``budget`` settings changed, and no holdout unless one is given."""
    return chuanliu_policy(**{"holdout_share": 0.0, **budget})


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
    via = promoted_by(creator, brand)
    order_id = order_id or f"o-{uuid.uuid4().hex[:10]}"
    base = order_facts(brand, order_id, buyer, 5000, when, via, product_id="p")
    return ev.OrderPaid(**base, status="paid", ship_by=when + timedelta(days=2))


def room_on_partition(partition: int, partitions: int) -> str:
    """A room id that Kafka's default partitioner (murmur2 of the key) puts on ``partition``
    of ``live.room``; checked against the partition the record was actually consumed from."""
    while True:
        room = f"room-{uuid.uuid4().hex[:8]}"
        if (murmur2(room.encode()) & 0x7FFFFFFF) % partitions == partition:
            return room


def brand_goes_live(brand: str, room: str | None = None) -> tuple[str, str, list[lv.RoomFacts]]:
    room = room or f"room-{uuid.uuid4().hex[:8]}"
    session = f"sess-{uuid.uuid4().hex[:8]}"
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
    in_room = ev.Attribution(channel="live_room", room_id=room, anchor_id=brand)
    base = order_facts(brand, order_id, buyer, total, now, in_room, product_id="p")
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
    infra: Infra, policy: str, replicas: int = 1, **settings: str
) -> AsyncIterator[tuple[list[ServiceProcess], Db]]:
    unique = uuid.uuid4().hex[:8]
    env = {
        "DB_SCHEMA": f"chuanliu_{unique}",
        "CONSUMER_GROUP": f"chuanliu-{unique}",
        "CHUANLIU_POLICY": policy,
        **settings,
    }
    await start_at_end(infra.kafka_bootstrap, env["CONSUMER_GROUP"], CONSUMED)
    async with contextlib.AsyncExitStack() as stack:
        processes = [
            await stack.enter_async_context(
                running_service("laotie_chuanliu", infra.kafka_bootstrap, infra.database_url, **env)
            )
            for _ in range(replicas)
        ]
        yield processes, Db(infra.database_url, env["DB_SCHEMA"])


def _assignment(replica: ServiceProcess) -> set[str] | None:
    """The partitions a replica's consumer holds now: the last assignment its log reports
    (with eager rebalancing each assignment lists every partition the member holds)."""
    last = None
    for line in replica.log().splitlines():
        if '"partitions assigned"' in line:
            last = json.loads(line)["partitions"]
    return None if last is None else set(last)


def _owners(replicas: list[ServiceProcess], topic: str, partitions: int) -> dict[int, int] | None:
    """Which replica holds each partition of ``topic``, once the two hold disjoint halves
    of it (both have seen the rebalance), each at least one partition."""
    held = [_assignment(r) for r in replicas]
    if any(h is None for h in held):
        return None
    owner: dict[int, int] = {}
    for i, tps in enumerate(held):
        assert tps is not None
        for tp in tps:
            name, _, number = tp.rpartition("-")
            if name == topic:
                if int(number) in owner:
                    return None  # one replica still reports its assignment before the rebalance
                owner[int(number)] = i
    complete = len(owner) == partitions and set(owner.values()) == set(range(len(replicas)))
    return owner if complete else None


async def _decisions(replica: ServiceProcess) -> dict[str, float]:
    """What this replica's own process counted: session starts it applied (decided), the
    impressions it granted, the session starts it refused because the budget was spent."""
    assert replica.proc is not None
    assert replica.proc.poll() is None, f"replica {replica.port} exited:\n{replica.log()[-3000:]}"
    text = await replica.metrics()
    return {
        "session_starts": total(
            text,
            "laotie_consumer_records_total",
            topic="live.room",
            event_type="live.room.session_started",
            outcome="applied",
        ),
        "impressions": total(text, "laotie_chuanliu_impressions_granted_total"),
        "budget_spent": total(text, "laotie_chuanliu_refusals_total", reason="budget_spent"),
    }


async def test_two_replicas_grant_exactly_the_budget_and_no_more(
    infra: Infra, tmp_path: Path
) -> None:
    """Budget 400 impressions = 20 grants of 20; pacing and the brand's share never bind
    (headroom 1.0, share 1.0), buyers are distinct (the per-buyer cap never binds).

    Phase 1: one brand on a partition of each replica, 5 buyers each: both replicas grant
    5 × 20 = 100, 200 in all. Phase 2: a brand on every other partition of ``live.room``,
    10 buyers each (200 asked each, at once, across both replicas) for the 200 left: the
    first to take the budget row gets all 10 grants, every other is refused budget_spent.
    Hand-computed: 20 grants, 400 impressions, never more; each replica's own /metrics
    shows what it decided."""
    policy = policy_file(tmp_path, daily_impressions=400, pacing_headroom=1.0, brand_share=1.0)
    async with chuanliu(infra, policy, replicas=2) as (replicas, db):
        n = next(t.partitions for t in all_topics() if t.name == "live.room")

        async def split() -> dict[int, int] | None:
            return _owners(replicas, "live.room", n)

        try:
            owner: dict[int, int] = await eventually(
                split, timeout=60, what="the two replicas to split live.room"
            )
        except AssertionError as e:
            raise AssertionError(f"{e}; assignments: {[_assignment(r) for r in replicas]}") from e
        assigned = [_assignment(r) for r in replicas]
        first = {i: min(p for p, r in owner.items() if r == i) for i in (0, 1)}
        rest = sorted(set(owner) - set(first.values()))
        small = {first[i]: f"brand-{uuid.uuid4().hex[:6]}" for i in (0, 1)}  # 5 buyers
        large = {p: f"brand-{uuid.uuid4().hex[:6]}" for p in rest}  # 10 buyers
        buyers = {b: 5 for b in small.values()} | {b: 10 for b in large.values()}
        await publish(
            infra.kafka_bootstrap,
            *[
                distribution_sale(brand, f"{brand}-buyer-{i}", "creator-1")
                for brand, count in buyers.items()
                for i in range(count)
            ],
        )

        async def affinity_known() -> bool:
            found = await db.value(
                "SELECT count(*) FROM affinity WHERE brand_id = ANY($1)", list(buyers)
            )
            return bool(found == sum(buyers.values()))

        await eventually(affinity_known, timeout=60, what="the affinity recorded")

        session_of: dict[str, int] = {}  # session → the live.room partition it was put on
        start_id: dict[str, str] = {}  # session → the ce_id of its session_started record

        async def go_live(brands: dict[int, str]) -> list[str]:
            """Every brand goes live at once, each room on the partition chosen for it."""
            sessions, facts = [], []
            for partition, brand in brands.items():
                _, session, room_facts = brand_goes_live(brand, room_on_partition(partition, n))
                session_of[session] = partition
                sessions.append(session)
                facts += room_facts  # created, session_started
            envelopes = await publish(infra.kafka_bootstrap, *facts)
            start_id.update({s: envelopes[2 * k + 1].id for k, s in enumerate(sessions)})
            return sessions

        async def decided(sessions: list[str]) -> list[tuple[str, str, int, int]] | None:
            rows = await _fetch(
                db,
                "SELECT session_id, outcome, grants, impressions FROM triggers"
                " WHERE session_id = ANY($1) ORDER BY session_id",
                sessions,
            )
            found = [(r[0], r[1], r[2], r[3]) for r in rows]
            return found if len(found) == len(sessions) else None

        phase1 = await go_live(small)
        first_decisions = await eventually(
            lambda: decided(phase1), timeout=60, what="phase 1 decided"
        )
        assert [d[1:] for d in first_decisions] == [("granted", 5, 100)] * 2
        phase2 = await go_live(large)
        second = await eventually(lambda: decided(phase2), timeout=60, what="phase 2 decided")
        outcomes = sorted(d[1:] for d in second)
        assert outcomes == [("granted", 10, 200)] + [("refused:budget_spent", 0, 0)] * (
            len(rest) - 1
        ), "the 200 left go to one session start whole; every other is refused"
        [winner] = [d[0] for d in second if d[1] == "granted"]

        # What each replica decided, by its own process's metrics, against what it had to
        # decide: the session starts consumed from the partitions it holds (ours, and any
        # other test's: those are refused for want of affinity, never for the budget).
        async def observe() -> tuple[list[dict[str, float]], list[dict[str, float]]]:
            partition_of = {
                row["event_id"]: row["kafka_partition"]
                for row in await _fetch(
                    db,
                    "SELECT event_id, kafka_partition FROM processed_events"
                    " WHERE event_type = 'live.room.session_started'",
                )
            }
            assert {s: partition_of[start_id[s]] for s in session_of} == session_of, (
                "each session start was consumed from the partition it was put on"
            )
            expected: list[dict[str, float]] = []
            for i in range(len(replicas)):
                partitions = {p for p, r in owner.items() if r == i}
                ours = [s for s, p in session_of.items() if p in partitions]
                expected.append(
                    {
                        "session_starts": sum(1 for p in partition_of.values() if p in partitions),
                        "impressions": 100 + (200 if session_of[winner] in partitions else 0),
                        "budget_spent": sum(1 for s in ours if s in phase2 and s != winner),
                    }
                )
            return [await _decisions(r) for r in replicas], expected

        assert [_assignment(r) for r in replicas] == assigned, "a rebalance during the test"
        # a process counts a record just after its transaction commits: allow it a moment
        counted, expected = await observe()
        deadline = time.monotonic() + 15
        while counted != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            counted, expected = await observe()
        # each replica granted 100 in phase 1 at least: both decided, both granted
        assert counted == expected, f"per replica (partitions of live.room: {owner})"
        assert sum(c["impressions"] for c in counted) == 400, "together: exactly the budget"

        sessions = phase1 + phase2
        assert await db.value("SELECT granted FROM budget_days") == 400
        assert await db.value("SELECT count(*) FROM grants") == 20, "grants of other brands?"
        assert (
            await db.value(
                "SELECT sum(impressions) FROM grants WHERE session_id = ANY($1)", sessions
            )
            == 400
        )
        rows = await _fetch(db, "SELECT grant_id FROM grants WHERE session_id = ANY($1)", sessions)
        grant_ids = {r["grant_id"] for r in rows}

        async def published() -> list[str] | None:
            records = await read_topic(infra.kafka_bootstrap, "chuanliu.traffic", timeout=10)
            ours = [b["grant_id"] for b in _bodies(records) if b.get("session_id") in sessions]
            return ours if len(ours) >= 20 else None

        events = await eventually(published, timeout=30, what="the 20 grants on chuanliu.traffic")
    assert sorted(events) == sorted(grant_ids), "one event per grant, none twice"


def _bodies(records: list[Any]) -> list[dict[str, Any]]:
    """The JSON data of every CloudEvent among ``records`` (other tests plant poison on
    every topic: those are skipped)."""
    bodies = []
    for r in records:
        with contextlib.suppress(Exception):
            bodies.append(Envelope.from_record(r.key, r.value, r.headers).json())
    return bodies


async def _fetch(db: Db, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db.url, server_settings={"search_path": db.schema})
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


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
        poor_shop_score(poor, now.date(), now),
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


async def test_a_withdrawn_score_leaves_no_stale_band(
    bridge: tuple[httpx.AsyncClient, Db], infra: Infra
) -> None:
    """Scoring withdraws a poor score (not enough data any more): Chuanliu once kept the poor
    band for good from the compacted topic; now the brand is unscored again."""
    from laotie_contracts.scoring import ScoreNotEnoughData

    _, db = bridge
    brand = f"brand-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    await publish(infra.kafka_bootstrap, poor_shop_score(brand, now.date(), now))
    key = f"shop:{brand}"

    async def bands() -> int:
        n: int = await db.value("SELECT count(*) FROM bands WHERE subject_key = $1", key)
        return n

    await eventually(bands, timeout=60, what="the poor band known")
    await publish(
        infra.kafka_bootstrap,
        ScoreNotEnoughData(
            subject_key=key,
            kind="shop",
            subject_id=brand,
            sample_orders=12,
            min_sample_orders=30,
            window_days=30,
            window_end=now.date().isoformat(),
            policy_version="scores/test",
            computed_at=now + timedelta(seconds=1),
        ),
    )
    await eventually(lambda: _is(bands(), 0), timeout=60, what="the band forgotten")


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


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

    seller = _as(infra, Role.SELLER, "seller-1", shop_id=brand)

    async def counted() -> dict[str, Any] | None:
        body = (await client.get(f"/brands/{brand}/uplift", headers=seller)).json()
        ready = body["attributed_fen"] == 2500 and body["organic_fen"] == 3000
        return body if ready else None

    body = await eventually(counted, timeout=60, what="the uplift")
    assert body["uplift"] == round(2500 / 3000, 4)
    contribution = (
        await client.get(
            f"/creators/{creator}/contribution", headers=_as(infra, Role.ANCHOR, creator)
        )
    ).json()
    assert contribution["attributed_gmv_fen"] == 2500
    assert contribution["attributed_orders"] == 1
    # The policy (chuanliu.toml [rewards], 2026.12-1): the creator's day earns
    # ⌊weight × min(5,000, 10 × yuan^0.8)⌋. The paid order, ¥30 gross, earned ⌊10 × 30^0.8⌋ =
    # 151; its ¥5 refund withdrew what those ¥5 earned the day, 151 − ⌊10 × 25^0.8⌋ = 20, back
    # to the day's budget (a creator_reward_reduced event says so): 131 are left.
    assert contribution["rewards"] == 1
    assert contribution["reward_impressions"] == 131, "the refund withdrew its share"
    assert contribution["reward_impressions_withdrawn"] == 20
    assert (
        await db.value(
            "SELECT count(*) FROM outbox WHERE event_type = $1"
            " AND convert_from(payload, 'UTF8') LIKE $2",
            "chuanliu.traffic.creator_reward_reduced",
            "%oU%",
        )
        == 1
    )
    # the ledger holds the grants and the rewards, never more than the budget
    granted = await db.value("SELECT granted FROM budget_days ORDER BY day DESC LIMIT 1")
    out = await db.value(
        "SELECT (SELECT coalesce(sum(impressions), 0) FROM grants)"
        " + (SELECT coalesce(sum(impressions), 0) FROM rewards WHERE day IS NOT NULL)"
    )
    assert granted == out

    # Replaying every input changes no ledger.
    before = await _ledger(db, brand)
    replay = [Envelope(**{**e.__dict__, "id": str(uuid.uuid4())}) for e in inputs]
    await republish(infra.kafka_bootstrap, replay)

    async def replayed() -> bool:
        return await db.value(
            "SELECT count(*) FROM processed_events WHERE event_id = ANY($1)", [e.id for e in replay]
        ) == len(replay)

    # processed_events rows commit with the replayed events' effects: all are in
    await eventually(replayed, timeout=60, what="the replay applied")
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


def _as(infra: Infra, role: Role, subject: str, shop_id: str | None = None) -> dict[str, str]:
    settings = ServiceSettings(
        database_url=infra.database_url, kafka_bootstrap_servers=infra.kafka_bootstrap
    )
    token = mint_token(settings, subject=subject, role=role, shop_id=shop_id)
    return {"Authorization": f"Bearer {token}"}


async def test_grants_uplift_and_budget_are_shown_only_to_whom_they_belong(
    bridge: tuple[httpx.AsyncClient, Db], infra: Infra
) -> None:
    """Regression (issue 18, row 1): these reads answered anyone without a token, with the
    buyers behind each grant. Now: the brand's sellers see their uplift and their sessions'
    grants without buyer ids, operators see everything, a creator their own contribution,
    the budget is for operators; everyone else is refused."""
    client, db = bridge
    brand, creator = f"brand-{uuid.uuid4().hex[:6]}", f"creator-{uuid.uuid4().hex[:6]}"
    await publish(infra.kafka_bootstrap, distribution_sale(brand, "U", creator))
    _, session, live = brand_goes_live(brand)
    await publish(infra.kafka_bootstrap, *live)
    assert await _decided(db, session) == "granted"
    grants, uplift = f"/sessions/{session}/grants", f"/brands/{brand}/uplift"
    own = _as(infra, Role.SELLER, "s", shop_id=brand)
    other = _as(infra, Role.SELLER, "s2", shop_id="another-brand")
    operator, buyer = _as(infra, Role.OPERATOR, "ops"), _as(infra, Role.BUYER, "U")
    for path in (grants, uplift, "/budget", f"/creators/{creator}/contribution"):
        assert (await client.get(path)).status_code == 401, path
        assert (await client.get(path, headers=buyer)).status_code == 403, path
    assert (await client.get(grants, headers=other)).status_code == 403
    assert (await client.get(uplift, headers=other)).status_code == 403
    assert (await client.get("/budget", headers=own)).status_code == 403
    mine = (await client.get(grants, headers=own)).json()
    assert mine["grants_detail"], "the brand sees its grants"
    assert all("buyer_id" not in g for g in mine["grants_detail"]), "but not who the buyers are"
    seen = (await client.get(grants, headers=operator)).json()
    assert [g["buyer_id"] for g in seen["grants_detail"]] == ["U"]
    page = await client.get(grants, headers=operator, params={"limit": 501})
    assert page.status_code == 422, "a page is at most 500 grants"
    assert (await client.get(uplift, headers=own)).status_code == 200
    assert (await client.get("/budget", headers=operator)).status_code == 200
    contribution = f"/creators/{creator}/contribution"
    assert (await client.get(contribution, headers=_as(infra, Role.ANCHOR, creator))).is_success
    assert (await client.get(contribution, headers=_as(infra, Role.ANCHOR, "x"))).status_code == 403


async def test_an_operators_budget_change_is_audited_once_with_who_and_why(
    bridge: tuple[httpx.AsyncClient, Db], infra: Infra
) -> None:
    """Regression (issue 18, row 13): a budget change kept only its last ``updated_by``. Now
    each operator command appends who, when, what and why to ``audit_log`` and publishes it
    on ``chuanliu.audit``, in the command's transaction: a replayed Idempotency-Key records
    nothing more, and a refused command records nothing."""
    client, db = bridge
    actor = f"ops-{uuid.uuid4().hex[:8]}"
    operator = _as(infra, Role.OPERATOR, actor)
    today = (await client.get("/budget", headers=operator)).json()
    body = {"daily_impressions": today["budget"], "reason": "keep the evening's budget"}
    keyed = operator | {"Idempotency-Key": f"audit-{actor}"}
    for _ in range(2):
        assert (await client.put("/budget", json=body, headers=keyed)).status_code == 200
    seller = _as(infra, Role.SELLER, actor, shop_id="a-brand")
    refused = await client.put("/budget", json=body, headers=seller)
    assert refused.status_code == 403
    rows = await _fetch(db, "SELECT * FROM audit_log WHERE actor_id = $1", actor)
    assert [(r["actor_role"], r["action"], r["reason"], r["status_code"]) for r in rows] == [
        ("operator", "PUT /budget", "keep the evening's budget", 200)
    ]
    assert json.loads(rows[0]["details"]) == body
    records = await keyed_records(infra.kafka_bootstrap, "chuanliu.audit", actor, until=bool)
    assert [header(r, "ce_type") for r in records] == ["chuanliu.audit.action_recorded"]
    events = [json.loads(r.value) for r in records]
    assert [e["audit_id"] for e in events] == [rows[0]["audit_id"]]
    assert events[0]["reason"] == "keep the evening's budget"


async def test_uplift_compares_granted_buyers_with_a_holdout(infra: Infra, tmp_path: Path) -> None:
    """Uplift once set attributed GMV against organic GMV, with no control group; now a
    hash-chosen share of the eligible buyers gets no grant, and the granted buyers' conversion
    and GMV per buyer are set against theirs, with the sample sizes (issue 20, item 8)."""
    from laotie_chuanliu.domain import in_holdout

    policy = policy_file(tmp_path, holdout_share=0.5, pacing_headroom=1.0)
    async with chuanliu(infra, policy) as (processes, db):
        brand = f"brand-{uuid.uuid4().hex[:6]}"
        buyers = [f"{brand}-b{i}" for i in range(24)]
        held = [b for b in buyers if in_holdout(b, 0.5)]
        treated = [b for b in buyers if b not in held]
        assert held, "the brand's id makes some buyers held out"
        assert treated, "and some granted"
        await publish(infra.kafka_bootstrap, *(distribution_sale(brand, b, "c1") for b in buyers))

        async def fond() -> bool:
            n: int = await db.value("SELECT count(*) FROM affinity WHERE brand_id = $1", brand)
            return n == len(buyers)

        await eventually(fond, timeout=60, what="every buyer fond of the brand")
        room, session, live = brand_goes_live(brand)
        await publish(infra.kafka_bootstrap, *live)
        assert await _decided(db, session) == "granted"
        granted = await db.value(
            "SELECT array_agg(buyer_id ORDER BY buyer_id) FROM grants WHERE session_id = $1",
            session,
        )
        assert sorted(granted) == sorted(treated), "nobody held out is granted"
        # two of the granted buy ¥30 each, one held-out buyer ¥20
        orders = [
            *self_broadcast_order(brand, room, treated[0], 3000, order_id=f"{brand}-o1"),
            *self_broadcast_order(brand, room, treated[1], 3000, order_id=f"{brand}-o2"),
            *self_broadcast_order(brand, room, held[0], 2000, order_id=f"{brand}-o3"),
        ]
        await publish(infra.kafka_bootstrap, *orders)
        seller = _as(infra, Role.SELLER, "seller-1", shop_id=brand)
        async with httpx.AsyncClient(base_url=processes[0].url, timeout=10) as client:

            async def compared() -> dict[str, Any] | None:
                body = (await client.get(f"/brands/{brand}/uplift", headers=seller)).json()
                arms = body["against_holdout"]
                done = arms["treated"]["converted"] == 2 and arms["holdout"]["converted"] == 1
                return arms if done else None

            arms = await eventually(compared, timeout=60, what="both arms counted")
        t, h = len(treated), len(held)
        assert arms["treated"] == {
            "buyers": t,
            "converted": 2,
            "conversion": round(2 / t, 4),
            "net_fen_per_buyer": round(6000 / t, 2),
        }
        assert arms["holdout"] == {
            "buyers": h,
            "converted": 1,
            "conversion": round(1 / h, 4),
            "net_fen_per_buyer": round(2000 / h, 2),
        }
        assert arms["conversion_uplift"] == round(round(2 / t, 4) / round(1 / h, 4) - 1, 4)


async def test_a_live_session_is_topped_up_in_rounds_until_it_ends(
    infra: Infra, tmp_path: Path
) -> None:
    """Grants were decided once, at session start, for at most 500 buyers: a buyer who
    bought through a creator during the session, or one the first round could not reach,
    got nothing. Now a round reaches max_grants_per_round × the band weight, and a top-up
    follows every top_up_every_s while the session is live, each granting buyers the session
    has not granted yet; the session's end stops them (issue 20, item 7)."""
    policy = policy_file(
        tmp_path,
        pacing_headroom=1.0,
        max_grants_per_round=4,
        top_up_every_s=1,
        rounds_per_session=50,
    )
    async with chuanliu(infra, policy, TOP_UP_CHECK_INTERVAL_S="0.3") as (_, db):
        brand = f"brand-{uuid.uuid4().hex[:6]}"
        first = [f"{brand}-b{i}" for i in range(6)]
        await publish(infra.kafka_bootstrap, *(distribution_sale(brand, b, "c1") for b in first))

        async def fond(n: int) -> bool:
            found: int = await db.value("SELECT count(*) FROM affinity WHERE brand_id = $1", brand)
            return found == n

        await eventually(lambda: fond(6), timeout=60, what="six buyers fond of the brand")
        room, session, live = brand_goes_live(brand)
        await publish(infra.kafka_bootstrap, *live)
        assert await _decided(db, session) == "granted"

        async def by_round(n: int) -> dict[str, int] | None:
            rows = await _fetch(
                db, "SELECT buyer_id, round FROM grants WHERE session_id = $1", session
            )
            return {r["buyer_id"]: r["round"] for r in rows} if len(rows) == n else None

        rounds = await eventually(lambda: by_round(6), timeout=30, what="the top-up")
        assert sorted(rounds.values()) == [1, 1, 1, 1, 2, 2], "4 at the start, 2 topped up"
        late = f"{brand}-late"
        await publish(infra.kafka_bootstrap, distribution_sale(brand, late, "c2", days_ago=0))
        rounds = await eventually(lambda: by_round(7), timeout=30, what="the late buyer's grant")
        assert rounds[late] > 2, "a buyer who bought during the session is granted in a top-up"
        assert set(rounds) == {*first, late}

        ended = session_ended(
            room, session, brand, owner_type="brand", shop_id=brand, title="品牌自播"
        )
        await publish(infra.kafka_bootstrap, ended)

        async def over() -> bool:
            row = await _fetch(
                db, "SELECT ended_at, next_round_at FROM triggers WHERE session_id = $1", session
            )
            return row[0]["ended_at"] is not None and row[0]["next_round_at"] is None

        await eventually(over, timeout=30, what="the session's end recorded")
        after = f"{brand}-after"
        await publish(infra.kafka_bootstrap, distribution_sale(brand, after, "c2", days_ago=0))
        await eventually(lambda: fond(8), timeout=30, what="a buyer fond after the end")
        # Nothing can signal a round that does not happen: give the job three chances.
        await asyncio.sleep(3 * 1.0)
        granted = await db.value("SELECT count(*) FROM grants WHERE session_id = $1", session)
        assert granted == 7, "no round after the session ended"
