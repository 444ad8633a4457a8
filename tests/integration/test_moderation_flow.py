"""Moderation and live as real processes: what moderation decides, live enforces."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from laotie_common.auth import Role
from laotie_common.envelope import Envelope
from laotie_common.settings import ServiceSettings
from laotie_dev.client import LiveApi

from tests.integration.infra import Infra
from tests.integration.kit import (
    eventually,
    header,
    read_topic,
    republish,
    running_service,
)


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[tuple[LiveApi, httpx.AsyncClient]]:
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
        yield LiveApi(live_http, settings), mod_http


def _staff(api: LiveApi) -> dict[str, str]:
    return api.auth(Role.REVIEWER, "rev-1")


async def test_a_diverting_anchor_is_penalised_and_live_closes_the_session(
    stack: tuple[LiveApi, httpx.AsyncClient], infra: Infra
) -> None:
    api, moderation = stack
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

    async def closed() -> dict[str, Any] | None:
        session = (await api.client.get(f"/sessions/{session_id}")).json()
        return session if session["ended_at"] else None

    session = await eventually(closed, timeout=30, what="live to close the session")
    assert session["end_reason"] == "force_closed"
    refused = await api.call("POST", f"/rooms/{room_id}/sessions", me, {}, 409)
    assert refused.json()["reason"] == "live_banned"

    subject = (await moderation.get(f"/subjects/anchor/{anchor}", headers=_staff(api))).json()
    assert [v["code"] for v in subject["violations"]] == ["diversion"]
    violation = subject["violations"][0]
    assert violation["evidence"]["source_id"] == comment["comment_id"]
    assert violation["evidence"]["matched_rule"].startswith("diversion@1")
    assert violation["policy_version"].startswith("thunder-plan/")
    kinds = {m["kind"] for m in subject["current_measures"]}
    assert {"live_ban", "warning", "penalty_fee"} <= kinds
    assert subject["points"]["pending"] == 5, "points wait for the appeal window"

    # Replays change nothing: the same records again, and the same facts under new ids.
    records = [
        r
        for r in await read_topic(infra.kafka_bootstrap, "live.comment", expect=0, timeout=5)
        if r.key == session_id.encode()
    ]

    envelopes = [
        Envelope.from_record(r.key, r.value, r.headers)
        for r in records
        if header(r, "ce_type") == "live.comment.posted"
    ]
    await republish(infra.kafka_bootstrap, envelopes)
    fresh = [Envelope(**{**e.__dict__, "id": str(uuid.uuid4())}) for e in envelopes]
    await republish(infra.kafka_bootstrap, fresh)
    marker_anchor, _, marker_session = await api.anchor_live()
    await api.call(
        "POST",
        f"/sessions/{marker_session}/comments",
        api.auth(Role.ANCHOR, marker_anchor),
        {"text": "加我vx abc999"},
        201,
    )

    async def marker_seen() -> bool:
        r = await moderation.get(f"/subjects/anchor/{marker_anchor}", headers=_staff(api))
        return r.status_code == 200

    await eventually(marker_seen, timeout=30, what="moderation to reach the marker")
    again = (await moderation.get(f"/subjects/anchor/{anchor}", headers=_staff(api))).json()
    assert len(again["violations"]) == 1
    assert len(again["penalties"]) == 1


async def test_a_diverting_viewer_is_hidden_and_nobody_is_penalised(
    stack: tuple[LiveApi, httpx.AsyncClient],
) -> None:
    api, moderation = stack
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


async def test_the_active_rule_set_is_published(
    stack: tuple[LiveApi, httpx.AsyncClient],
) -> None:
    _, moderation = stack
    rules = (await moderation.get("/rules")).json()
    assert rules["version"].startswith("thunder-plan/")
    assert rules["codes"]["counterfeit"]["ladder"][0]["points"] == 100
