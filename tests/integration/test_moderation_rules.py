"""The Thunder Plan's ladder, points, closure and appeals, on a real Postgres schema."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from laotie_common.auth import Principal, Role
from laotie_common.problems import Problem
from laotie_contracts.moderation import Evidence
from laotie_moderation.bootstrap import Settings, build
from laotie_moderation.domain.decisions import Subject, appeal_deadline
from laotie_moderation.domain.detection import text_version
from laotie_moderation.policy import load_policy
from laotie_moderation.queries import subject_view
from laotie_moderation.usecases import Tx
from laotie_moderation.usecases.appeals import decide_appeal, file_appeal
from laotie_moderation.usecases.penalties import (
    book_due_points,
    expire_penalties,
    record_violation,
)

from tests.integration.infra import Infra

POLICY = load_policy()
REVIEWER = Principal("rev-1", Role.REVIEWER)
SHANGHAI = ZoneInfo("Asia/Shanghai")


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
                lambda tx, n=n: record_violation(
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
        lambda tx: record_violation(
            tx,
            code="late_shipment",
            subject=shop,
            evidence=overdue("o0"),
            decided_by="rule:late_shipment",
        )
    )
    assert again is None, "the same fact decides nothing twice"
    assert [d is not None and d[1] is not None for d in decided] == [True] * 4
    assert len({d[0] for d in decided}) == 4, "four facts, four violations"
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
        lambda tx: record_violation(
            tx,
            code="late_shipment",
            subject=shop,
            evidence=overdue("o-later"),
            decided_by="rule:late_shipment",
        )
    )
    later = await events(pool, "moderation.violation")
    assert [(v["severity"], v["degree"]) for v in later[4:]] == [("general", "light")]
    later_penalties = await events(pool, "moderation.penalty.applied")
    assert [m["kind"] for m in later_penalties[-1]["measures"]] == ["warning"]
    assert len(later_penalties) == 5


async def test_points_wait_for_the_appeal_window_and_100_points_close_for_good(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    decided = await run(_counterfeit(Subject("shop", "shop-fake", "shop-fake"), "rep-1"))
    assert decided is not None
    applied = (await events(pool, "moderation.penalty.applied"))[0]
    assert applied["penalty_id"] == decided[1]
    deadline = appeal_deadline(POLICY, datetime.fromisoformat(applied["occurred_at"]))
    assert [m["kind"] for m in applied["measures"]] == [
        "delist_products",
        "settlement_hold",
        "listing_ban",
        "penalty_fee",
    ]
    assert [m["amount_fen"] for m in applied["measures"]] == [None, None, None, 700000]
    assert any(
        m["kind"] == "delist_products" and m["product_ids"] == [] for m in applied["measures"]
    ), "all goods: no product list"

    async def view() -> dict[str, Any]:
        async with pool.acquire() as conn:
            return await subject_view(conn, POLICY, "shop", "shop-fake", clock.now)

    year = clock.now.astimezone(SHANGHAI).year
    assert (await view())["points"] == {"year": year, "booked": 0, "pending": 100}
    clock.now = deadline - timedelta(seconds=1)
    assert await run(book_due_points) == 0, "not before the appeal window lapses"
    clock.now = deadline
    assert await run(book_due_points) == 1
    booked = await events(pool, "moderation.penalty.points_booked")
    assert booked[0]["year_total"] == 100
    closure = (await events(pool, "moderation.penalty.applied"))[-1]
    assert closure["violation_code"] == "points_closure"
    assert [m["kind"] for m in closure["measures"]] == ["close"]
    subject = await view()
    assert subject["closed"] is True
    assert subject["points"]["booked"] == 100


async def test_points_count_in_the_shanghai_year_of_their_violation_and_reset_on_1_january(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    """Points count toward the Asia/Shanghai calendar year their violation occurred in,
    whenever they are booked; 2027 starts from 0 at 00:00 on 1 January in Shanghai (16:00
    UTC). Regression (issue 19, item 5): a violation at 23:30 on 31 December, booked when its
    window lapsed in January, counted in the new year (the old test asserted so)."""
    pool, clock = moderation_db
    run = runner(pool, clock)
    anchor = Subject("anchor", "anchor-year")

    async def divert(comment_id: str, at: datetime) -> None:
        clock.now = at
        await run(
            lambda tx: record_violation(
                tx,
                code="diversion",
                subject=anchor,
                decided_by="rule",
                evidence=Evidence(source_type="comment", source_id=comment_id, text="vx"),
            )
        )

    async def book(at: datetime) -> int:
        clock.now = at
        return int(await run(book_due_points))

    async def points(at: datetime) -> dict[str, int]:
        async with pool.acquire() as conn:
            view = await subject_view(conn, POLICY, "anchor", "anchor-year", at)
        return dict(view["points"])

    # The ladder: the first diversion in 30 days is 5 points, every later one 20. Each
    # window ends at 24:00 (Shanghai) of the 7th day after the day of the decision.
    await divert("c-1", datetime(2026, 12, 1, tzinfo=UTC))  # window to 12-08 16:00Z
    assert await book(datetime(2026, 12, 10, tzinfo=UTC)) == 1  # 2026: 5
    await divert("c-2", datetime(2026, 12, 20, 12, tzinfo=UTC))  # to 12-27 16:00Z
    # 23:30 on 31 December in Shanghai: a 2026 violation whose window ends in 2027.
    await divert("c-3", datetime(2026, 12, 31, 15, 30, tzinfo=UTC))  # to 2027-01-07 16:00Z
    # 00:10 on 1 January in Shanghai (still 31 December in UTC): a 2027 violation.
    await divert("c-4", datetime(2026, 12, 31, 16, 10, tzinfo=UTC))  # to 2027-01-08 16:00Z
    assert await book(datetime(2026, 12, 28, tzinfo=UTC)) == 1  # c-2 only: 2026 is 25
    assert await points(datetime(2026, 12, 31, 16, 10, tzinfo=UTC)) == {
        "year": 2027,
        "booked": 0,
        "pending": 40,
    }
    assert await book(datetime(2027, 1, 7, 16, tzinfo=UTC)) == 1  # c-3, into 2026
    assert await book(datetime(2027, 1, 8, 16, tzinfo=UTC)) == 1  # c-4, into 2027

    booked = await events(pool, "moderation.penalty.points_booked")
    assert [(b["points"], b["year"], b["year_total"]) for b in booked] == [
        (5, 2026, 5),
        (20, 2026, 25),
        (20, 2026, 45),
        (20, 2027, 20),
    ]
    assert await points(datetime(2027, 1, 9, tzinfo=UTC)) == {
        "year": 2027,
        "booked": 20,
        "pending": 0,
    }
    assert await points(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == {
        "year": 2026,
        "booked": 45,
        "pending": 0,
    }, "booked in January, counted in 2026"


async def test_an_upheld_appeal_revokes_measures_and_pending_points(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    anchor = Subject("anchor", "anchor-appeal")
    _, penalty_id = await run(
        lambda tx: record_violation(
            tx,
            code="diversion",
            subject=anchor,
            decided_by="rule",
            evidence=Evidence(source_type="comment", source_id="c-9", text="加我vx"),
        )
    )
    me = Principal("anchor-appeal", Role.ANCHOR)
    someone = Principal("anchor-other", Role.ANCHOR)
    with pytest.raises(Problem) as refusal:
        await run(lambda tx: file_appeal(tx, someone, penalty_id, "not me"))
    body = refusal.value.body()
    assert (body["status"], body["type"]) == (404, "https://laotie.dev/problems/not-found")
    assert await pool.fetchval("SELECT count(*) FROM appeals") == 0
    appeal = await run(lambda tx: file_appeal(tx, me, penalty_id, "it was a quote"))
    clock.advance(days=9)  # past the window whatever the hour of the decision
    assert await run(book_due_points) == 0, "a pending appeal holds the points"
    await run(lambda tx: decide_appeal(tx, REVIEWER, appeal["appeal_id"], True, "ok"))
    revoked = await events(pool, "moderation.penalty.revoked")
    assert [r["penalty_id"] for r in revoked] == [penalty_id]
    async with pool.acquire() as conn:
        view = await subject_view(conn, POLICY, "anchor", "anchor-appeal", clock.now)
    assert view["current_measures"] == []
    assert view["points"] == {
        "year": clock.now.astimezone(SHANGHAI).year,
        "booked": 0,
        "pending": 0,
    }
    assert view["penalties"][0]["points_status"] == "cancelled"


async def test_a_late_or_second_appeal_is_refused(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    pool, clock = moderation_db
    run = runner(pool, clock)
    shop = Subject("shop", "shop-a", "shop-a")
    applied_at = clock.now
    penalties = []
    for product in ("p-1", "p-2"):
        _, penalty_id = await run(
            lambda tx, product=product: record_violation(
                tx,
                code="false_advertising",
                subject=shop,
                decided_by="rule",
                step_override=1,  # serious: 5 points, so an appeal holds something
                evidence=Evidence(source_type="product", source_id=product, text="全网最低"),
            )
        )
        penalties.append(penalty_id)
    first, late = penalties
    seller = Principal("u", Role.SELLER, shop_id="shop-a")

    async def state() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        appeals = await pool.fetch(
            "SELECT appeal_id, penalty_id, filed_by, reason, status, filed_at, decided_at"
            " FROM appeals ORDER BY filed_at"
        )
        rows = await pool.fetch(
            "SELECT penalty_id, status, points_status FROM penalties ORDER BY penalty_id"
        )
        return [dict(a) for a in appeals], [dict(p) for p in rows], await events(pool)

    async def refused(penalty_id: str, reason: str) -> None:
        before = await state()
        with pytest.raises(Problem) as refusal:
            await run(lambda tx: file_appeal(tx, seller, penalty_id, "again"))
        assert await state() == before, "a refused appeal changes nothing"
        body = refusal.value.body()
        assert (body["status"], body["type"], body["reason"]) == (
            409,
            "https://laotie.dev/problems/conflict",
            reason,
        )

    clock.advance(days=1)
    appeal = await run(lambda tx: file_appeal(tx, seller, first, "it is the lowest"))
    assert (appeal["penalty_id"], appeal["status"]) == (first, "pending")
    clock.advance(days=1)
    await refused(first, "appealed_already")  # a second appeal while the first is pending

    clock.advance(days=1)
    await run(lambda tx: decide_appeal(tx, REVIEWER, appeal["appeal_id"], False, "no"))
    clock.advance(days=1)
    await refused(first, "appealed_already")  # nor after it was rejected, within the window

    clock.now = appeal_deadline(POLICY, applied_at)  # 24:00 of the window's last day
    await refused(late, "appeal_window_closed")

    appeals, rows, _ = await state()
    assert [(a["appeal_id"], a["penalty_id"], a["reason"], a["status"]) for a in appeals] == [
        (appeal["appeal_id"], first, "it is the lowest", "rejected")
    ]
    assert {r["penalty_id"]: (r["status"], r["points_status"]) for r in rows} == {
        first: ("active", "booked"),  # the rejected appeal booked its points
        late: ("active", "pending"),
    }


def _decided(
    code: str, subject: Subject, source: tuple[str, str], text: str, by: str = "rule"
) -> Callable[[Tx], Awaitable[Any]]:
    """The step that decides a ``code`` violation of ``subject`` seen in ``source``."""
    evidence = Evidence(source_type=source[0], source_id=source[1], text=text)
    return lambda tx: record_violation(
        tx, code=code, subject=subject, decided_by=by, evidence=evidence
    )


def _counterfeit(shop: Subject, report_id: str) -> Callable[[Tx], Awaitable[Any]]:
    return _decided("counterfeit", shop, ("report", report_id), "fake", by="reviewer:r1")


def _diversion(subject: Subject, comment_id: str) -> Callable[[Tx], Awaitable[Any]]:
    return _decided("diversion", subject, ("comment", comment_id), "加我vx")


async def test_points_are_due_though_the_measures_ended_inside_the_appeal_window(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    """Regression (issue 19, item 1): a first diversion (a 3-day live ban, 5 points) expired
    on day 3, and its points were never booked; an appeal after day 3 was refused 'not
    active', so the 7-day window was 3 days. Now the anchor who stays silent gets the points
    when the window lapses, and the one who appeals on day 5 is heard (and, rejected, gets
    them too)."""
    pool, clock = moderation_db
    run = runner(pool, clock)
    decided_at = clock.now
    penalties = {}
    for name in ("silent", "appeals"):
        _, penalties[name] = await run(_diversion(Subject("anchor", f"anchor-{name}"), name))
    clock.advance(days=4)
    assert await run(expire_penalties) == 2, "the 3-day live bans ended"
    clock.advance(days=1)
    me = Principal("anchor-appeals", Role.ANCHOR)
    appeal = await run(lambda tx: file_appeal(tx, me, penalties["appeals"], "it was a quote"))
    await run(lambda tx: decide_appeal(tx, REVIEWER, appeal["appeal_id"], False, "no"))
    clock.now = appeal_deadline(POLICY, decided_at)
    assert await run(book_due_points) == 1, "the silent one's window lapsed"
    booked = await events(pool, "moderation.penalty.points_booked")
    assert sorted((b["subject_id"], b["points"]) for b in booked) == [
        ("anchor-appeals", 5),
        ("anchor-silent", 5),
    ]


async def test_a_revoked_penalty_does_not_make_the_next_violation_a_repeat(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    """Regression (issue 19, item 3): a violation whose penalty was revoked on appeal still
    counted as a prior one, so the anchor's next diversion took the second step (20 points)
    instead of the first (5)."""
    pool, clock = moderation_db
    run = runner(pool, clock)
    anchor = Subject("anchor", "anchor-cleared")
    _, first = await run(_diversion(anchor, "c-quoted"))
    me = Principal("anchor-cleared", Role.ANCHOR)
    appeal = await run(lambda tx: file_appeal(tx, me, first, "it was a quote"))
    await run(lambda tx: decide_appeal(tx, REVIEWER, appeal["appeal_id"], True, "a quote"))
    clock.advance(days=1)
    await run(_diversion(anchor, "c-real"))
    clock.advance(days=1)
    await run(_diversion(anchor, "c-again"))
    rows = await pool.fetch("SELECT status, points FROM penalties ORDER BY applied_at")
    assert [(r["status"], r["points"]) for r in rows] == [
        ("revoked", 5),
        ("active", 5),  # the first real offence
        ("active", 20),  # its repeat
    ]


async def test_a_closure_by_points_is_final(moderation_db: tuple[asyncpg.Pool, Clock]) -> None:
    """Regression (issue 19, item 6): the closure could be appealed, and revoking it left the
    subject closed in one table and open in the other. Now an appeal is refused as final."""
    pool, clock = moderation_db
    run = runner(pool, clock)
    await run(_counterfeit(Subject("shop", "shop-closed", "shop-closed"), "rep-c"))
    clock.advance(days=9)
    assert await run(book_due_points) == 1
    closure = await pool.fetchval("SELECT penalty_id FROM penalties WHERE code = 'points_closure'")
    seller = Principal("u", Role.SELLER, shop_id="shop-closed")
    with pytest.raises(Problem) as refusal:
        await run(lambda tx: file_appeal(tx, seller, closure, "please"))
    assert refusal.value.body()["reason"] == "closure_final"
    assert await pool.fetchval("SELECT count(*) FROM appeals") == 0


async def test_a_product_offending_again_in_a_later_fact_is_a_repeat_offence(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    """Regression (issue 19, item 2): the violation id hashed only code, source and subject,
    so the same product offending again (a relisting with the same claim) decided nothing:
    repeats were free. Now the offending text's version is part of its identity: the same text
    again (a redelivery, the same fact under a new event id, a stock edit) decides nothing; the
    product changed to another offending text is a second violation, on the second step."""
    pool, clock = moderation_db
    run = runner(pool, clock)
    shop = Subject("shop", "shop-again", "shop-again")
    claim = Evidence(source_type="product", source_id="p-best", text="全网最低")

    def advertised(event_id: str, text: str) -> Callable[[Tx], Awaitable[Any]]:
        return lambda tx: record_violation(
            tx,
            code="false_advertising",
            subject=shop,
            decided_by="rule",
            evidence=claim,
            source_event_id=event_id,
            trigger=text_version(text),
        )

    assert await run(advertised("listed-1", "全网最低")) is not None
    assert await run(advertised("listed-1", "全网最低")) is None, "the same event again"
    assert await run(advertised("listed-1-resent", "全网最低")) is None, "the same fact again"
    assert await run(advertised("stock-edited", "全网最低")) is None, "the same text"
    clock.advance(days=2)
    assert await run(advertised("changed-2", "全网第一")) is not None
    rows = await pool.fetch("SELECT severity, source_event_id FROM violations ORDER BY occurred_at")
    assert [(r["severity"], r["source_event_id"]) for r in rows] == [
        ("general", "listed-1"),
        ("serious", "changed-2"),
    ]


async def test_a_missed_batch_is_one_late_shipment_violation_not_one_per_order(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    """Regression (issue 19, item 4): every overdue order was a violation, so after two
    warnings each one was a serious 2-point violation, and one missed flash-sale batch of 52
    orders (104 points) closed the shop for good. Now a shop's week is one case, judged by
    its rate: the batch is one violation (a warning), more late orders that week add none,
    a shop with 4 of 100 orders late (under the 5% rate) has none, and late orders whose
    payment moderation never saw (paid before this rule) count in no rate. A week is judged
    once it has ended, on all its orders, not on the first few due."""
    from laotie_contracts import orders as ev
    from laotie_moderation.usecases.detection import (
        judge_late_weeks,
        note_due,
        note_late_shipment,
    )

    from tests.integration.kit import order_facts

    pool, clock = moderation_db
    run = runner(pool, clock)
    ship_by = clock.now - timedelta(hours=1)
    shop_page = ev.Attribution(channel="shop_page")

    def facts(shop: str, n: int) -> dict[str, Any]:
        return order_facts(shop, f"{shop}-{n}", f"b{n}", 100, ship_by, shop_page)

    async def paid(shop: str, due: int) -> None:
        """As the consumer writes a batch's paid orders: the rows gathered, one write."""

        async def batch(tx: Tx) -> None:
            gathered = [
                note_due(tx, ev.OrderPaid(**facts(shop, n), status="paid", ship_by=ship_by))
                for n in range(due)
            ]
            rows = [later.rows[("shipments_due",)] for later in gathered]
            assert len({write for write, _ in rows}) == 1, "one writer for the batch"
            await rows[0][0](tx.conn, [value for _, value in rows])

        await run(batch)

    async def late(shop: str, numbers: range) -> None:
        for n in numbers:
            overdue = ev.ShipmentOverdue(**facts(shop, n), status="paid", ship_by=ship_by)
            await run(lambda tx, o=overdue: note_late_shipment(tx, o))

    await paid("shop-batch", 52)
    await late("shop-batch", range(40))
    await paid("shop-fine", 100)
    await late("shop-fine", range(4))
    await late("shop-old", range(5))  # paid before moderation noted deadlines: no rate
    assert await run(judge_late_weeks) == 0, "a week is judged once it has ended"
    clock.advance(days=8, hours=1)
    assert await run(judge_late_weeks) == 2
    await late("shop-batch", range(40, 52))
    assert await run(judge_late_weeks) == 1, "the batch's week again, with its new late orders"
    assert await run(judge_late_weeks) == 0, "nothing new to judge"
    rows = await pool.fetch("SELECT subject_id, code, severity, evidence FROM violations")
    assert [(r["subject_id"], r["code"], r["severity"]) for r in rows] == [
        ("shop-batch", "late_shipment", "general")
    ]
    assert json.loads(rows[0]["evidence"])["text"].startswith("40 of 52 orders due")
    assert await pool.fetchval("SELECT count(*) FROM penalties WHERE points > 0") == 0


async def test_a_counterfeit_sold_by_a_creator_charges_the_supplying_shop_too(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    """Regression (issue 19, item 7): an upheld counterfeit report against the creator who
    sold the order through distribution charged only the creator; the shop that supplied the
    fake kept selling, while the shop the reporter named (unverified) was carried into the
    creator's penalty, which orders enforces on that shop. Now the order's own shop, as
    moderation saw the order paid, is charged with the counterfeit code too; the creator's
    penalty names no shop; a report against a creator for an order someone else sold, or for
    an order the reporter did not buy, charges no shop."""
    from laotie_contracts import orders as ev
    from laotie_moderation.usecases.detection import note_due
    from laotie_moderation.usecases.reports import decide_report, file_report

    from tests.integration.kit import order_facts

    pool, clock = moderation_db
    run = runner(pool, clock)
    buyer = Principal("buyer-1", Role.BUYER)
    by_creator = ev.Attribution(
        channel="distribution", creator_id="creator-1", commission_rate_bp=1000
    )
    sold = {
        "o-dist": by_creator,
        "o-own": ev.Attribution(channel="shop_page"),
    }

    async def paid(tx: Tx) -> None:
        for order_id, attribution in sold.items():
            facts = order_facts("shop-supplier", order_id, "buyer-1", 100, clock.now, attribution)
            later = note_due(tx, ev.OrderPaid(**facts, status="paid", ship_by=clock.now))
            write, row = later.rows[("shipments_due",)]
            await write(tx.conn, [row])

    await run(paid)
    someone_else = Principal("buyer-2", Role.BUYER)
    for order_id, reporter in [("o-dist", buyer), ("o-own", buyer), ("o-dist", someone_else)]:
        report = await run(
            lambda tx, o=order_id, reporter=reporter: file_report(
                tx,
                reporter,
                {
                    "subject_type": "creator",
                    "subject_id": "creator-1",
                    "shop_id": "shop-named-by-the-reporter",
                    "kind": "counterfeit",
                    "order_id": o,
                    "product_id": "shop-supplier-p",
                    "text": "fake",
                },
            )
        )
        await run(lambda tx, r=report: decide_report(tx, REVIEWER, r["report_id"], True))
        clock.advance(days=1)
    rows = await pool.fetch(
        "SELECT subject_type, subject_id, shop_id, code FROM violations ORDER BY occurred_at,"
        " subject_type"
    )
    assert [tuple(r) for r in rows] == [
        ("creator", "creator-1", None, "counterfeit"),
        ("shop", "shop-supplier", "shop-supplier", "counterfeit"),
        ("creator", "creator-1", None, "counterfeit"),
        ("creator", "creator-1", None, "counterfeit"),  # not the reporter's order: no shop
    ]
    measures = await pool.fetchval(
        "SELECT measures FROM penalties WHERE subject_type = 'shop' AND code = 'counterfeit'"
    )
    assert {"delist_products", "settlement_hold"} <= {m["kind"] for m in json.loads(measures)}


async def test_an_order_paid_and_overdue_in_one_batch_counts_in_its_weeks_rate(
    moderation_db: tuple[asyncpg.Pool, Clock],
) -> None:
    """Regression: a batch's paid orders are written at its end (``Later.rows``), after the
    overdue facts of the same batch, which had already marked them "paid before moderation
    noted deadlines": a caught-up consumer given both in one batch counted those late orders
    in no week's rate, and the missed batch decided nothing."""
    from laotie_contracts import orders as ev
    from laotie_moderation.usecases.detection import (
        judge_late_weeks,
        note_due,
        note_late_shipment,
    )

    from tests.integration.kit import order_facts

    pool, clock = moderation_db
    run = runner(pool, clock)
    ship_by = clock.now - timedelta(hours=1)
    via = ev.Attribution(channel="shop_page")
    facts = [
        order_facts("shop-one-batch", f"ob-{n}", f"b{n}", 100, ship_by, via) for n in range(10)
    ]

    async def one_batch(tx: Tx) -> None:
        rows = [
            note_due(tx, ev.OrderPaid(**f, status="paid", ship_by=ship_by)).rows[("shipments_due",)]
            for f in facts
        ]
        for f in facts[:6]:
            overdue = ev.ShipmentOverdue(**f, status="paid", ship_by=ship_by)
            await note_late_shipment(tx, overdue)
        await rows[0][0](tx.conn, [value for _, value in rows])

    await run(one_batch)
    clock.advance(days=8, hours=1)
    assert await run(judge_late_weeks) == 1
    codes = await pool.fetch("SELECT code FROM violations WHERE subject_id = 'shop-one-batch'")
    assert [c["code"] for c in codes] == ["late_shipment"]
