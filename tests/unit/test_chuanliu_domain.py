"""Chuanliu's pure rules: pacing, the brand cap, the grant plan (frequency cap, brand share,
budget, refusal reasons, buyer order), which sales count, rewards and uplift."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from laotie_chuanliu import domain
from laotie_chuanliu.domain import Band, Candidate, Ledger, Limits, plan_grants
from laotie_chuanliu.policy import load_policy
from laotie_common.problems import Unprocessable
from laotie_contracts import orders as ev
from laotie_contracts.moderation import Measure

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


def limits(**overrides: int) -> Limits:
    values = dict(per_grant=20, per_buyer_daily_cap=3, brand_cap=1000, budget=10_000)
    values.update(overrides)
    values.setdefault("allowance", values["budget"])
    return Limits(**values)


def ledger(budget: int = 0, brand: int = 0, **buyers: int) -> Ledger:
    return Ledger(budget_granted=budget, brand_granted=brand, buyer_grants=buyers)


def buyers(*names: str) -> list[Candidate]:
    return [Candidate(n, 1.0 - i / 100, f"creator-{n}") for i, n in enumerate(names)]


def granted(plan: domain.GrantPlan) -> list[str]:
    return [c.buyer_id for c in plan.buyers]


# --- calendar, pacing, caps -------------------------------------------------------------------
def test_the_day_and_its_share_gone_are_local_to_shanghai() -> None:
    assert domain.day_of(NOW, "Asia/Shanghai") == (date(2026, 11, 20), 0.5)
    # 23:30 UTC on the 19th is already 07:30 on the 20th in Shanghai
    late = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)
    day, share = domain.day_of(late, "Asia/Shanghai")
    assert day == date(2026, 11, 20)
    assert share == pytest.approx(7.5 / 24)


def test_pacing_allows_the_share_of_the_day_gone_plus_headroom() -> None:
    assert domain.paced_allowance(1000, 0.0, 0.10) == 100
    assert domain.paced_allowance(1000, 0.5, 0.10) == 600
    assert domain.paced_allowance(1000, 0.95, 0.10) == 1000, "never more than the budget"
    assert domain.paced_allowance(1000, 0.25, 1.0) == 1000
    assert domain.paced_allowance(0, 0.5, 0.1) == 0


def test_the_policy_paces_and_dates_through_the_domain() -> None:
    policy = load_policy()
    assert policy.day_of(NOW) == (date(2026, 11, 20), 0.5)
    headroom = policy.budget.pacing_headroom
    assert policy.paced_allowance(1000, 0.5) == domain.paced_allowance(1000, 0.5, headroom)


def test_the_brand_cap_is_budget_times_share_times_band_weight() -> None:
    assert domain.brand_cap(200_000_000, 0.02, 1.0) == 4_000_000
    assert domain.brand_cap(200_000_000, 0.02, 0.6) == 2_400_000
    assert domain.brand_cap(1000, 0.02, 0.5) == 10
    assert domain.brand_cap(1000, 0.02, 0.0) == 0


def test_a_rounds_reach_follows_the_brands_band_weight() -> None:
    """Grants once reached 500 buyers whatever the band (issue 20, item 7)."""
    assert domain.reach(500, 1.3) == 650
    assert domain.reach(500, 1.0) == 500
    assert domain.reach(500, 0.7) == 350


def test_a_live_session_has_its_next_round_until_its_last() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert domain.next_round_at(1, 18, now, 600) == now + timedelta(minutes=10)
    assert domain.next_round_at(17, 18, now, 600) == now + timedelta(minutes=10)
    assert domain.next_round_at(18, 18, now, 600) is None


def test_todays_budget_never_drops_below_what_is_out() -> None:
    assert domain.todays_budget(500, 100) == 500
    assert domain.todays_budget(50, 100) == 100
    assert domain.todays_budget(0, 0) == 0


def test_the_budget_view() -> None:
    view = domain.budget_view(
        day=date(2026, 11, 20), share=0.123456, budget=1000, granted=700, allowance=600, version="v"
    )
    assert view["left"] == 300
    assert view["grantable_now"] == 0, "pacing ahead of time: nothing grantable now"
    assert view["day_share_gone"] == 0.1235
    assert view["policy_version"] == "v"


# --- who may have traffic ---------------------------------------------------------------------
def test_weights_of_unscored_ineligible_and_eligible_subjects() -> None:
    assert domain.weight_of(None, 1.0) == (1.0, None)
    assert domain.weight_of(Band("poor", False, 0.6), 1.0) == (0.0, "poor")
    assert domain.weight_of(Band("good", True, 1.2), 1.0) == (1.2, "good")


def test_brand_refusals() -> None:
    assert domain.brand_refusal(under_penalty=True, weight=1.0, band="good") == (
        "brand_under_penalty"
    )
    assert domain.brand_refusal(under_penalty=False, weight=0.0, band="poor") == "brand_band_poor"
    assert domain.brand_refusal(under_penalty=False, weight=0.0, band=None) == "brand_band_None"
    assert domain.brand_refusal(under_penalty=False, weight=0.1, band="fair") is None


def test_a_penalty_restricts_only_with_a_restrictive_measure_until_its_latest_end() -> None:
    soon, later = NOW + timedelta(days=1), NOW + timedelta(days=3)
    assert domain.restriction([Measure(kind="warning")]) == (False, None)
    assert domain.restriction([]) == (False, None)
    restrictive = [Measure(kind="listing_ban", until=soon), Measure(kind="live_ban", until=later)]
    assert domain.restriction([*restrictive, Measure(kind="warning")]) == (True, later)
    assert domain.restriction([*restrictive, Measure(kind="suspend")]) == (True, None)


def test_a_light_finding_that_delists_one_product_does_not_bar_a_brand_for_good() -> None:
    """A 0-point false-advertising step delists the product with no end date: it once kept
    the brand out of Chuanliu forever; a settlement hold restricts no selling either."""
    light = [Measure(kind="warning"), Measure(kind="delist_products", product_ids=["p-1"])]
    assert domain.restriction(light) == (False, None)
    hold = [Measure(kind="settlement_hold", until=NOW + timedelta(days=30))]
    assert domain.restriction(hold) == (False, None)
    counterfeit = [
        Measure(kind="delist_products"),
        Measure(kind="listing_ban", until=NOW + timedelta(days=21)),
        Measure(kind="settlement_hold", until=NOW + timedelta(days=30)),
    ]
    assert domain.restriction(counterfeit) == (True, NOW + timedelta(days=21))


def test_a_penalty_keeps_out_its_subject_and_its_shop() -> None:
    assert domain.penalised_subjects("anchor-1", "shop-1") == {"anchor-1", "shop-1"}
    assert domain.penalised_subjects("shop-1", "shop-1") == {"shop-1"}
    assert domain.penalised_subjects("anchor-1", None) == {"anchor-1"}


# --- the grant plan ---------------------------------------------------------------------------
def test_every_candidate_gets_a_grant_in_order_when_nothing_binds() -> None:
    plan = plan_grants(buyers("a", "b", "c"), limits(), ledger())
    assert granted(plan) == ["a", "b", "c"]
    assert plan.impressions == 60
    assert plan.stop is None
    assert domain.outcome(len(plan.buyers), plan.stop) == "granted"


def test_zero_affinity_no_candidates_is_refused_no_affinity() -> None:
    plan = plan_grants([], limits(), ledger())
    assert plan.buyers == ()
    assert plan.stop == "no_affinity"
    assert domain.outcome(0, plan.stop) == "refused:no_affinity"


def test_a_brand_cap_below_one_grant_refuses_even_without_candidates() -> None:
    assert plan_grants([], limits(brand_cap=19), ledger()).stop == "brand_share_spent"
    plan = plan_grants(buyers("a"), limits(brand_cap=19), ledger())
    assert (plan.buyers, plan.stop) == ((), "brand_share_spent")


def test_the_brand_cap_stops_the_plan_part_way() -> None:
    plan = plan_grants(buyers("a", "b", "c"), limits(brand_cap=100), ledger(brand=60))
    assert granted(plan) == ["a", "b"]
    assert plan.stop == "brand_share_spent"
    assert domain.outcome(len(plan.buyers), plan.stop) == "granted"


def test_the_brand_cap_already_reached_grants_nothing() -> None:
    plan = plan_grants(buyers("a", "b"), limits(brand_cap=100), ledger(brand=100))
    assert (plan.buyers, plan.stop) == ((), "brand_share_spent")


def test_buyers_at_their_frequency_cap_are_skipped_not_stopped_at() -> None:
    plan = plan_grants(buyers("a", "b", "c"), limits(per_buyer_daily_cap=3), ledger(a=3, b=2))
    assert granted(plan) == ["b", "c"]
    assert plan.stop is None


def test_every_buyer_at_the_cap_grants_nothing_and_names_no_reason() -> None:
    plan = plan_grants(buyers("a", "b"), limits(per_buyer_daily_cap=1), ledger(a=1, b=5))
    assert (plan.buyers, plan.stop) == ((), None)
    assert domain.outcome(0, plan.stop) == "refused:None"


def test_an_exhausted_budget_is_budget_spent() -> None:
    plan = plan_grants(buyers("a"), limits(budget=400), ledger(budget=400))
    assert (plan.buyers, plan.stop) == ((), "budget_spent")
    assert domain.outcome(0, plan.stop) == "refused:budget_spent"


def test_the_budget_runs_out_part_way() -> None:
    plan = plan_grants(buyers("a", "b", "c"), limits(budget=400), ledger(budget=360))
    assert granted(plan) == ["a", "b"]
    assert plan.stop == "budget_spent"


def test_pacing_ahead_of_time_is_paced_not_spent() -> None:
    plan = plan_grants(buyers("a", "b"), limits(budget=1000, allowance=500), ledger(budget=480))
    assert granted(plan) == ["a"]
    assert plan.stop == "paced"
    nothing = plan_grants(buyers("a"), limits(budget=1000, allowance=500), ledger(budget=500))
    assert (nothing.buyers, nothing.stop) == ((), "paced")


def test_the_brand_cap_is_checked_before_the_budget() -> None:
    plan = plan_grants(buyers("a"), limits(brand_cap=20, budget=20), ledger(budget=20, brand=20))
    assert plan.stop == "brand_share_spent"


def test_a_capped_buyer_is_skipped_before_the_brand_cap_or_budget_stop() -> None:
    plan = plan_grants(buyers("a", "b"), limits(per_buyer_daily_cap=1, budget=20), ledger(a=1))
    assert granted(plan) == ["b"]
    assert plan.stop is None


def test_the_budget_stop_reason_depends_on_whether_pacing_holds_the_rest() -> None:
    assert domain.budget_refusal(1000, 1000) == "budget_spent"
    assert domain.budget_refusal(999, 1000) == "paced"
    assert domain.has_slot(2, 3)
    assert not domain.has_slot(3, 3)


def test_refusal_labels() -> None:
    assert domain.refusal_label("brand_band_poor") == "brand_band_poor"
    assert domain.refusal_label("refused:paced") == "refused"


# --- which sales count ------------------------------------------------------------------------
def order(**overrides: Any) -> ev.OrderFacts:
    fields: dict[str, Any] = dict(
        order_id="o1",
        shop_id="brand-1",
        shop_kind="brand",
        buyer_id="u1",
        product_id="p",
        sku_id="k",
        quantity=1,
        unit_price_fen=5000,
        total_fen=5000,
        attribution=ev.Attribution(
            channel="distribution",
            creator_id="c1",
            commission_rate_bp=1,
            plan_id="plan-1",
            promotion_id="prm-1",
        ),
        status="paid",
        placed_at=NOW,
        occurred_at=NOW,
        ship_by=NOW,
    )
    fields.update(overrides)
    return ev.OrderPaid(**fields)


LIVE = ev.Attribution(channel="live_room", room_id="room-1", anchor_id="brand-1")
# A creator selling the brand's goods in their own room through a promotion (达人分销).
IN_ROOM = ev.Attribution(
    channel="live_room",
    room_id="room-c1",
    anchor_id="c1",
    creator_id="c1",
    commission_rate_bp=1500,
    plan_id="plan-1",
    promotion_id="prm-2",
)


def test_distribution_affinity_needs_a_brand_and_a_creator() -> None:
    assert domain.is_brand_distribution(order())
    assert not domain.is_brand_distribution(order(shop_kind="merchant"))
    assert not domain.is_brand_distribution(
        order(attribution=ev.Attribution(channel="distribution"))
    )
    # a creator and a commission without a promotion (what a buyer could once declare)
    forged = ev.Attribution(channel="distribution", creator_id="c1", commission_rate_bp=10_000)
    assert not domain.is_brand_distribution(order(attribution=forged))
    # a creator's promotion in their own live room counts as distribution too
    assert domain.is_brand_distribution(order(attribution=IN_ROOM))
    assert not domain.is_brand_distribution(order(attribution=LIVE))


def test_payments_gain_affinity_and_refunds_withdraw_it() -> None:
    assert domain.affinity_change("orders.order.paid", 0) == "gained"
    assert domain.affinity_change("orders.order.refunded", 0) == "withdrawn"
    assert domain.affinity_change("orders.order.shipped", 100) == "withdrawn"
    assert domain.affinity_change("orders.order.shipped", 0) is None


def test_a_self_broadcast_sale_is_paid_in_the_brands_own_room() -> None:
    sale = order(attribution=LIVE)
    assert domain.live_room_of(sale) == "room-1"
    assert domain.live_room_of(order()) is None
    assert domain.live_room_of(order(attribution=ev.Attribution(channel="live_room"))) is None
    assert domain.is_self_broadcast(sale, "brand-1")
    assert not domain.is_self_broadcast(sale, None), "not a brand's room"
    assert not domain.is_self_broadcast(sale, "brand-2"), "another brand's room"
    assert not domain.is_self_broadcast(order(attribution=LIVE, status="placed"), "brand-1")


# --- attribution and rewards ------------------------------------------------------------------
def test_what_an_order_fact_means_for_the_creator() -> None:
    follow = domain.order_follow_up
    assert follow(inserted=True, attributed=True, creator="c") == "reward"
    assert follow(inserted=False, attributed=True, creator="c") == "reduce_reward"
    assert follow(inserted=True, attributed=False, creator=None) is None
    assert follow(inserted=False, attributed=False, creator=None) is None
    assert follow(inserted=True, attributed=True, creator=None) is None


def test_rewards_are_concave_in_a_creators_day_and_capped() -> None:
    """Rewards were linear and uncapped: ¥1,000 earned 100× what ¥10 did, so head creators
    took most. Now each further yuan of a creator's day earns less, up to a daily cap."""
    from laotie_chuanliu.policy import load_policy

    rewards = load_policy().rewards
    assert domain.reward_impressions(0, 2500, rewards, 1.0) == 131  # 10 × 25^0.8
    assert domain.reward_impressions(0, 2500, rewards, 0.5) == 65
    assert domain.reward_impressions(0, 0, rewards, 1.0) == 0
    # splitting a day's GMV into small orders earns nothing more: the curve is of the day
    split = sum(domain.reward_impressions(n * 500, 500, rewards, 1.0) for n in range(5))
    assert split <= domain.reward_impressions(0, 2500, rewards, 1.0)
    assert domain.reward_impressions(0, -100, rewards, 1.0) == 0
    # the same ¥25 order earns a mid-tier creator (¥100 so far) more than a head one (¥5,000)
    mid = domain.reward_impressions(10_000, 2500, rewards, 1.0)
    head = domain.reward_impressions(500_000, 2500, rewards, 1.0)
    assert mid > head >= 0
    # a day's rewards in all never pass the cap
    assert domain.reward_curve(10**9, rewards, 1.0) == rewards.daily_cap
    assert domain.reward_impressions(10**9, 2500, rewards, 1.0) == 0


def test_a_refund_withdraws_what_its_gmv_earned_the_day_in_any_order() -> None:
    from laotie_chuanliu.policy import load_policy

    rewards = load_policy().rewards

    def f(fen: int) -> int:
        return domain.reward_curve(fen, rewards, 1.0)

    # ¥30 rewarded (151), ¥5 refunded: the day is left with what ¥25 earns (131)
    assert domain.withdrawn_impressions(3000, 500, 151, rewards, 1.0) == f(3000) - f(2500)
    assert domain.withdrawn_impressions(3000, 0, 151, rewards, 1.0) == 0
    # two orders and a refund of the first, in either order: the day totals f(net)
    a_first = domain.reward_impressions(0, 3000, rewards, 1.0)
    b_then = domain.reward_impressions(3000, 2000, rewards, 1.0)
    a_refund = domain.withdrawn_impressions(5000, 500, a_first, rewards, 1.0)
    b_first = domain.reward_impressions(0, 2000, rewards, 1.0)
    a_then = domain.reward_impressions(2000, 3000, rewards, 1.0)
    a_refund_2 = domain.withdrawn_impressions(5000, 500, a_then, rewards, 1.0)
    assert a_first + b_then - a_refund == b_first + a_then - a_refund_2 == f(4500)


def test_creator_refusals() -> None:
    assert domain.creator_refusal(weight=0.0, under_penalty=True) == "creator_reputation"
    assert domain.creator_refusal(weight=1.0, under_penalty=True) == "creator_under_penalty"
    assert domain.creator_refusal(weight=1.0, under_penalty=False) is None


# --- uplift -----------------------------------------------------------------------------------
def test_the_uplift_window_defaults_to_the_30_days_to_today() -> None:
    today = date(2026, 11, 30)
    assert domain.uplift_window(today, None, None) == (date(2026, 11, 1), today)
    assert domain.uplift_window(today, None, date(2026, 11, 10)) == (
        date(2026, 10, 12),
        date(2026, 11, 10),
    )
    with pytest.raises(Unprocessable):
        domain.uplift_window(today, date(2026, 12, 1), None)


def test_uplift_per_day_and_in_total() -> None:
    rows = [
        {"day": "2026-11-01", "attributed_fen": 2500, "organic_fen": 3000},
        {"day": "2026-11-02", "attributed_fen": 100, "organic_fen": 0},
    ]
    body = domain.uplift("b", date(2026, 11, 1), date(2026, 11, 2), rows)
    assert [d["uplift"] for d in body["days"]] == [round(2500 / 3000, 4), None]
    assert (body["attributed_fen"], body["organic_fen"]) == (2600, 3000)
    assert body["uplift"] == round(2600 / 3000, 4)
    assert (body["from"], body["to"]) == ("2026-11-01", "2026-11-02")
    assert domain.ratio(1, 0) is None


def test_moderation_knows_a_creator_who_sold_through_a_promotion_in_their_room() -> None:
    """The counterfeit supplier charge reads the same promotion Chuanliu does."""
    from laotie_moderation.domain.detection import distribution_creator

    assert distribution_creator(order(attribution=IN_ROOM)) == "c1"
    assert distribution_creator(order(attribution=LIVE)) is None
    assert distribution_creator(order()) == "c1"


def test_the_holdout_is_a_stable_share_of_buyers() -> None:
    buyers = [f"buyer-{i}" for i in range(4000)]
    held = [b for b in buyers if domain.in_holdout(b, 0.1)]
    assert 0.08 < len(held) / len(buyers) < 0.12
    assert held == [b for b in buyers if domain.in_holdout(b, 0.1)], "the same every time"
    assert not any(domain.in_holdout(b, 0.0) for b in buyers)


def test_the_holdout_counts_only_buyers_the_plan_would_have_reached() -> None:
    everyone = [domain.Candidate(f"b{i}", 1.0 - i / 10, "c") for i in range(6)]
    held = [everyone[1], everyone[4]]
    treated = [c for c in everyone if c not in held]
    stopped = domain.GrantPlan(tuple(treated[:2]), 20, "budget_spent")  # b0, b2 granted
    assert domain.reached_holdout(everyone, held, stopped) == [everyone[1]]
    complete = domain.GrantPlan(tuple(treated), 20, None)
    assert domain.reached_holdout(everyone, held, complete) == held
    assert domain.reached_holdout(everyone, held, domain.GrantPlan((), 20, "no_affinity")) == []
