"""Moderation and live as real processes: what moderation decides, live enforces."""

from __future__ import annotations

import json
import tomllib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from laotie_common.auth import Role
from laotie_common.settings import ServiceSettings
from laotie_evening.client import LiveApi
from laotie_moderation.policy import DEFAULT_POLICY

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    header,
    keyed_records,
    read_topic,
    running_service,
)

RULE_FILE = tomllib.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))


@dataclass
class Stack:
    api: LiveApi
    moderation: httpx.AsyncClient
    live_process: ServiceProcess
    moderation_process: ServiceProcess


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    async with (
        running_service("laotie_live", infra.kafka_bootstrap, infra.database_url) as live,
        running_service(
            "laotie_moderation", infra.kafka_bootstrap, infra.database_url
        ) as moderation,
        httpx.AsyncClient(base_url=live.url, timeout=30) as live_http,
        httpx.AsyncClient(base_url=moderation.url, timeout=30) as mod_http,
    ):
        yield Stack(LiveApi(live_http, settings), mod_http, live, moderation)


def _staff(api: LiveApi) -> dict[str, str]:
    return api.auth(Role.REVIEWER, "rev-1")


async def _replay(
    bootstrap: str, records: list[ConsumerRecord[bytes, bytes]]
) -> list[tuple[TopicPartition, int]]:
    """Each record again as it was, then once more under a new ``ce_id`` (the same fact as a
    new event); returns where each copy landed (topic-partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    landed = []
    try:
        for record in records:
            fresh = [
                (k, str(uuid.uuid4()).encode() if k == "ce_id" else v) for k, v in record.headers
            ]
            for headers in (list(record.headers), fresh):
                sent = await producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=headers
                )
                landed.append((TopicPartition(sent.topic, sent.partition), sent.offset))
    finally:
        await producer.stop()
    return landed


async def _consumed(
    bootstrap: str, group: str, landed: list[tuple[TopicPartition, int]], what: str
) -> None:
    """Wait until ``group`` has committed offsets past every record in ``landed``: a
    consumer commits a record's offset only once it has applied (or skipped) it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        needed: dict[TopicPartition, int] = {}
        for tp, offset in landed:
            needed[tp] = max(needed.get(tp, 0), offset + 1)

        async def caught_up() -> dict[TopicPartition, int] | None:
            committed = await admin.list_consumer_group_offsets(group, partitions=list(needed))
            at = {tp: committed[tp].offset if tp in committed else -1 for tp in needed}
            return at if all(at[tp] >= end for tp, end in needed.items()) else None

        await eventually(caught_up, timeout=30, what=f"{what} ({group}) to commit {needed}")
    finally:
        await admin.close()


async def _rows(infra: Infra, process: ServiceProcess, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": process.env_vars["DB_SCHEMA"]}
    )
    try:
        return [tuple(r.values()) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def test_a_diverting_anchor_is_penalised_and_live_closes_the_session(
    stack: Stack, infra: Infra
) -> None:
    api, moderation = stack.api, stack.moderation
    anchor, room_id, session_id = await api.anchor_live()
    me = api.auth(Role.ANCHOR, anchor)
    comment = (
        await api.call(
            "POST",
            f"/sessions/{session_id}/comments",
            me,
            {"text": "想要的加我 V❤信 ：shop_2026 私聊"},
            201,
        )
    ).json()
    assert comment["author_role"] == "owner"

    async def decided() -> dict[str, Any] | None:
        r = await moderation.get(f"/subjects/anchor/{anchor}", headers=_staff(api))
        return r.json() if r.status_code == 200 and r.json()["penalties"] else None

    # Other moderation processes on this shared broker may decide the comment too: wait for
    # this one's decision, not just for live to act on some decision.
    subject = await eventually(decided, timeout=60, what="moderation to decide the comment")

    async def closed() -> dict[str, Any] | None:
        session = (await api.client.get(f"/sessions/{session_id}")).json()
        return session if session["ended_at"] else None

    session = await eventually(closed, timeout=60, what="live to close the session")
    assert session["end_reason"] == "force_closed"
    refused = await api.call("POST", f"/rooms/{room_id}/sessions", me, {}, 409)
    assert refused.json()["reason"] == "live_banned"

    async def all_comments() -> list[dict[str, Any]]:
        path = f"/sessions/{session_id}/comments?include_hidden=true"
        return list((await api.call("GET", path, _staff(api), expect=200)).json())

    async def hidden() -> list[dict[str, Any]] | None:
        shown = await all_comments()
        return shown if all(c["hidden_at"] for c in shown) else None

    comments = await eventually(hidden, timeout=60, what="live to hide the anchor's comment")
    assert [c["comment_id"] for c in comments] == [comment["comment_id"]]

    assert [v["code"] for v in subject["violations"]] == ["diversion"]
    violation = subject["violations"][0]
    assert violation["evidence"]["source_id"] == comment["comment_id"]
    assert violation["evidence"]["matched_rule"].startswith("diversion@7")
    assert violation["policy_version"].startswith("thunder-plan/")
    # The first diversion's step, for an anchor (the shop-only measures do not apply).
    assert sorted((m["kind"], m["amount_fen"]) for m in subject["current_measures"]) == [
        ("live_ban", None),
        ("penalty_fee", 30000),
        ("warning", None),
    ]
    assert [(p["points"], p["points_status"]) for p in subject["penalties"]] == [(5, "pending")]
    assert subject["points"]["pending"] == 5, "points wait for the appeal window"
    assert subject["points"]["booked"] == 0
    penalty_id = subject["penalties"][0]["penalty_id"]
    applied_at = datetime.fromisoformat(subject["penalties"][0]["applied_at"])
    (ban_until,) = [
        datetime.fromisoformat(m["until"])
        for m in subject["current_measures"]
        if m["kind"] == "live_ban"
    ]
    assert ban_until - applied_at == timedelta(days=3)

    # Replays change nothing: moderation gets the anchor's comment again (the same record,
    # and the same fact under a new id); live gets moderation's decisions again likewise.
    def is_type(r: ConsumerRecord[bytes, bytes], ce_type: str) -> bool:
        return header(r, "ce_type") == ce_type

    comment_records = [
        r
        for r in await read_topic(infra.kafka_bootstrap, "live.comment", expect=0, timeout=10)
        if r.key == session_id.encode() and is_type(r, "live.comment.posted")
    ]

    async def moderation_outbox() -> list[Any]:
        sql = "SELECT event_id, event_type FROM outbox WHERE key = $1 ORDER BY id"
        return await _rows(infra, stack.moderation_process, sql, anchor)

    emitted = await moderation_outbox()
    assert [t for _, t in emitted] == [
        "moderation.violation.detected",
        "moderation.penalty.applied",
    ]
    # The topics are shared: other moderation processes on this broker may decide the same
    # comment too (their penalties get other ids). Replay what this moderation decided.
    ours = {event_id for event_id, _ in emitted}

    async def published() -> tuple[list[ConsumerRecord[bytes, bytes]], dict[str, set[str]]]:
        """The anchor's decisions on Kafka, and the violation and penalty ids among them."""
        records = [
            r
            for topic in ("moderation.violation", "moderation.penalty")
            for r in await read_topic(infra.kafka_bootstrap, topic, expect=0, timeout=10)
            if r.key == anchor.encode()
        ]
        ids: dict[str, set[str]] = {"violation_id": set(), "penalty_id": set()}
        for r in records:
            ce_type = header(r, "ce_type")
            if ce_type in ("moderation.violation.detected", "moderation.penalty.applied"):
                field = "violation_id" if ce_type.startswith("moderation.v") else "penalty_id"
                ids[field].add(json.loads(r.value)[field])
        return records, ids

    async def relayed() -> list[ConsumerRecord[bytes, bytes]] | None:
        records, _ = await published()
        found = [r for r in records if header(r, "ce_id") in ours]
        return found if len(found) >= len(ours) else None

    decisions = await eventually(relayed, timeout=30, what="moderation's decisions on Kafka")
    assert [header(r, "ce_type") for r in comment_records] == ["live.comment.posted"]
    assert sorted(header(r, "ce_type") for r in decisions) == [
        "moderation.penalty.applied",
        "moderation.violation.detected",
    ]

    # Live hid the comment for the first decision on it that it read: this moderation's, or
    # another one's on this shared broker.
    _, ids = await published()
    assert violation["violation_id"] in ids["violation_id"]
    assert comments[0]["hidden_violation_id"] in ids["violation_id"]
    live_group = stack.live_process.env_vars["CONSUMER_GROUP"]
    await _consumed(
        infra.kafka_bootstrap,
        live_group,
        [(TopicPartition(r.topic, r.partition), r.offset) for r in decisions],
        "live to apply moderation's decisions",
    )

    async def live_effects() -> tuple[Counter[str], list[Any]]:
        sql = "SELECT event_type FROM outbox WHERE key = ANY($1::text[])"
        events = await _rows(infra, stack.live_process, sql, [room_id, session_id])
        bans = await _rows(
            infra,
            stack.live_process,
            "SELECT penalty_id, subject_id, until, revoked_at FROM live_bans WHERE penalty_id = $1",
            penalty_id,
        )
        return Counter(e for (e,) in events), bans

    expected_live = (
        Counter(
            [
                "live.room.created",
                "live.room.session_started",
                "live.comment.posted",
                "live.comment.hidden",
                "live.room.force_closed",
                "live.room.session_ended",
            ]
        ),
        [(penalty_id, anchor, ban_until, None)],
    )
    assert await live_effects() == expected_live

    to_moderation = await _replay(infra.kafka_bootstrap, comment_records)
    to_live = await _replay(infra.kafka_bootstrap, decisions)
    assert (len(to_moderation), len(to_live)) == (2, 4)
    await _consumed(
        infra.kafka_bootstrap,
        stack.moderation_process.env_vars["CONSUMER_GROUP"],
        to_moderation,
        "moderation to consume the replayed comment",
    )
    await _consumed(
        infra.kafka_bootstrap,
        live_group,
        to_live,
        "live to consume the replayed decisions",
    )

    again = (await moderation.get(f"/subjects/anchor/{anchor}", headers=_staff(api))).json()
    assert again == subject, "moderation decided nothing new"
    assert await moderation_outbox() == emitted, "moderation emitted nothing new"
    assert await all_comments() == comments, "the comment stays hidden as it was"
    assert (await api.client.get(f"/sessions/{session_id}")).json() == session
    assert await live_effects() == expected_live, "live applied nothing twice"
    # Every ban live holds on the anchor comes from a penalty some moderation published
    # (read after live consumed the replays), never from a replay under a new id.
    _, ids = await published()
    bans = await _rows(
        infra,
        stack.live_process,
        "SELECT penalty_id FROM live_bans WHERE subject_id = $1",
        anchor,
    )
    assert penalty_id in ids["penalty_id"]
    assert {b for (b,) in bans} <= ids["penalty_id"]


async def test_a_diverting_viewer_is_hidden_and_nobody_is_penalised(stack: Stack) -> None:
    api, moderation = stack.api, stack.moderation
    anchor, _, session_id = await api.anchor_live()
    viewer_id = f"viewer-{uuid.uuid4().hex[:6]}"
    viewer = api.auth(Role.BUYER, viewer_id)
    bad = (
        await api.call(
            "POST",
            f"/sessions/{session_id}/comments",
            viewer,
            {"text": "加我薇信 一三八一二三四五六七八 便宜"},
            201,
        )
    ).json()
    good = (
        await api.call(
            "POST", f"/sessions/{session_id}/comments", viewer, {"text": "主播这件V领的还有吗"}, 201
        )
    ).json()

    async def hidden() -> bool:
        shown = (
            await api.call("GET", f"/sessions/{session_id}/comments", viewer, expect=200)
        ).json()
        return [c["comment_id"] for c in shown] == [good["comment_id"]]

    await eventually(hidden, timeout=30, what="the viewer's diverting comment to be hidden")
    session = (await api.client.get(f"/sessions/{session_id}")).json()
    assert session["ended_at"] is None, "the anchor is not punished for a viewer"
    owner = await moderation.get(f"/subjects/anchor/{anchor}", headers=_staff(api))
    assert owner.status_code == 404
    subject = (await moderation.get(f"/subjects/viewer/{viewer_id}", headers=_staff(api))).json()
    assert [v["code"] for v in subject["violations"]] == ["diversion_by_viewer"]
    assert subject["violations"][0]["evidence"]["source_id"] == bad["comment_id"]
    assert subject["penalties"] == []


async def test_the_active_rule_set_is_published(stack: Stack) -> None:
    source = RULE_FILE  # the versioned rule file the service was started with
    rules = (await stack.moderation.get("/rules")).json()
    assert rules["version"] == source["version"]
    assert sorted(rules["codes"]) == sorted(source["codes"])
    assert rules["codes"]["counterfeit"]["ladder"][0]["points"] == 100
    assert [s["points"] for s in rules["codes"]["diversion"]["ladder"]] == [5, 20]


async def test_a_subjects_history_is_for_staff_and_itself_with_contacts_masked(
    stack: Stack, infra: Infra
) -> None:
    """Regression (issue 18, rows 5 and 6): any role read any subject's violations with the
    evidence text, and a planted phone number went out in moderation.violation.detected.
    Now strangers are refused, the subject sees its history with contacts masked, staff see
    it whole, pages are bounded, and the event carries the masked text."""
    api, moderation = stack.api, stack.moderation
    anchor, _, session_id = await api.anchor_live()
    phone = "13912345678"
    me = api.auth(Role.ANCHOR, anchor)
    text = f"便宜 加我电话 {phone} 私聊"
    await api.call("POST", f"/sessions/{session_id}/comments", me, {"text": text}, 201)
    path = f"/subjects/anchor/{anchor}"

    async def decided() -> dict[str, Any] | None:
        r = await moderation.get(path, headers=_staff(api))
        return r.json() if r.status_code == 200 and r.json()["violations"] else None

    staff_view = await eventually(decided, timeout=30, what="the violation to be decided")
    assert phone in json.dumps(staff_view, ensure_ascii=False), "staff see the evidence whole"
    for stranger in (api.auth(Role.BUYER, "b-1"), api.auth(Role.ANCHOR, "someone-else")):
        assert (await moderation.get(path, headers=stranger)).status_code == 403
    own = await moderation.get(path, headers=me)
    assert own.status_code == 200
    assert phone not in own.text, "the subject sees its history without contact details"
    assert own.json()["violations"], "but sees it"
    assert (await moderation.get(path, headers=me, params={"limit": 201})).status_code == 422
    records = await keyed_records(
        infra.kafka_bootstrap,
        "moderation.violation",
        anchor,
        until=lambda types: "moderation.violation.detected" in types,
    )
    events = [json.loads(r.value) for r in records if header(r, "ce_type").endswith("detected")]
    assert events
    for event in events:
        assert phone not in json.dumps(event, ensure_ascii=False), "the event carries no phone"
        assert event["evidence"]["text"].startswith("便宜"), "but the rest of the evidence"


async def test_a_week_of_late_shipments_through_the_stream_is_one_violation(
    stack: Stack, infra: Infra
) -> None:
    """Issue 19, item 4, end to end: a shop's paid orders and their overdue shipments come
    over ``orders.order`` (the deadlines of a batch written in one statement), the sweep
    judges the week (one that has ended), and the shop gets one late-shipment violation for
    6 late orders."""
    from datetime import UTC

    from laotie_contracts import orders as ev

    from tests.integration.kit import order_facts, publish

    shop = f"shop-late-{uuid.uuid4().hex[:6]}"
    ship_by = datetime.now(UTC) - timedelta(days=9)
    via = ev.Attribution(channel="shop_page")
    facts = [order_facts(shop, f"{shop}-{n}", f"b{n}", 100, ship_by, via) for n in range(10)]
    await publish(
        infra.kafka_bootstrap, *(ev.OrderPaid(**f, status="paid", ship_by=ship_by) for f in facts)
    )
    await publish(
        infra.kafka_bootstrap,
        *(ev.ShipmentOverdue(**f, status="paid", ship_by=ship_by) for f in facts[:6]),
    )

    async def decided() -> list[asyncpg.Record] | None:
        rows = await stack.moderation_process.fetch(
            "SELECT code, evidence FROM violations WHERE subject_id = $1", shop
        )
        judged = await stack.moderation_process.fetch(
            "SELECT count(*) AS n FROM shipments_due WHERE shop_id = $1 AND late AND judged", shop
        )
        return rows if rows and judged[0]["n"] == 6 else None

    rows = await eventually(decided, timeout=30, what="the week judged")
    assert [r["code"] for r in rows] == ["late_shipment"]
    assert json.loads(rows[0]["evidence"])["text"].endswith("shipped late")
    due = await stack.moderation_process.fetch(
        "SELECT count(*) AS n FROM shipments_due WHERE shop_id = $1", shop
    )
    assert due[0]["n"] == 10, "every paid order's deadline noted"


async def test_an_anchors_profile_with_a_contact_is_hidden_and_the_anchor_penalised(
    stack: Stack,
) -> None:
    """Issue 19, item 10: profiles, where sellers also post WeChat ids, were never scanned.
    Now an anchor's profile with an obfuscated contact is a diversion (the anchor penalised)
    and that revision is hidden; a clean new revision shows, and stays shown."""
    api, moderation = stack.api, stack.moderation
    anchor = f"anchor-profile-{uuid.uuid4().hex[:6]}"
    me = api.auth(Role.ANCHOR, anchor)
    path = f"/profiles/anchor/{anchor}"
    await api.call("PUT", path, me, {"text": "每晚8点开播 加薇信 mm520520 领福利"}, 200)
    stranger = api.auth(Role.ANCHOR, "someone-else")
    await api.call("PUT", path, stranger, {"text": "hijacked"}, 403)
    other_kind = f"/profiles/creator/{anchor}"
    refused = await api.call("PUT", other_kind, me, {"text": "a second history"}, 409)
    assert refused.json()["reason"] == "other_kind", "one profile per identity"

    async def penalised() -> dict[str, Any] | None:
        r = await moderation.get(f"/subjects/anchor/{anchor}", headers=_staff(api))
        return r.json() if r.status_code == 200 and r.json()["penalties"] else None

    subject = await eventually(penalised, timeout=60, what="moderation to decide the profile")
    assert [p["code"] for p in subject["penalties"]] == ["diversion"]

    async def hidden() -> bool:
        return bool((await api.client.get(path)).json()["hidden"])

    await eventually(hidden, timeout=60, what="live to hide the profile")
    assert (await api.client.get(path)).json()["text"] == ""
    await api.call("PUT", path, me, {"text": "每晚8点开播 关注不迷路"}, 200)
    shown = (await api.client.get(path)).json()
    assert (shown["hidden"], shown["text"]) == (False, "每晚8点开播 关注不迷路")
