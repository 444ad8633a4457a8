"""The Thunder Plan's ladder, points, closure and appeals, on a real Postgres schema."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from laotie_common.auth import Principal, Role
from laotie_contracts.moderation import Evidence
from laotie_moderation import usecases
from laotie_moderation.bootstrap import Settings, build
from laotie_moderation.policy import load_policy
from laotie_moderation.usecases import Subject, Tx

from tests.integration.infra import Infra

POLICY = load_policy()
REVIEWER = Principal("rev-1", Role.REVIEWER)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def moderation_db(infra: Infra) -> AsyncIterator[tuple[asyncpg.Pool, Clock]]:
    schema = f"moderation_{uuid.uuid4().hex[:8]}"
    await build(
        Settings(
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap,
            db_schema=schema,
        )
    ).migrate()
    pool = await asyncpg.create_pool(
        infra.database_url, min_size=1, max_size=4, server_settings={"search_path": schema}
    )
    assert pool is not None
    yield pool, Clock()
    await pool.close()


def runner(pool: asyncpg.Pool, clock: Clock) -> Callable[..., Awaitable[Any]]:
    async def run(step: Callable[[Tx], Awaitable[Any]]) -> Any:
        async with pool.acquire() as conn, conn.transaction():
            return await step(Tx(conn, clock.now, POLICY))

    return run


def overdue(order_id: str) -> Evidence:
    return Evidence(source_type="order", source_id=order_id, text="not shipped in time")


async def events(pool: asyncpg.Pool, prefix: str = "") -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT event_type, payload FROM outbox ORDER BY id")
    return [
        {"type": r["event_type"], **json.loads(bytes(r["payload"]))}
        for r in rows
        if r["event_type"].startswith(prefix)
    ]


async def test_repeats_within_the_window_escalate_general_to_serious(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    shop = Subject("shop", "shop-late", "shop-late")
    decided = []
    for n in range(4):
        decided.append(
            await run(
                lambda tx, n=n: usecases.record_violation(
                    tx,
                    code="late_shipment",
                    subject=shop,
                    evidence=overdue(f"o{n}"),
                    decided_by="rule:late_shipment",
                )
            )
        )
        clock.advance(days=1)
    again = await run(
        lambda tx: usecases.record_violation(
            tx,
            code="late_shipment",
            subject=shop,
            evidence=overdue("o0"),
            decided_by="rule:late_shipment",
        )
    )
    assert again is None, "the same fact decides nothing twice"
    violations = await events(pool, "moderation.violation")
    assert [(v["severity"], v["degree"]) for v in violations] == [
        ("general", "light"),
        ("general", "light"),
        ("serious", "serious"),
        ("serious", "serious"),
    ]
    penalties = await events(pool, "moderation.penalty.applied")
    kinds = [[m["kind"] for m in p["measures"]] for p in penalties]
    assert kinds == [["warning"], ["warning"], ["traffic_restriction"], ["traffic_restriction"]]

    clock.advance(days=40)  # outside the window: back to the first step
    await run(
        lambda tx: usecases.record_violation(
            tx,
            code="late_shipment",
            subject=shop,
            evidence=overdue("o-later"),
            decided_by="rule:late_shipment",
        )
    )
    assert (await events(pool, "moderation.violation"))[-1]["severity"] == "general"


async def test_points_wait_for_the_appeal_window_and_100_points_close_for_good(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    shop = Subject("shop", "shop-fake", "shop-fake")
    decided = await run(
        lambda tx: usecases.record_violation(
            tx,
            code="counterfeit",
            subject=shop,
            decided_by="reviewer:r1",
            evidence=Evidence(source_type="report", source_id="rep-1", text="fake"),
        )
    )
    assert decided is not None
    applied = (await events(pool, "moderation.penalty.applied"))[0]
    assert {m["kind"] for m in applied["measures"]} >= {"delist_products", "settlement_hold"}
    assert any(
        m["kind"] == "delist_products" and m["product_ids"] == [] for m in applied["measures"]
    ), "all goods: no product list"

    async def view() -> dict[str, Any]:
        async with pool.acquire() as conn:
            return await usecases.subject_view(conn, POLICY, "shop", "shop-fake", clock.now)

    year = usecases.calendar_year(POLICY, clock.now)
    assert (await view())["points"] == {"year": year, "booked": 0, "pending": 100}
    assert await run(usecases.book_due_points) == 0, "not before the appeal window lapses"
    clock.advance(days=7, seconds=1)
    assert await run(usecases.book_due_points) == 1
    booked = await events(pool, "moderation.penalty.points_booked")
    assert booked[0]["year_total"] == 100
    closure = (await events(pool, "moderation.penalty.applied"))[-1]
    assert closure["violation_code"] == "points_closure"
    assert [m["kind"] for m in closure["measures"]] == ["close"]
    subject = await view()
    assert subject["closed"] is True
    assert subject["points"]["booked"] == 100


async def test_totals_under_100_start_again_on_1_january_shanghai(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    anchor = Subject("anchor", "anchor-year")
    clock.now = datetime(2026, 12, 31, 12, tzinfo=UTC)  # 20:00 in Shanghai, still 2026
    await run(
        lambda tx: usecases.record_violation(
            tx,
            code="diversion",
            subject=anchor,
            decided_by="rule",
            evidence=Evidence(source_type="comment", source_id="c-1", text="vx"),
        )
    )
    clock.now = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)  # 23:30 Shanghai
    await run(
        lambda tx: usecases.record_violation(
            tx,
            code="diversion",
            subject=anchor,
            decided_by="rule",
            evidence=Evidence(source_type="comment", source_id="c-2", text="vx"),
        )
    )
    clock.now = datetime(2027, 1, 20, tzinfo=UTC)
    await run(usecases.book_due_points)
    booked = await events(pool, "moderation.penalty.points_booked")
    assert [(b["year"], b["year_total"]) for b in booked] == [(2027, 5), (2027, 25)]
    assert usecases.calendar_year(POLICY, datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == 2027


async def test_an_upheld_appeal_revokes_measures_and_pending_points(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    anchor = Subject("anchor", "anchor-appeal")
    _, penalty_id = await run(
        lambda tx: usecases.record_violation(
            tx,
            code="diversion",
            subject=anchor,
            decided_by="rule",
            evidence=Evidence(source_type="comment", source_id="c-9", text="加我vx"),
        )
    )
    me = Principal("anchor-appeal", Role.ANCHOR)
    someone = Principal("anchor-other", Role.ANCHOR)
    with pytest.raises(Exception, match="no penalty"):
        await run(lambda tx: usecases.file_appeal(tx, someone, penalty_id, "not me"))
    appeal = await run(lambda tx: usecases.file_appeal(tx, me, penalty_id, "it was a quote"))
    clock.advance(days=8)
    assert await run(usecases.book_due_points) == 0, "a pending appeal holds the points"
    await run(lambda tx: usecases.decide_appeal(tx, REVIEWER, appeal["appeal_id"], True, "ok"))
    revoked = await events(pool, "moderation.penalty.revoked")
    assert [r["penalty_id"] for r in revoked] == [penalty_id]
    async with pool.acquire() as conn:
        view = await usecases.subject_view(conn, POLICY, "anchor", "anchor-appeal", clock.now)
    assert view["current_measures"] == []
    assert view["points"]["pending"] == 0
    assert view["penalties"][0]["points_status"] == "cancelled"


async def test_a_late_or_second_appeal_is_refused(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    shop = Subject("shop", "shop-a", "shop-a")
    _, penalty_id = await run(
        lambda tx: usecases.record_violation(
            tx,
            code="false_advertising",
            subject=shop,
            decided_by="rule",
            step_override=1,
            evidence=Evidence(source_type="product", source_id="p-1", text="全网最低"),
        )
    )
    seller = Principal("u", Role.SELLER, shop_id="shop-a")
    clock.advance(days=8)
    with pytest.raises(Exception, match="appeal window closed"):
        await run(lambda tx: usecases.file_appeal(tx, seller, penalty_id, "late"))
