"""Duplicated and reordered deliveries, injected on purpose, change no consumer's state.

Two copies of scoring and of Chuanliu run as real processes, in consumer groups that read
only what is published after the test began (the shared broker holds other tests' records).
The *reference* pair reads, in the order the other services would publish them and one
phase after the other:

1. the order facts of 40 orders of a shop, and the distribution sales of a second brand
   (one refunded: its affinity withdrawn);
2. that brand going live (room created, session started): Chuanliu grants its buyers;
3. self-broadcast orders in the brand's room: attributed to the grants or not, rewarding the
   creator behind the grant, one of them partly refunded.

The *mixed* pair then reads the very same records (same ``ce_id``) phase by phase, twice
each, shuffled across and within orders (a refund before its payment, a review before the
shipment; the partly refunded self-broadcast order's refund always before its payment),
plus a few re-sent under new ids as a confused producer would. Both pairs must end with
the same rows: scoring's order facts, daily buckets and scores; Chuanliu's affinity, brand
rooms, decisions, grants, budget ledgers, attribution of self-broadcast orders and rewards.
The reference's Chuanliu rows must also match a hand-computed example, and the reference
pair, which receives the mixed copies too, must not change at all.

The phases stay in order in both copies: a session start decided before a sale is known
legitimately grants differently, so what is reordered is everything within a phase.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from laotie_common.envelope import Envelope
from laotie_contracts import live as lv
from laotie_contracts import model_for
from laotie_contracts import orders as ev
from laotie_contracts.moderation import PenaltyFacts

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    order_events,
    order_facts,
    promoted_by,
    publish,
    read_topic,
    republish,
    running_service,
    start_at_end,
)
from tests.integration.test_chuanliu import CONSUMED

pytestmark = pytest.mark.integration

READS = {"scoring": ("orders.order", "moderation.penalty"), "chuanliu": CONSUMED}
SIDE = ("moderation.penalty", "scoring.score-latest")  # not written by this test
PENALTY_TYPES = ("moderation.penalty.applied", "moderation.penalty.revoked")
# Every row a copy holds about the shop and the live brand (``$1`` prefixes both). Left out,
# because they legitimately differ between two copies: ids each copy generates (grant_id,
# reward_id: a self-broadcast order's grant is compared as the grant's session and buyer),
# the moments each copy decided (triggers.decided_at, grants.granted_at, rewards.rewarded_at)
# and the affinity of a grant, which decays with the moment of the decision (compared
# separately, to a tolerance).
QUERIES = {
    "scoring": [
        "SELECT * FROM order_facts WHERE shop_id = $1 ORDER BY order_id",
        "SELECT * FROM daily_buckets WHERE subject_id LIKE $1 || '%'"
        " ORDER BY kind, subject_id, day",
        "SELECT kind, subject_id, value, band, components, sample_orders FROM scores"
        " WHERE subject_id LIKE $1 || '%' ORDER BY kind, subject_id",
    ],
    "chuanliu": [
        "SELECT * FROM affinity WHERE brand_id LIKE $1 || '%' ORDER BY order_id",
        "SELECT * FROM brand_rooms WHERE brand_id LIKE $1 || '%' ORDER BY room_id",
        "SELECT session_id, brand_id, room_id, outcome, grants, impressions FROM triggers"
        " WHERE brand_id LIKE $1 || '%' ORDER BY session_id",
        "SELECT session_id, buyer_id, brand_id, via_creator_id, impressions, day FROM grants"
        " WHERE brand_id LIKE $1 || '%' ORDER BY session_id, buyer_id",
        "SELECT day, brand_id, granted FROM brand_days WHERE brand_id LIKE $1 || '%'"
        " ORDER BY day, brand_id",
        "SELECT day, buyer_id, grants FROM buyer_days WHERE buyer_id LIKE $1 || '%'"
        " ORDER BY day, buyer_id",
        "SELECT o.order_id, o.brand_id, o.buyer_id, o.day, o.gmv_fen, o.refunded_fen,"
        " o.attributed, o.via_creator_id, g.session_id AS grant_session,"
        " g.buyer_id AS grant_buyer FROM self_broadcast_orders o"
        " LEFT JOIN grants g ON g.grant_id = o.grant_id"
        " WHERE o.brand_id LIKE $1 || '%' ORDER BY o.order_id",
        # a creator's day of rewards (how it splits between the day's orders depends on their
        # order of arrival; the day's total does not: chuanliu/2026.12-1)
        "SELECT creator_id, brand_id, day, sum(impressions) AS impressions FROM rewards"
        " WHERE brand_id LIKE $1 || '%' GROUP BY creator_id, brand_id, day"
        " ORDER BY creator_id, brand_id",
    ],
}
TRIGGERS, GRANTS, SELF_BROADCAST, REWARDS = 2, 3, 6, 7  # indexes in QUERIES["chuanliu"]
AFFINITY_OF_GRANTS = (
    "SELECT buyer_id, affinity FROM grants WHERE brand_id LIKE $1 || '%' ORDER BY buyer_id"
)


def _refund(base: dict[str, Any], refunded: int) -> ev.OrderRefunded:
    return ev.OrderRefunded(
        **base,
        status="paid",
        refunded_fen=refunded,
        refund_id=f"r-{base['order_id']}",
        refund_kind="refund_only",
        refund_reason="quality",
        refund_amount_fen=refunded,
    )


def live_brand_script(shop: str) -> tuple[list[Any], list[Any], list[Any], dict[str, Any]]:
    """The three phases of a brand that goes live, and what they add up to, by hand.

    Distribution sales 20 days ago (affinity 2^(-20/14) ≈ 0.37, above the 0.05 minimum) of
    buyers L0..L5 via one creator; L0's is refunded, so L0 has no affinity. Too few orders
    (10 with phase 3) for any score's minimum sample: the brand and the creator stay
    unscored (weight 1.0). The session start grants L1..L5 one grant of 20 impressions each.
    Self-broadcast orders, placed 20 minutes from now so that they come after either copy's
    grants: L1 3,000 fen with 500 refunded, L2 2,000 (attributed: the creator's day of ¥45 net
    earns 210 reward impressions), X 1,000 (no affinity, no grant) and L0
    1,500 (affinity withdrawn, no grant): not attributed."""
    brand, creator = f"{shop}-live", f"{shop}-live-creator"
    buyer = {name: f"{brand}-{name}" for name in ("L0", "L1", "L2", "L3", "L4", "L5", "X")}
    sold = datetime.now(UTC) - timedelta(days=20)
    via = promoted_by(creator, brand)
    sales: list[Any] = []
    for name in ("L0", "L1", "L2", "L3", "L4", "L5"):
        base = order_facts(brand, f"{brand}-d-{name}", buyer[name], 5000, sold, via)
        sales.append(ev.OrderPaid(**base, status="paid", ship_by=sold + timedelta(days=2)))
        if name == "L0":
            sales.append(_refund(base, 5000))

    room, session = f"{brand}-room", f"{brand}-session"
    now = datetime.now(UTC)
    facts: dict[str, Any] = dict(
        room_id=room, owner_type="brand", owner_id=brand, shop_id=brand, title="品牌自播"
    )
    going_live: list[Any] = [
        lv.RoomCreated(**facts, occurred_at=now),
        lv.SessionStarted(
            **facts, occurred_at=now, session_id=session, self_broadcast=True, started_at=now
        ),
    ]

    placed = now + timedelta(minutes=20)
    in_room = ev.Attribution(channel="live_room", room_id=room, anchor_id=brand)
    orders: list[Any] = []
    for name, order_id, total, refunded in (
        ("L1", f"{brand}-s-A", 3000, 500),
        ("L2", f"{brand}-s-B", 2000, 0),
        ("X", f"{brand}-s-C", 1000, 0),
        ("L0", f"{brand}-s-D", 1500, 0),
    ):
        base = order_facts(brand, order_id, buyer[name], total, placed, in_room)
        orders.append(ev.OrderPaid(**base, status="paid", ship_by=placed + timedelta(days=2)))
        if refunded:
            orders.append(_refund(base, refunded))

    granted = [f"L{i}" for i in range(1, 6)]
    expected = {
        "triggers": [
            {
                "session_id": session,
                "brand_id": brand,
                "room_id": room,
                "outcome": "granted",
                "grants": 5,
                "impressions": 5 * 20,
            }
        ],
        "grants": [(session, buyer[n], brand, creator, 20) for n in granted],
        "self_broadcast": [
            (f"{brand}-s-A", buyer["L1"], 3000, 500, True, creator, session, buyer["L1"]),
            (f"{brand}-s-B", buyer["L2"], 2000, 0, True, creator, session, buyer["L2"]),
            (f"{brand}-s-C", buyer["X"], 1000, 0, False, None, None, None),
            (f"{brand}-s-D", buyer["L0"], 1500, 0, False, None, None, None),
        ],
        # the creator's day: ¥25 + ¥20 net = ¥45, ⌊10 × 45^0.8⌋ = 210 (chuanliu.toml [rewards])
        "rewards": [(creator, brand, 210)],
    }
    return sales, going_live, orders, expected


async def _groups(boot: str, role: str) -> dict[str, str]:
    """Fresh groups for a pair, at the end of the topics other services write (penalties,
    scores) from the start of the test: both pairs read the same of those."""
    groups = {svc: f"{svc}-{role}-{uuid.uuid4().hex[:8]}" for svc in READS}
    for svc, group in groups.items():
        await start_at_end(boot, group, tuple(t for t in READS[svc] if t in SIDE))
    return groups


@contextlib.asynccontextmanager
async def _pair(
    boot: str, url: str, groups: dict[str, str]
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Scoring and Chuanliu in their groups, starting at the end of the topics the test
    writes: a pair reads only what is published from now on."""
    for svc, group in groups.items():
        await start_at_end(boot, group, tuple(t for t in READS[svc] if t not in SIDE))
    async with (
        running_service("laotie_scoring", boot, url, CONSUMER_GROUP=groups["scoring"]) as s,
        running_service("laotie_chuanliu", boot, url, CONSUMER_GROUP=groups["chuanliu"]) as c,
    ):
        yield {"scoring": s, "chuanliu": c}


def _topic(envelope: Envelope) -> str:
    model = model_for(envelope.type)
    assert model is not None, envelope.type
    return str(model.topic)


async def _all_applied(
    url: str, procs: dict[str, ServiceProcess], envelopes: list[Envelope], which: str
) -> None:
    for svc, proc in procs.items():
        ids = {e.id for e in envelopes if _topic(e) in READS[svc]}

        async def done(schema: str = proc.env_vars["DB_SCHEMA"], ids: set[str] = ids) -> bool:
            return await _applied(url, schema, ids) == len(ids)

        await eventually(done, timeout=60, what=f"{svc} ({which}) to apply {len(ids)} events")


async def _fetch(url: str, schema: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def _rows(url: str, schema: str, service: str, shop: str) -> list[list[dict[str, Any]]]:
    return [await _fetch(url, schema, q, shop) for q in QUERIES[service]]


async def _applied(url: str, schema: str, ids: set[str]) -> int:
    rows = await _fetch(
        url,
        schema,
        "SELECT count(DISTINCT event_id) AS n FROM processed_events WHERE event_id = ANY($1)",
        list(ids),
    )
    return int(rows[0]["n"])


async def _penalties_about(boot: str, shop: str) -> set[str]:
    """Ids of the penalties on ``moderation.penalty`` about the shop or its creator. This test
    publishes none, but another test's moderation service on the shared broker may penalise
    the shop's late shipments (both pairs' scoring read them: violations)."""
    ids = set()
    for record in await read_topic(boot, "moderation.penalty", timeout=10):
        with contextlib.suppress(Exception):  # other tests' poison
            envelope = Envelope.from_record(record.key, record.value, record.headers)
            if envelope.type in PENALTY_TYPES:
                penalty = envelope.parse(PenaltyFacts)
                if any((x or "").startswith(shop) for x in (penalty.subject_id, penalty.shop_id)):
                    ids.add(envelope.id)
    return ids


async def _settled_rows(
    boot: str, url: str, copies: list[dict[str, ServiceProcess]], shop: str
) -> tuple[list[dict[str, list[list[dict[str, Any]]]]], set[str]]:
    """Every copy's rows once each has applied every penalty about the shop published so far
    (and none came while the rows were read)."""
    for _ in range(10):
        seen = await _penalties_about(boot, shop)
        for procs in copies:
            schema = procs["scoring"].env_vars["DB_SCHEMA"]

            async def done(schema: str = schema, seen: set[str] = seen) -> bool:
                return await _applied(url, schema, seen) == len(seen)

            await eventually(done, timeout=60, what=f"scoring to apply {len(seen)} penalties")
        rows = [
            {svc: await _rows(url, p.env_vars["DB_SCHEMA"], svc, shop) for svc, p in procs.items()}
            for procs in copies
        ]
        if await _penalties_about(boot, shop) == seen:
            return rows, seen
    raise AssertionError("penalties about the shop kept coming")


def _renamed(envelopes: list[Envelope]) -> list[Envelope]:
    """The same events re-sent under new ids, as a confused producer would."""
    out = []
    for envelope in envelopes:
        model = model_for(envelope.type)
        assert model is not None, envelope.type
        out.append(Envelope.for_event(envelope.parse(model), source="/laotie/test"))
    return out


def _hand_check(rows: list[list[dict[str, Any]]], expected: dict[str, Any]) -> None:
    """The reference's decision, grants, attribution and rewards, against the hand figures."""
    assert rows[TRIGGERS] == expected["triggers"]
    grants = [
        (r["session_id"], r["buyer_id"], r["brand_id"], r["via_creator_id"], r["impressions"])
        for r in rows[GRANTS]
    ]
    assert grants == expected["grants"]
    attribution = [
        (
            r["order_id"],
            r["buyer_id"],
            r["gmv_fen"],
            r["refunded_fen"],
            r["attributed"],
            r["via_creator_id"],
            r["grant_session"],
            r["grant_buyer"],
        )
        for r in rows[SELF_BROADCAST]
    ]
    assert attribution == expected["self_broadcast"]
    rewards = [(r["creator_id"], r["brand_id"], r["impressions"]) for r in rows[REWARDS]]
    assert rewards == expected["rewards"], "the creator's day earns what its net GMV earns"


async def test_duplicated_and_reordered_deliveries_change_nothing(infra: Infra) -> None:
    shop = f"reorder-{uuid.uuid4().hex[:8]}"
    sales, going_live, in_room, expected = live_brand_script(shop)
    phases_facts = [
        order_events(shop, 20, good=True) + order_events(shop, 20, good=False) + sales,
        going_live,
        in_room,
    ]
    boot, url = infra.kafka_bootstrap, infra.database_url
    groups = {role: await _groups(boot, role) for role in ("ref", "mix")}
    async with _pair(boot, url, groups["ref"]) as refs:
        phases: list[list[Envelope]] = []
        for facts in phases_facts:
            envelopes: list[Envelope] = await publish(boot, *facts)
            await _all_applied(url, refs, envelopes, "reference")
            phases.append(envelopes)
        [reference], penalised = await _settled_rows(boot, url, [refs], shop)
        ref_affinity = await _fetch(
            url, refs["chuanliu"].env_vars["DB_SCHEMA"], AFFINITY_OF_GRANTS, shop
        )
        assert reference["scoring"][0], "the reference scoring stored no order facts"
        assert any(r["withdrawn"] for r in reference["chuanliu"][0]), "no refund withdrew affinity"
        _hand_check(reference["chuanliu"], expected)

        async with _pair(boot, url, groups["mix"]) as mixes:
            rng = random.Random(20261123)
            inversions = renamed = 0
            for phase in phases:
                mixed = phase * 2
                rng.shuffle(mixed)
                copies = _renamed(rng.sample(phase, min(10, len(phase))))
                mixed += copies
                if phase is phases[2]:
                    # the partly refunded order: its refund first (inserted already refunded)
                    refund = next(e for e in mixed if e.type == "orders.order.refunded")
                    mixed.remove(refund)
                    mixed.insert(0, refund)
                inversions += _inversions(phase, mixed)
                renamed += len(copies)
                await republish(boot, mixed)
                await _all_applied(url, mixes, phase + copies, "mixed")
                await _all_applied(url, refs, phase + copies, "reference, the copies")
            print(
                f"\ninjected: {sum(len(p) for p in phases)} events (40 orders of a shop, a brand's"
                f" sales, session start and self-broadcast orders) sent again twice each,"
                f" shuffled within each phase ({inversions} pairs of one key's events out of"
                f" order), and {renamed} re-sent under new ids"
            )
            [mixed_rows, again], penalised_now = await _settled_rows(boot, url, [mixes, refs], shop)
            for svc in ("scoring", "chuanliu"):
                print(
                    f"{svc}: reference {[len(t) for t in again[svc]]} rows,"
                    f" mixed {[len(t) for t in mixed_rows[svc]]} rows,"
                    f" equal: {mixed_rows[svc] == again[svc]}"
                )
                pairs = zip(mixed_rows[svc], again[svc], strict=True)
                for table, (mine, theirs) in enumerate(pairs):
                    differing = [(a, b) for a, b in zip(mine, theirs, strict=False) if a != b]
                    assert mine == theirs, f"{svc} query {table}: reordering changed {differing}"
                if svc == "scoring" and penalised_now != penalised:
                    # another test's moderation penalised the shop meanwhile: its scores moved
                    print(f"scoring: {len(penalised_now - penalised)} penalties arrived meanwhile")
                    continue
                assert again[svc] == reference[svc], f"{svc}: duplicates changed the reference"
            mixed_affinity = await _fetch(
                url, mixes["chuanliu"].env_vars["DB_SCHEMA"], AFFINITY_OF_GRANTS, shop
            )
            assert [r["buyer_id"] for r in mixed_affinity] == [r["buyer_id"] for r in ref_affinity]
            for m, r in zip(mixed_affinity, ref_affinity, strict=True):
                # decided seconds apart: a 14-day half-life moves it ~6e-7 of itself a second
                assert abs(m["affinity"] - r["affinity"]) < 1e-4, (m, r)


def _inversions(published: list[Envelope], delivered: list[Envelope]) -> int:
    """Pairs of one key's events delivered against the order they were published in."""
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
