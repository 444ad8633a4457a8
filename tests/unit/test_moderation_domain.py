"""The Thunder Plan's pure decisions: violation ids, ladder steps, measures, points years,
appeal refusals, current measures, and who answers for a detected fact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from laotie_common.problems import Conflict
from laotie_contracts.live import CommentPosted
from laotie_contracts.moderation import Evidence, Measure
from laotie_moderation.domain.decisions import (
    Subject,
    appeal_deadline,
    calendar_year,
    check_appealable,
    closes_subject,
    current_measures,
    initial_points_status,
    ladder_step,
    measures_for,
    penalty_expiry,
    report_evidence,
    violation_id_for,
)
from laotie_moderation.domain.detection import comment_charge, room_owner, text_findings
from laotie_moderation.policy import load_policy

POLICY = load_policy()
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SHOP = Subject("shop", "s1", "s1")
ANCHOR = Subject("anchor", "a1")


def evidence(source_type: str = "product", source_id: str = "p1") -> Evidence:
    return Evidence(source_type=source_type, source_id=source_id, text="t")


def test_the_same_fact_and_subject_give_the_same_violation_id() -> None:
    first = violation_id_for("diversion", evidence(), SHOP, "e1")
    assert first == violation_id_for("diversion", evidence(), SHOP, "e1")
    assert first != violation_id_for("diversion", evidence(source_id="p2"), SHOP, "e1")
    assert first != violation_id_for("diversion", evidence(), ANCHOR, "e1")
    assert first != violation_id_for("false_advertising", evidence(), SHOP, "e1")
    # Regression (issue 19, item 2): the same product offending in a later fact (relisted
    # with the same text, reported again) was the same violation, so repeats were free.
    assert first != violation_id_for("diversion", evidence(), SHOP, "e2")


def test_the_ladder_step_follows_prior_violations_and_stops_at_the_top() -> None:
    rule = POLICY.code("late_shipment")
    top = len(rule.ladder) - 1
    assert ladder_step(rule, 0) == (0, rule.ladder[0])
    assert ladder_step(rule, 99) == (top, rule.ladder[top])
    assert ladder_step(rule, 0, override=1) == (1, rule.ladder[1])


def test_measures_apply_to_their_subject_types_and_delist_only_the_offending_product() -> None:
    step = POLICY.code("diversion").ladder[0]
    on_shop = measures_for(step.measures, SHOP, evidence(), NOW)
    assert [m.kind for m in on_shop] == ["warning", "delist_products", "listing_ban", "penalty_fee"]
    assert on_shop[1].product_ids == ["p1"]
    assert on_shop[2].until == NOW + timedelta(days=3)
    assert on_shop[3].amount_fen == 30000
    in_comment = measures_for(step.measures, SHOP, evidence("comment", "c1"), NOW)
    assert "delist_products" not in [m.kind for m in in_comment]
    on_anchor = measures_for(step.measures, ANCHOR, evidence("comment", "c1"), NOW)
    assert [m.kind for m in on_anchor] == ["warning", "live_ban", "penalty_fee"]


def test_all_goods_delisting_names_no_product() -> None:
    step = POLICY.code("counterfeit").ladder[0]
    delist = measures_for(step.measures, SHOP, evidence("report", "r1"), NOW)
    assert [m.product_ids for m in delist if m.kind == "delist_products"] == [[]]


def test_a_penalty_ends_with_its_last_timed_measure() -> None:
    later = NOW + timedelta(days=14)
    measures = [Measure(kind="warning"), Measure(kind="live_ban", until=later)]
    assert penalty_expiry(measures) == later
    assert penalty_expiry([Measure(kind="warning")]) is None
    assert initial_points_status(5) == "pending"
    assert initial_points_status(0) == "none"


def test_points_count_in_the_shanghai_calendar_year_and_close_at_the_threshold() -> None:
    assert calendar_year(POLICY, datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == 2026
    assert calendar_year(POLICY, datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == 2027
    assert not closes_subject(POLICY, POLICY.closure_points - 1)
    assert closes_subject(POLICY, POLICY.closure_points)


def test_the_appeal_window_is_seven_natural_days_after_the_decision_in_shanghai() -> None:
    """Regression (issue 19, item 8): the window was 7×24 h from the minute of the decision.
    Now it ends at 24:00 (Shanghai) of the 7th day after the day of the decision."""
    assert POLICY.appeal_window_days == 7
    end = datetime(2026, 3, 8, 16, tzinfo=UTC)  # 9 March 00:00 in Shanghai
    for decided in (
        datetime(2026, 2, 28, 16, 0, tzinfo=UTC),  # 1 March 00:00 in Shanghai
        datetime(2026, 3, 1, 15, 59, tzinfo=UTC),  # 1 March 23:59 in Shanghai
    ):
        assert appeal_deadline(POLICY, decided) == end
    assert appeal_deadline(POLICY, datetime(2026, 3, 1, 16, tzinfo=UTC)) == end + timedelta(days=1)


def test_an_appeal_is_refused_for_a_closure_after_the_window_or_when_revoked() -> None:
    """Regression (issue 19, items 1 and 6): an expired penalty (its measures ended inside the
    window) was refused as 'not active', and a closure by points could be appealed."""
    later = NOW + timedelta(days=1)
    check_appealable("diversion", "active", later, NOW)
    check_appealable("diversion", "expired", later, NOW)
    for code, status, deadline, reason in (
        ("points_closure", "active", later, "closure_final"),
        ("diversion", "active", NOW, "appeal_window_closed"),
        ("diversion", "revoked", later, "not_active"),
    ):
        with pytest.raises(Conflict) as refused:
            check_appealable(code, status, deadline, NOW)
        assert refused.value.extra["reason"] == reason


def test_current_measures_are_those_of_active_penalties_not_run_out() -> None:
    past, future = (NOW - timedelta(days=1)).isoformat(), (NOW + timedelta(days=1)).isoformat()
    penalties = [
        {"penalty_id": "p1", "status": "active", "measures": [{"kind": "warning"}]},
        {
            "penalty_id": "p2",
            "status": "active",
            "measures": [{"kind": "live_ban", "until": past}, {"kind": "suspend", "until": future}],
        },
        {"penalty_id": "p3", "status": "revoked", "measures": [{"kind": "close"}]},
    ]
    assert current_measures(penalties, NOW) == [
        {"kind": "warning", "penalty_id": "p1"},
        {"kind": "suspend", "until": future, "penalty_id": "p2"},
    ]


def test_a_report_is_evidence_of_its_product_or_else_of_itself() -> None:
    on_product = report_evidence("r1", "p9", "fake")
    assert (on_product.source_type, on_product.source_id) == ("product", "p9")
    assert on_product.matched_rule == "report:r1"
    on_itself = report_evidence("r1", None, "fake")
    assert (on_itself.source_type, on_itself.source_id) == ("report", "r1")


def test_who_answers_for_a_room_and_a_comment() -> None:
    assert room_owner("brand", "s1", "s1") == Subject("shop", "s1", "s1")
    assert room_owner("creator", "c1", None) == Subject("creator", "c1")
    assert room_owner(None, "a1", None) == Subject("anchor", "a1")
    comment = {
        "comment_id": "c1",
        "session_id": "se1",
        "room_id": "r1",
        "author_id": "v1",
        "room_owner_id": "a1",
        "room_owner_type": "anchor",
        "text": "加我微信",
        "posted_at": NOW,
    }
    by_viewer = CommentPosted(**comment, author_role="viewer")
    assert comment_charge(by_viewer) == (Subject("viewer", "v1"), "diversion_by_viewer")
    by_owner = CommentPosted(**{**comment, "author_id": "a1"}, author_role="owner")
    assert comment_charge(by_owner) == (Subject("anchor", "a1"), "diversion")


def test_text_findings_name_each_rule_tripped_in_order() -> None:
    assert text_findings("好看的连衣裙") == []
    assert [code for code, _ in text_findings("全网最低价 加我微信 abc12345")] == [
        "diversion",
        "false_advertising",
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("call me 13812345678 now", "call me 138******** now"),
        ("电话 138-1234-5678", "电话 138-****-****"),
        ("一三八一二三四五六七八", "一三八********"),
        ("加我V信 abc12345", "[contact details removed]"),
        ("好货 快来买 199 元", "好货 快来买 199 元"),
        (None, None),
    ],
)
def test_contact_details_are_masked_before_evidence_leaves_moderation(
    text: str | None, shown: str | None
) -> None:
    from laotie_moderation.domain.contacts import mask_contacts

    assert mask_contacts(text) == shown


def test_late_shipment_is_judged_per_shanghai_week_by_count_and_rate() -> None:
    """Issue 19, item 4: a shop's week of due orders is one case (Monday to Sunday, Shanghai)."""
    from laotie_moderation.domain.decisions import late_week, shipping_week

    sunday_night = datetime(2026, 12, 6, 15, 59, tzinfo=UTC)  # Sunday 23:59 in Shanghai
    monday, start, end = shipping_week(POLICY, sunday_night)
    assert (monday.isoformat(), start, end) == (
        "2026-11-30",
        datetime(2026, 11, 29, 16, tzinfo=UTC),
        datetime(2026, 12, 6, 16, tzinfo=UTC),
    )
    assert shipping_week(POLICY, end)[0].isoformat() == "2026-12-07"
    rule = POLICY.shipping
    assert (rule.min_late_orders, rule.late_rate) == (3, 0.05)
    assert not late_week(POLICY, late=2, due=2), "too few to judge"
    assert not late_week(POLICY, late=4, due=100), "4% is under the rate"
    assert late_week(POLICY, late=5, due=100)
    assert late_week(POLICY, late=52, due=52)
