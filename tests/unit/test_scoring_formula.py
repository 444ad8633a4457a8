"""The score formulas: the worked examples of docs/scoring.md, and properties."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st
from laotie_scoring.domain import NotEnoughData, Score, WindowCounts, score
from laotie_scoring.policy import load_policy

POLICY = load_policy()

GOOD_SHOP = WindowCounts(
    orders=100,
    reviews=50,
    negative_reviews=2,
    product_stars_sum=230,
    matured_orders=60,
    quality_refunds=1,
    ship_due=100,
    shipped_on_time=97,
    delivered=90,
    delivery_hours_sum=90 * 40,
    refund_answers=5,
    refund_answer_hours_sum=30,
)
BAD_SHOP = WindowCounts(
    orders=60,
    reviews=30,
    negative_reviews=9,
    product_stars_sum=90,
    matured_orders=40,
    quality_refunds=6,
    ship_due=60,
    shipped_on_time=30,
    violations=2,
)


def test_worked_example_a_good_shop() -> None:
    result = score(POLICY, "shop", GOOD_SHOP)
    assert isinstance(result, Score)
    assert result.value == 4.68
    assert result.band.name == "good"
    assert result.components["product"] == 0.6333
    assert result.components["logistics.ship_on_time_rate"] == 0.85
    assert result.components["logistics"] == 0.925


def test_worked_example_a_late_shipping_poor_quality_shop() -> None:
    result = score(POLICY, "shop", BAD_SHOP)
    assert isinstance(result, Score)
    assert result.value == 3.67
    assert result.band.name == "poor"
    assert result.band.chuanliu is False
    assert result.components["content"] == 0.3333


def test_worked_example_the_same_shop_warned_for_its_late_weeks() -> None:
    """Its two penalties were late_shipment warnings for those very weeks: not violations
    (ship_on_time_rate counted the orders already), so content stays 1.0."""
    result = score(POLICY, "shop", dataclasses.replace(BAD_SHOP, violations=0))
    assert isinstance(result, Score)
    assert result.value == 3.8
    assert result.components["content"] == 1.0
    assert result.band.name == "poor"


def test_below_the_minimum_sample_there_is_no_score() -> None:
    result = score(POLICY, "shop", dataclasses.replace(GOOD_SHOP, orders=29))
    assert result == NotEnoughData("shop", 29, 30)
    assert isinstance(score(POLICY, "product", dataclasses.replace(GOOD_SHOP, orders=20)), Score)


def test_no_reviews_and_no_matured_orders_is_no_score_not_an_invented_five() -> None:
    """30 orders with nothing to judge them by once gave 5.00, excellent: ×1.3 traffic."""
    fresh = WindowCounts(orders=30, ship_due=30, shipped_on_time=30)
    result = score(POLICY, "shop", fresh)
    assert result == NotEnoughData("shop", 30, 30, ("product", "after_sales"))
    assert isinstance(score(POLICY, "creator", WindowCounts(orders=40)), NotEnoughData)


def test_an_indicator_below_its_minimum_sample_is_missing_not_perfect() -> None:
    """Three reviews, one of them bad, decide nothing either way; the matured refunds do."""
    few_reviews = dataclasses.replace(GOOD_SHOP, reviews=3, negative_reviews=1)
    result = score(POLICY, "shop", few_reviews)
    assert isinstance(result, Score)
    assert "product.negative_review_rate" in result.missing
    assert "product.negative_review_rate" not in result.components
    assert result.components["product"] == result.components["product.quality_refund_rate"]


def test_the_boost_band_is_strictly_above_4_8() -> None:
    creator = POLICY.kinds["creator"]
    assert creator.band(4.8).name == "normal"
    assert creator.band(4.81).name == "boost"


def test_a_penalty_weighs_its_points_a_closure_the_most() -> None:
    """Every penalty once weighed 1: a 0-point warning as much as a 100-point counterfeit."""
    weight = POLICY.violation_weight
    assert weight.of(0, closes=False) == 0.5
    assert weight.of(5, closes=False) == 1.0
    assert weight.of(100, closes=False) == 3.0
    assert weight.of(0, closes=True) == 3.0
    assert weight.of(None, closes=False) == 1.0  # recorded before weights: as it counted
    one_counterfeit = score(POLICY, "shop", dataclasses.replace(GOOD_SHOP, violations=3.0))
    two_warnings = score(POLICY, "shop", dataclasses.replace(GOOD_SHOP, violations=1.0))
    assert isinstance(one_counterfeit, Score)
    assert isinstance(two_warnings, Score)
    assert one_counterfeit.components["content"] == 0.0
    assert two_warnings.components["content"] == 0.6667


def test_creator_bands() -> None:
    perfect = score(
        POLICY,
        "creator",
        WindowCounts(orders=40, reviews=10, product_stars_sum=50, matured_orders=40),
    )
    assert isinstance(perfect, Score)
    assert (perfect.value, perfect.band.name) == (5.0, "boost")
    banned = score(
        POLICY,
        "creator",
        WindowCounts(
            orders=40,
            violations=3,
            reviews=10,
            negative_reviews=3,
            matured_orders=40,
            quality_refunds=4,
        ),
    )
    assert isinstance(banned, Score)
    assert banned.band.name == "no_paid_promotion"
    assert banned.band.paid_promotion is False


# Windows with every indicator's sample at its minimum or above (a score exists).
counts = st.builds(
    WindowCounts,
    orders=st.integers(30, 500),
    reviews=st.integers(10, 200),
    negative_reviews=st.integers(0, 200),
    product_stars_sum=st.integers(0, 1000),
    matured_orders=st.integers(20, 300),
    quality_refunds=st.integers(0, 300),
    disputes=st.integers(0, 50),
    ship_due=st.integers(20, 500),
    shipped_on_time=st.integers(0, 500),
    delivered=st.integers(0, 500),
    delivery_hours_sum=st.floats(0, 1e5),
    refund_answers=st.integers(0, 50),
    refund_answer_hours_sum=st.floats(0, 5000),
    violations=st.integers(0, 10),
)


@given(counts, st.sampled_from(["shop", "product", "creator"]))
def test_scores_stay_in_range(c: WindowCounts, kind: str) -> None:
    c = dataclasses.replace(
        c,
        negative_reviews=min(c.negative_reviews, c.reviews),
        shipped_on_time=min(c.shipped_on_time, c.ship_due),
    )
    result = score(POLICY, kind, c)  # type: ignore[arg-type]
    assert isinstance(result, Score)
    assert 3.0 <= result.value <= 5.0
    assert all(0.0 <= v <= 1.0 for v in result.components.values())


@given(counts, st.integers(1, 50), st.sampled_from(["shop", "product", "creator"]))
def test_more_negative_reviews_never_raise_a_score(c: WindowCounts, more: int, kind: str) -> None:
    base = dataclasses.replace(
        c, reviews=c.reviews + more, negative_reviews=min(c.negative_reviews, c.reviews)
    )
    worse = dataclasses.replace(base, negative_reviews=base.negative_reviews + more)
    a, b = score(POLICY, kind, base), score(POLICY, kind, worse)  # type: ignore[arg-type]
    assert isinstance(a, Score)
    assert isinstance(b, Score)
    assert b.value <= a.value


@given(counts, st.integers(1, 5))
def test_more_violations_never_raise_a_shop_score(c: WindowCounts, more: int) -> None:
    a = score(POLICY, "shop", c)
    b = score(POLICY, "shop", dataclasses.replace(c, violations=c.violations + more))
    assert isinstance(a, Score)
    assert isinstance(b, Score)
    assert b.value <= a.value
