"""The live service as a real process on real Kafka and Postgres."""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from laotie_common.auth import Role
from laotie_contracts import orders as ev
from laotie_contracts.moderation import Evidence, Measure, PenaltyApplied, ViolationDetected
from laotie_evening.client import LiveApi

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    header,
    keyed_records,
    publish,
    republish,
    service_api,
)


@pytest.fixture(scope="module")
async def live(infra: Infra) -> AsyncIterator[tuple[LiveApi, ServiceProcess]]:
    async with service_api(
        "laotie_live", infra.kafka_bootstrap, infra.database_url, LiveApi, timeout=60
    ) as running:
        yield running


def _order(
    room_id: str, buyer: str, total: int, event: type[ev.OrderFacts], **extra: Any
) -> ev.OrderFacts:
    now = datetime.now(UTC)
    facts = dict(
        order_id=extra.pop("order_id"),
        shop_id="s1",
        shop_kind="merchant",
        buyer_id=buyer,
        product_id="p1",
        sku_id="k1",
        quantity=1,
        unit_price_fen=total,
        total_fen=total,
        attribution=ev.Attribution(channel="live_room", room_id=room_id, anchor_id="a"),
        placed_at=now,
        occurred_at=now,
    )
    facts.update(extra)
    return event(**facts)


async def test_stats_equal_the_sum_of_order_events_even_when_replayed(
    live: tuple[LiveApi, ServiceProcess], infra: Infra
) -> None:
    api, process = live
    _, room_id, session_id = await api.anchor_live()
    events: list[ev.OrderFacts] = []
    expected_gmv = expected_refunds = 0
    paying_buyers: set[str] = set()
    for i in range(12):
        oid, buyer, total = f"o-{uuid.uuid4().hex[:8]}", f"b{i % 7}", 1000 + 100 * i
        events.append(
            _order(
                room_id,
                buyer,
                total,
                ev.OrderPlaced,
                order_id=oid,
                status="placed",
                payment_due_at=datetime.now(UTC),
            )
        )
        if i % 4 != 3:  # three stay unpaid
            events.append(
                _order(
                    room_id,
                    buyer,
                    total,
                    ev.OrderPaid,
                    order_id=oid,
                    status="paid",
                    ship_by=datetime.now(UTC),
                )
            )
            expected_gmv += total
            paying_buyers.add(buyer)
        if i == 0:
            events.append(
                _order(
                    room_id,
                    buyer,
                    total,
                    ev.OrderRefunded,
                    order_id=oid,
                    status="paid",
                    refunded_fen=400,
                    refund_id="r1",
                    refund_kind="refund_only",
                    refund_reason="quality",
                    refund_amount_fen=400,
                )
            )
            expected_refunds += 400
    elsewhere = _order(
        "another-room",
        "b1",
        5555,
        ev.OrderPaid,
        order_id="o-elsewhere",
        status="paid",
        ship_by=datetime.now(UTC),
    )
    envelopes = await publish(infra.kafka_bootstrap, *events, elsewhere)
    ids = [e.id for e in envelopes]

    async def all_applied() -> bool:
        return await process.applied(ids) == len(ids)

    await eventually(all_applied, what="the order events applied")
    expected = {
        "gmv_fen": expected_gmv,
        "refunded_fen": expected_refunds,
        "net_gmv_fen": expected_gmv - expected_refunds,
        "orders": 9,
        "buyers": len(paying_buyers),
    }
    stats = (await api.client.get(f"/sessions/{session_id}/stats")).json()
    assert {k: stats[k] for k in expected} == expected

    # The same records twice more, and the same facts again under new event ids.
    await republish(infra.kafka_bootstrap, envelopes)
    await republish(infra.kafka_bootstrap, envelopes)
    replayed = await publish(infra.kafka_bootstrap, *events)

    async def replay_applied() -> bool:
        return await process.applied([e.id for e in replayed]) == len(replayed)

    await eventually(replay_applied, what="the replayed facts applied")
    again = (await api.client.get(f"/sessions/{session_id}/stats")).json()
    assert {k: again[k] for k in expected} == expected


async def test_a_live_ban_closes_the_session_and_blocks_restarts_until_it_ends(
    live: tuple[LiveApi, ServiceProcess], infra: Infra
) -> None:
    api, _ = live
    anchor, room_id, session_id = await api.anchor_live()
    until = datetime.now(UTC) + timedelta(seconds=6)
    banned_at = time.monotonic()
    await publish(
        infra.kafka_bootstrap,
        PenaltyApplied(
            penalty_id=f"pen-{uuid.uuid4().hex[:8]}",
            subject_type="anchor",
            subject_id=anchor,
            violation_code="diversion",
            occurred_at=datetime.now(UTC),
            measures=[Measure(kind="live_ban", until=until), Measure(kind="points", points=10)],
        ),
    )

    async def closed() -> dict[str, Any] | None:
        session = (await api.client.get(f"/sessions/{session_id}")).json()
        return session if session["ended_at"] else None

    session = await eventually(closed, timeout=15, what="the session to be force-closed")
    assert session["end_reason"] == "force_closed"
    assert time.monotonic() - banned_at < 10, "closed within seconds"
    me = api.auth(Role.ANCHOR, anchor)
    refused = await api.call("POST", f"/rooms/{room_id}/sessions", me, {}, 409)
    assert refused.json()["reason"] == "live_banned"

    async def allowed_again() -> bool:
        response = await api.call("POST", f"/rooms/{room_id}/sessions", me, {})
        return response.status_code == 201

    await eventually(allowed_again, timeout=20, interval=0.5, what="the ban to expire")
    assert datetime.now(UTC) >= until
    records = await keyed_records(
        infra.kafka_bootstrap,
        "live.room",
        room_id,
        until=lambda types: types[-1:] == ["live.room.session_started"] and len(types) > 3,
    )
    mine = [header(r, "ce_type") for r in records]
    closed_at = mine.index("live.room.force_closed")
    assert mine[closed_at + 1] == "live.room.session_ended"
    assert mine[-1] == "live.room.session_started", "the restart after the ban"
    ended = [
        json.loads(r.value)
        for r in records
        if r.key == room_id.encode() and header(r, "ce_type") == "live.room.session_ended"
    ]
    assert ended[0]["reason"] == "force_closed"


def _product_facts(occurred_at: datetime) -> dict[str, Any]:
    """A merchant's product as orders publishes it, but for its id and status."""
    return dict(
        shop_id="s1",
        shop_kind="merchant",
        title="围巾",
        description="",
        ship_within_hours=48,
        skus=[],
        occurred_at=occurred_at,
    )


async def test_only_active_products_can_be_pinned_and_delisting_unpins(
    live: tuple[LiveApi, ServiceProcess], infra: Infra
) -> None:
    api, process = live
    anchor, _, session_id = await api.anchor_live()
    now = datetime.now(UTC)
    base = _product_facts(now)
    active, delisted = f"p-{uuid.uuid4().hex[:6]}", f"p-{uuid.uuid4().hex[:6]}"
    await publish(
        infra.kafka_bootstrap,
        ev.ProductListed(product_id=active, status="active", **base),
        ev.ProductListed(product_id=delisted, status="active", **base),
        ev.ProductDelisted(
            product_id=delisted,
            status="delisted",
            reason="seller",
            **{**base, "occurred_at": now + timedelta(seconds=1)},
        ),
    )
    me = api.auth(Role.ANCHOR, anchor)

    async def pinned() -> bool:
        r = await api.call("POST", f"/sessions/{session_id}/pins", me, {"product_id": active})
        return r.status_code == 201

    await eventually(pinned, what="the product to be known and pinned")

    async def refused_as_delisted() -> httpx.Response | None:
        r = await api.call("POST", f"/sessions/{session_id}/pins", me, {"product_id": delisted})
        known = r.status_code == 409 and r.json()["reason"] != "product_unknown"
        return r if known else None

    refused = await eventually(refused_as_delisted, what="the delisted product to be known")
    assert refused.status_code == 409
    assert refused.json()["reason"] == "product_not_active"
    assert "delisted" in refused.json()["detail"]
    other = api.auth(Role.ANCHOR, "someone-else")
    await api.call("POST", f"/sessions/{session_id}/pins", other, {"product_id": active}, 403)

    [ban] = await publish(
        infra.kafka_bootstrap,
        ev.ProductDelisted(
            product_id=active,
            status="banned",
            reason="moderation",
            penalty_id="pen-x",
            **{**base, "occurred_at": now + timedelta(seconds=2)},
        ),
    )

    async def unpinned() -> bool:
        session = (await api.client.get(f"/sessions/{session_id}")).json()
        return session["pinned_products"] == []

    try:
        # A fresh consumer group starts at the topics' beginning: after the heavy tests of a
        # full run it first works through their backlog, hence the generous deadline.
        await eventually(unpinned, timeout=90, what="the banned product to be unpinned")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await _ban_diagnosis(process, infra, ban.id)}") from None


async def test_a_pin_racing_a_delisting_never_outlives_it(
    live: tuple[LiveApi, ServiceProcess], infra: Infra
) -> None:
    """The delisting's transaction (here held open by the test, as live's consumer would run
    it) changes the product before a pin commits: the pin must wait for it and be refused,
    not read the old status and leave a pin on a delisted product."""
    api, process = live
    anchor, _, session_id = await api.anchor_live()
    product_id = f"p-{uuid.uuid4().hex[:6]}"
    listed = ev.ProductListed(
        product_id=product_id, status="active", **_product_facts(datetime.now(UTC))
    )
    await publish(infra.kafka_bootstrap, listed)
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": process.env_vars["DB_SCHEMA"]}
    )
    try:

        async def known() -> bool:
            return bool(
                await conn.fetchval("SELECT 1 FROM products WHERE product_id = $1", product_id)
            )

        await eventually(known, what="live to know the product")
        delisting = conn.transaction()
        await delisting.start()
        await conn.execute(
            "UPDATE products SET status = 'delisted' WHERE product_id = $1", product_id
        )
        me = api.auth(Role.ANCHOR, anchor)
        pinning = asyncio.create_task(
            api.call("POST", f"/sessions/{session_id}/pins", me, {"product_id": product_id})
        )
        observer = await asyncpg.connect(infra.database_url)
        try:

            async def pin_waits() -> bool:
                return (
                    bool(
                        await observer.fetchval(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query LIKE '%FROM products%FOR SHARE'"
                        )
                    )
                    or pinning.done()
                )

            await eventually(pin_waits, what="the pin to wait for the delisting or answer")
        finally:
            await observer.close()
        assert not pinning.done(), f"the pin did not wait: {pinning.result().status_code}"
        await delisting.commit()
        refused = await pinning
    finally:
        await conn.close()
    assert refused.status_code == 409, refused.text
    assert refused.json()["reason"] == "product_not_active"


async def _ban_diagnosis(process: ServiceProcess, infra: Infra, event_id: str) -> str:
    """What live knows of a ban it did not act on: its metrics, rows and complaints."""
    metrics = [
        line
        for line in (await process.metrics()).splitlines()
        if line.startswith(
            ("laotie_consumer_lag_records", "laotie_dead_letters_total", "laotie_consumer_records")
        )
        and "orders.product" in line
    ]
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": process.env_vars["DB_SCHEMA"]}
    )
    try:
        seen = await conn.fetch("SELECT * FROM processed_events WHERE event_id = $1", event_id)
        pins = await conn.fetch("SELECT * FROM pins")
    finally:
        await conn.close()
    marks = ('"warning"', '"error"', " WARNING ", " ERROR ")
    complaints = [line for line in process.log().splitlines() if any(m in line for m in marks)]
    return "\n".join(
        [
            f"processed_events for the ban: {[dict(r) for r in seen]}",
            f"pins: {[dict(r) for r in pins]}",
            "live's product-topic metrics:",
            *metrics,
            "live's last warnings and errors:",
            *complaints[-15:],
        ]
    )


@dataclass(frozen=True)
class Report:
    viewer_id: str
    at: datetime
    action: str  # join | leave


@dataclass
class Crowd:
    """Viewer reports generated from known presence intervals: the expected counts come from
    the intervals the generator chose, not from re-reading the reports."""

    start: datetime
    reports: list[Report] = field(default_factory=list)
    # viewer -> [(joined, left or None)], seconds after start, half-open [joined, left)
    present: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)

    def at(self, seconds: int) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def expected(self) -> tuple[int, int, int]:
        """(concurrent, peak, unique): viewers present after the last instant, the most
        present at any one reported instant, viewers that were ever present."""
        intervals = [span for spans in self.present.values() for span in spans]
        joins = sorted(joined for joined, _ in intervals)
        leaves = sorted(left for _, left in intervals if left is not None)

        def present_at(t: int) -> int:  # joined at or before t, minus left at or before t
            return bisect.bisect_right(joins, t) - bisect.bisect_right(leaves, t)

        instants = {int((r.at - self.start).total_seconds()) for r in self.reports}
        peak = max((present_at(t) for t in instants), default=0)
        concurrent = sum(1 for _, left in intervals if left is None)
        unique = sum(1 for spans in self.present.values() if spans)
        return concurrent, peak, unique


def _crowd(rng: random.Random, distinct: int) -> Crowd:
    """About ``distinct`` distinct reports: each viewer joins and leaves a few times (the last
    visit sometimes open), with noise that must change nothing: a second join while present,
    a second leave while away, a leave before the first join, and viewers who only leave."""
    crowd = Crowd(datetime.now(UTC).replace(microsecond=0))
    v = 0
    while len(crowd.reports) < distinct:
        viewer, v = f"v{v}", v + 1
        spans = crowd.present.setdefault(viewer, [])
        if v % 50 == 0:  # never joined: not a viewer
            crowd.reports.append(Report(viewer, crowd.at(rng.randint(0, 900)), "leave"))
            continue
        t = rng.randint(0, 600)
        if rng.random() < 0.1:
            crowd.reports.append(Report(viewer, crowd.at(t), "leave"))
            t += rng.randint(1, 30)
        for _ in range(rng.randint(1, 6)):
            joined = t
            crowd.reports.append(Report(viewer, crowd.at(t), "join"))
            t += rng.randint(2, 120)
            if rng.random() < 0.15:  # a repeated join while present
                crowd.reports.append(
                    Report(viewer, crowd.at(rng.randint(joined + 1, t - 1)), "join")
                )
            if rng.random() >= 0.8:
                spans.append((joined, None))
                break
            spans.append((joined, t))
            crowd.reports.append(Report(viewer, crowd.at(t), "leave"))
            left = t
            t += rng.randint(2, 60)
            if rng.random() < 0.15:  # a repeated leave while away
                crowd.reports.append(
                    Report(viewer, crowd.at(rng.randint(left + 1, t - 1)), "leave")
                )
    assert len(set(crowd.reports)) == len(crowd.reports), "the generator repeats nothing"
    return crowd


async def _post_viewers(api: LiveApi, session_id: str, reports: list[Report]) -> int:
    edge = api.auth(Role.SERVICE, "player-edge")
    response = await api.call(
        "POST",
        f"/sessions/{session_id}/viewers",
        edge,
        {
            "events": [
                {"viewer_id": r.viewer_id, "action": r.action, "at": r.at.isoformat()}
                for r in reports
            ]
        },
        200,
    )
    return int(response.json()["applied"])


async def _viewer_stats(api: LiveApi, session_id: str) -> tuple[int, int, int]:
    stats = (await api.client.get(f"/sessions/{session_id}/stats")).json()
    return stats["concurrent_viewers"], stats["peak_viewers"], stats["unique_viewers"]


async def test_ten_thousand_viewer_reports_with_duplicates_give_exact_counts(
    live: tuple[LiveApi, ServiceProcess],
) -> None:
    api, _ = live
    _, _, session_id = await api.anchor_live()
    rng = random.Random(7)
    crowd = _crowd(rng, 8000)
    unique_reports = crowd.reports
    reports = unique_reports + rng.sample(unique_reports, 10_000 - len(unique_reports))
    rng.shuffle(reports)
    assert len(reports) == 10_000
    expected = crowd.expected()
    batches = [reports[i : i + 1000] for i in range(0, len(reports), 1000)]
    applied = await asyncio.gather(*(_post_viewers(api, session_id, b) for b in batches))
    assert sum(applied) == len(unique_reports), "each distinct report applied once"
    assert await _viewer_stats(api, session_id) == expected
    concurrent, peak, unique = expected
    assert unique > peak > concurrent > 50, f"viewers come and go: {expected}"
    assert unique < len(crowd.present), "some viewers only ever left"


async def test_viewer_counts_follow_the_report_timeline(
    live: tuple[LiveApi, ServiceProcess],
) -> None:
    """Hand-computed cases, each reported in reverse order with every report twice."""
    api, _ = live
    t0 = datetime.now(UTC).replace(microsecond=0)

    def r(viewer: str, second: int, action: str) -> Report:
        return Report(viewer, t0 + timedelta(seconds=second), action)

    cases: dict[str, tuple[list[Report], tuple[int, int, int]]] = {
        # a, b, c present at 2 (peak 3); a leaves and comes back; b and c leave together.
        "worked example": (
            [
                r("a", 0, "join"),
                r("b", 1, "join"),
                r("c", 2, "join"),
                r("a", 3, "leave"),
                r("a", 4, "join"),
                r("b", 5, "leave"),
                r("c", 5, "leave"),
            ],
            (1, 3, 3),
        ),
        "a repeated join or leave changes nothing": (
            [r("a", 0, "join"), r("a", 1, "join"), r("a", 2, "leave"), r("a", 3, "leave")],
            (0, 1, 1),
        ),
        "a leave before any join counts nothing": (
            [r("a", 0, "leave"), r("b", 1, "join")],
            (1, 1, 1),
        ),
        "a swap at one instant does not inflate the peak": (
            [r("a", 0, "join"), r("a", 5, "leave"), r("b", 5, "join")],
            (1, 1, 2),
        ),
    }
    found = {}
    for name, (reports, _) in cases.items():
        _, _, session_id = await api.anchor_live()
        late_and_twice = list(reversed(reports)) * 2
        assert await _post_viewers(api, session_id, late_and_twice) == len(reports), name
        found[name] = await _viewer_stats(api, session_id)
    assert found == {name: counts for name, (_, counts) in cases.items()}


async def test_a_flagged_comment_is_hidden_and_the_hiding_is_an_event(
    live: tuple[LiveApi, ServiceProcess], infra: Infra
) -> None:
    api, _ = live
    _, room_id, session_id = await api.anchor_live()
    viewer = api.auth(Role.BUYER, "viewer-1")
    fine = (
        await api.call(
            "POST", f"/sessions/{session_id}/comments", viewer, {"text": "这个颜色好看"}, 201
        )
    ).json()
    bad = (
        await api.call(
            "POST", f"/sessions/{session_id}/comments", viewer, {"text": "加我薇信 abc123"}, 201
        )
    ).json()
    assert bad["author_role"] == "viewer"
    violation_id = f"vio-{uuid.uuid4().hex[:8]}"
    await publish(
        infra.kafka_bootstrap,
        ViolationDetected(
            violation_id=violation_id,
            subject_type="viewer",
            subject_id="viewer-1",
            code="diversion",
            severity="general",
            degree="light",
            hide_content=True,
            decided_by="rule:diversion@1",
            occurred_at=datetime.now(UTC),
            evidence=Evidence(
                source_type="comment",
                source_id=bad["comment_id"],
                session_id=session_id,
                text=bad["text"],
            ),
        ),
    )

    async def hidden() -> bool:
        shown = (
            await api.call("GET", f"/sessions/{session_id}/comments", viewer, expect=200)
        ).json()
        return [c["comment_id"] for c in shown] == [fine["comment_id"]]

    await eventually(hidden, what="the flagged comment to be hidden")
    mine = await keyed_records(
        infra.kafka_bootstrap,
        "live.comment",
        session_id,
        until=lambda types: "live.comment.hidden" in types,
    )
    assert [header(r, "ce_type") for r in mine] == [
        "live.comment.posted",
        "live.comment.posted",
        "live.comment.hidden",
    ]
    hiding = json.loads(mine[-1].value)
    assert {k: hiding[k] for k in ("comment_id", "room_id", "violation_id", "violation_code")} == {
        "comment_id": bad["comment_id"],
        "room_id": room_id,
        "violation_id": violation_id,
        "violation_code": "diversion",
    }


async def test_ending_a_session_publishes_its_totals(
    live: tuple[LiveApi, ServiceProcess], infra: Infra
) -> None:
    api, _ = live
    anchor, room_id, session_id = await api.anchor_live()
    edge = api.auth(Role.SERVICE, "edge")
    t = datetime.now(UTC)
    await api.call(
        "POST",
        f"/sessions/{session_id}/viewers",
        edge,
        {
            "events": [
                {"viewer_id": "x", "action": "join", "at": t.isoformat()},
                {"viewer_id": "y", "action": "join", "at": t.isoformat()},
            ]
        },
        200,
    )
    await api.call(
        "POST", f"/sessions/{session_id}/end", api.auth(Role.ANCHOR, "intruder"), expect=403
    )
    await api.call("POST", f"/sessions/{session_id}/end", api.auth(Role.ANCHOR, anchor), expect=200)
    await api.call("POST", f"/sessions/{session_id}/end", api.auth(Role.ANCHOR, anchor), expect=409)
    records = await keyed_records(
        infra.kafka_bootstrap,
        "live.room",
        room_id,
        until=lambda types: "live.room.session_ended" in types,
    )
    ended = [
        json.loads(r.value) for r in records if header(r, "ce_type") == "live.room.session_ended"
    ]
    assert ended[0]["totals"]["peak_viewers"] == 2
    assert ended[0]["totals"]["unique_viewers"] == 2
    assert ended[0]["self_broadcast"] is False


async def test_an_operator_ending_a_session_is_in_the_audit_trail(
    live: tuple[LiveApi, ServiceProcess], infra: Infra
) -> None:
    """Regression (issue 18, row 13): an operator's end of a session recorded no actor. Now
    the operator's command is in live's audit_log and on ``live.audit``; the anchor's own
    start of the session is not staff work and is not recorded."""
    api, process = live
    anchor, _, session_id = await api.anchor_live()
    operator = f"ops-{uuid.uuid4().hex[:8]}"
    end = f"/sessions/{session_id}/end"
    await api.call("POST", end, api.auth(Role.OPERATOR, operator), expect=200)
    assert await process.audit_trail(operator) == [
        ("operator", "POST /sessions/{session_id}/end", None, {"session_id": session_id})
    ]
    assert await process.audit_trail(anchor) == []
    records = await keyed_records(infra.kafka_bootstrap, "live.audit", operator, until=bool)
    assert [json.loads(r.value)["target"] for r in records] == [{"session_id": session_id}]


async def test_an_idempotency_key_reused_for_another_shop_is_another_command(
    live: tuple[LiveApi, ServiceProcess],
) -> None:
    """Regression (issue 18, row 11): the key's scope ignored the shop, so a seller replaying
    a key under another shop got the first shop's room back."""
    api, _ = live
    key = {"Idempotency-Key": f"room-{uuid.uuid4().hex[:8]}"}
    body = {"owner_type": "brand", "title": "Brand room"}
    rooms = []
    for shop in ("shop-a", "shop-b", "shop-a"):
        headers = {**api.auth(Role.SELLER, "one-seller", shop_id=shop), **key}
        rooms.append((await api.call("POST", "/rooms", headers, body, 201)).json())
    assert [r["shop_id"] for r in rooms] == ["shop-a", "shop-b", "shop-a"]
    assert rooms[0]["room_id"] != rooms[1]["room_id"], "another shop: another room"
    assert rooms[2]["room_id"] == rooms[0]["room_id"], "the same shop: the first answer again"
