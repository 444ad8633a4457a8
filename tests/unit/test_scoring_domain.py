"""Scoring's pure rules besides the formulas: the calendar day, what each order event
records, which penalties count, and when a recomputed score is the stored one."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from laotie_moderation.policy import load_policy as load_thunder_plan
from laotie_scoring.domain import (
    PENALTY_KINDS,
    Score,
    ScorePolicy,
    WindowCounts,
    answer_cap_s,
    fact_columns,
    same_score,
    score,
    shanghai_day,
)
from laotie_scoring.policy import DEFAULT_POLICY, load_policy
from pydantic import ValidationError

POLICY = load_policy()
AT = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 01:30 on March 2nd in Shanghai


def test_a_moment_counts_on_the_policys_calendar_day() -> None:
    assert shanghai_day(POLICY, AT) == date(2026, 3, 2)


def test_a_payment_sets_the_paid_day_and_the_deadline() -> None:
    event = SimpleNamespace(occurred_at=AT, ship_by=AT)
    assert fact_columns(POLICY, "orders.order.paid", event) == {
        "paid_day": date(2026, 3, 2),
        "ship_by": AT,
    }


def test_refund_answers_are_capped_and_automatic_approvals_count_as_the_worst() -> None:
    cap = answer_cap_s(POLICY)
    slow = SimpleNamespace(answered_after_s=cap * 2, automatic=False)
    quick = SimpleNamespace(answered_after_s=60.0, automatic=False)
    automatic = SimpleNamespace(answered_after_s=1.0, automatic=True)
    assert fact_columns(POLICY, "orders.order.refund_rejected", slow) == {"refund_answer_s": cap}
    assert fact_columns(POLICY, "orders.order.refund_approved", quick) == {"refund_answer_s": 60.0}
    assert fact_columns(POLICY, "orders.order.refund_approved", automatic) == {
        "refund_answer_s": cap
    }


def test_only_quality_refunds_count_against_the_goods() -> None:
    for reason, counts in [("quality", True), ("not_as_described", True), ("changed_mind", False)]:
        event = SimpleNamespace(refund_reason=reason)
        assert fact_columns(POLICY, "orders.order.refunded", event) == {"quality_refund": counts}


def test_events_that_count_nowhere_set_nothing() -> None:
    assert fact_columns(POLICY, "orders.order.placed", SimpleNamespace()) is None


def test_penalties_on_anchors_and_creators_count_against_the_creator_score() -> None:
    assert PENALTY_KINDS == {"shop": "shop", "anchor": "creator", "creator": "creator"}
    assert "buyer" not in PENALTY_KINDS


def test_a_shop_score_leaves_out_the_violations_its_own_indicators_measure() -> None:
    """A late-shipment week is judged from the late orders ship_on_time_rate counts, an
    unanswered refund is 48 h in refund_answer_hours: a shop's score counts them there only.
    A creator's score has neither indicator, so such a penalty (were one ever charged to a
    creator) still counts in its conduct."""
    assert POLICY.violations_measured_elsewhere == {
        "late_shipment": "ship_on_time_rate",
        "refund_unanswered": "refund_answer_hours",
    }
    assert POLICY.uncounted_violations("shop") == ["late_shipment", "refund_unanswered"]
    assert POLICY.uncounted_violations("creator") == []
    assert POLICY.uncounted_violations("product") == []


def test_the_codes_left_out_are_moderations_codes() -> None:
    """A code renamed in the Thunder Plan would silently count twice again."""
    assert set(POLICY.violations_measured_elsewhere) <= set(load_thunder_plan().codes)


def _policy_with(**elsewhere: Any) -> dict[str, Any]:
    with open(DEFAULT_POLICY, "rb") as f:
        return tomllib.load(f) | {"violations_measured_elsewhere": elsewhere}


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"": "ship_on_time_rate"},
        {" late_shipment": "ship_on_time_rate"},
        {"late_shipment": "on_time"},
        {"late_shipment": 1},
    ],
)
def test_a_policy_naming_an_empty_code_or_an_unknown_indicator_is_refused(
    elsewhere: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        ScorePolicy.model_validate(_policy_with(**elsewhere))


def test_replaced_policies_are_kept_and_still_load() -> None:
    history = sorted((DEFAULT_POLICY.parent / "history").glob("score-policy-*.toml"))
    assert history, "the versions replaced are kept"
    for path in history:
        old = load_policy(path)
        assert old.version == "scores/" + path.stem.removeprefix("score-policy-")
        assert old.version != POLICY.version
    assert load_policy(Path(history[0])).uncounted_violations("shop") == [], (
        "2026.11-1 counted every penalty"
    )


def test_what_a_subject_without_a_score_may_use_is_policy() -> None:
    """It was a default in the code; now the policy file says it (its own section)."""
    text = DEFAULT_POLICY.read_text()
    assert "[unscored]" in text
    assert POLICY.unscored is not None
    assert all(f"{name} " in text for name in type(POLICY.unscored).model_fields)


def test_a_score_is_the_stored_one_only_when_value_band_and_components_agree() -> None:
    result = score(
        POLICY,
        "shop",
        WindowCounts(orders=100, reviews=10, product_stars_sum=50, matured_orders=30, ship_due=30),
    )
    assert isinstance(result, Score)
    assert same_score(result, result.value, result.band.name, dict(result.components))
    assert not same_score(result, result.value + 0.01, result.band.name, result.components)
    assert not same_score(result, result.value, "other", result.components)
    assert not same_score(result, result.value, result.band.name, {})


def test_a_brands_own_broadcast_gives_nobody_a_creator_reputation() -> None:
    """Orders in a brand's own room once gave the brand shop (its anchor) a creator score."""
    from types import SimpleNamespace

    from laotie_contracts import orders as ev
    from laotie_scoring.domain import creator_of

    def order(shop_kind: str, **attribution: str) -> SimpleNamespace:
        return SimpleNamespace(
            shop_id="brand-1", shop_kind=shop_kind, attribution=ev.Attribution(**attribution)
        )

    own_room = {"channel": "live_room", "room_id": "r", "anchor_id": "brand-1"}
    assert creator_of(order("brand", **own_room)) is None
    staff = {"channel": "live_room", "room_id": "r", "anchor_id": "host-7"}
    assert creator_of(order("brand", **staff)) is None
    assert creator_of(order("merchant", **staff)) == "host-7"
    promoted = {**staff, "creator_id": "host-7", "promotion_id": "prm-1"}
    assert creator_of(order("brand", **promoted)) == "host-7"
    video = {"channel": "short_video", "video_id": "v", "creator_id": "c-1"}
    assert creator_of(order("brand", **video)) == "c-1"
