"""Every transition of the order and refund state machines, legal and illegal."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from laotie_orders.domain import (
    ORDER_TRANSITIONS,
    IllegalTransition,
    LiveRoom,
    OrderAction,
    OrderStatus,
    Promotion,
    RefundAction,
    RefundKind,
    RefundStatus,
    RuleViolation,
    SaleWindow,
    attribute,
    check_attribution,
    check_refund_request,
    next_order_status,
    next_refund_status,
)

LEGAL_ORDER_MOVES = {
    ("placed", "pay"): "paid",
    ("placed", "cancel"): "cancelled",
    ("placed", "expire"): "cancelled",
    ("paid", "ship"): "shipped",
    ("paid", "refund_in_full"): "cancelled",
    ("shipped", "deliver"): "delivered",
    ("delivered", "confirm"): "completed",
    ("delivered", "auto_complete"): "completed",
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(OrderStatus, OrderAction)))
def test_order_state_machine(status: OrderStatus, action: OrderAction) -> None:
    expected = LEGAL_ORDER_MOVES.get((status.value, action.value))
    if expected is None:
        with pytest.raises(IllegalTransition, match=f"an order that is {status.value}"):
            next_order_status(status, action)
    else:
        assert next_order_status(status, action) == expected


def test_the_table_is_exactly_the_documented_moves() -> None:
    assert {(s.value, a.value): t.value for (s, a), t in ORDER_TRANSITIONS.items()} == (
        LEGAL_ORDER_MOVES
    )


def test_terminal_order_states_accept_nothing() -> None:
    for status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED):
        for action in OrderAction:
            with pytest.raises(IllegalTransition):
                next_order_status(status, action)


def _granted(kind: RefundKind) -> str:
    return "awaiting_return" if kind is RefundKind.RETURN_AND_REFUND else "refunded"


def legal_refund_move(status: str, kind: RefundKind, action: str) -> str | None:
    table = {
        ("requested", "approve"): _granted(kind),
        ("requested", "auto_approve"): _granted(kind),
        ("requested", "reject"): "rejected",
        ("rejected", "escalate"): "disputed",
        ("disputed", "decide_for_buyer"): _granted(kind),
        ("disputed", "decide_for_merchant"): "closed",
        ("awaiting_return", "ship_return"): "returned",
        ("awaiting_return", "lapse_return"): "closed",
        ("returned", "receive"): "refunded",
        ("returned", "auto_receive"): "refunded",
    }
    return table.get((status, action))


@pytest.mark.parametrize(
    ("status", "kind", "action"),
    list(itertools.product(RefundStatus, RefundKind, RefundAction)),
)
def test_refund_state_machine(status: RefundStatus, kind: RefundKind, action: RefundAction) -> None:
    expected = legal_refund_move(status.value, kind, action.value)
    if expected is None:
        with pytest.raises(IllegalTransition, match=f"a refund that is {status.value}"):
            next_refund_status(status, kind, action)
    else:
        assert next_refund_status(status, kind, action) == expected


@pytest.mark.parametrize(
    ("order_status", "kind", "amount", "refunded", "problem"),
    [
        ("paid", "refund_only", 100, 0, None),
        ("paid", "refund_only", 1, 99, None),
        ("shipped", "return_and_refund", 100, 0, None),
        ("completed", "refund_only", 50, 50, None),
        ("placed", "refund_only", 100, 0, "IllegalTransition"),
        ("cancelled", "refund_only", 100, 0, "IllegalTransition"),
        ("paid", "return_and_refund", 100, 0, "IllegalTransition"),
        ("paid", "refund_only", 101, 0, "refund_exceeds_paid"),
        ("shipped", "refund_only", 51, 50, "refund_exceeds_paid"),
        ("shipped", "refund_only", 0, 0, "refund_exceeds_paid"),
    ],
)
def test_refund_requests(
    order_status: str, kind: str, amount: int, refunded: int, problem: str | None
) -> None:
    if problem is None:
        check_refund_request(order_status, kind, amount, 100, refunded)
    elif problem == "IllegalTransition":
        with pytest.raises(IllegalTransition):
            check_refund_request(order_status, kind, amount, 100, refunded)
    else:
        with pytest.raises(RuleViolation) as caught:
            check_refund_request(order_status, kind, amount, 100, refunded)
        assert caught.value.reason == problem


@pytest.mark.parametrize(
    ("channel", "fields", "problem"),
    [
        ("shop_page", {}, None),
        ("live_room", {"room_id": "r", "anchor_id": "a"}, None),
        ("live_room", {"room_id": "r"}, None),  # the anchor is the room's owner
        ("live_room", {"anchor_id": "a"}, "attribution_incomplete"),
        ("short_video", {"video_id": "v"}, None),
        ("short_video", {"creator_id": "c"}, "attribution_incomplete"),
        ("distribution", {"promotion_ref": "prm_x"}, None),
        ("distribution", {"creator_id": "c"}, "attribution_incomplete"),
        # the buyer never names the creator or the commission of a distribution order
        (
            "distribution",
            {"promotion_ref": "prm_x", "creator_id": "c"},
            "attribution_inconsistent",
        ),
        ("live_room", {"room_id": "r", "anchor_id": "a", "promotion_ref": "prm_x"}, None),
        ("shop_page", {"promotion_ref": "prm_x"}, "attribution_inconsistent"),
        ("shop_page", {"room_id": "r"}, "attribution_inconsistent"),
        (
            "live_room",
            {"room_id": "r", "anchor_id": "a", "commission_rate_bp": 1},
            "attribution_inconsistent",
        ),
    ],
)
def test_attribution_names_who_gets_credit(
    channel: str, fields: dict[str, object], problem: str | None
) -> None:
    if problem is None:
        check_attribution(channel, {"channel": channel, **fields})
    else:
        with pytest.raises(RuleViolation) as caught:
            check_attribution(channel, {"channel": channel, **fields})
        assert caught.value.reason == problem


T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
PROMO = Promotion(
    promotion_id="prm-1",
    plan_id="plan-1",
    product_id="p-1",
    creator_id="creator-1",
    placement="shop_window",
    placement_id="creator-1",
    commission_rate_bp=1500,
    starts_at=T0,
    ends_at=T0 + timedelta(days=7),
    ended_at=None,
)
IN_ROOM = Promotion(**{**PROMO.__dict__, "placement": "live_room", "placement_id": "room-9"})


def live(fields: Mapping[str, object]) -> LiveRoom | None:
    """The room a live-room order names, live and owned by the anchor it names."""
    if fields["channel"] != "live_room":
        return None
    return LiveRoom(str(fields["room_id"]), str(fields["anchor_id"]), "session-1")


def test_a_promotion_credits_its_creator_at_the_plans_commission() -> None:
    fields = {"channel": "distribution", "promotion_ref": "prm_x"}
    assert attribute(fields, PROMO, None, "p-1", T0 + timedelta(hours=1)) == {
        "channel": "distribution",
        "creator_id": "creator-1",
        "commission_rate_bp": 1500,
        "plan_id": "plan-1",
        "promotion_id": "prm-1",
    }
    room = {"channel": "live_room", "room_id": "room-9", "anchor_id": "creator-1"}
    placed = attribute({**room, "promotion_ref": "prm_y"}, IN_ROOM, live(room), "p-1", T0)
    assert placed["creator_id"] == "creator-1"
    assert placed["commission_rate_bp"] == 1500
    assert attribute(room, None, live(room), "p-1", T0) == room  # no promotion needed


def test_a_video_order_credits_a_creator_only_through_a_reference() -> None:
    video = {"channel": "short_video", "video_id": "v-1"}
    assert attribute(video, None, None, "p-1", T0) == video
    with pytest.raises(RuleViolation) as caught:
        attribute({**video, "creator_id": "any-creator-i-like"}, None, None, "p-1", T0)
    assert caught.value.reason == "attribution_inconsistent"
    in_video = Promotion(**{**PROMO.__dict__, "placement": "short_video", "placement_id": "v-1"})
    placed = attribute({**video, "promotion_ref": "prm_v"}, in_video, None, "p-1", T0)
    assert placed["creator_id"] == "creator-1"


def test_a_live_room_order_is_credited_to_the_rooms_owner_while_it_is_live() -> None:
    owned = LiveRoom("room-9", "anchor-9", "session-1")
    fields = {"channel": "live_room", "room_id": "room-9"}
    assert attribute(fields, None, owned, "p-1", T0)["anchor_id"] == "anchor-9"
    refusals = {
        "room_not_live": (fields, None),
        "attribution_inconsistent": ({**fields, "anchor_id": "any-anchor-i-like"}, owned),
    }
    ended = LiveRoom("room-9", "anchor-9", None)
    for reason, (body, room) in [*refusals.items(), ("room_not_live", (fields, ended))]:
        with pytest.raises(RuleViolation) as caught:
            attribute(body, None, room, "p-1", T0)
        assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("fields", "promotion", "product", "at", "problem"),
    [
        ({"channel": "distribution", "promotion_ref": "forged"}, None, "p-1", T0, "invalid"),
        ({"channel": "distribution", "promotion_ref": "r"}, PROMO, "p-2", T0, "invalid"),
        (
            {
                "channel": "live_room",
                "room_id": "room-1",
                "anchor_id": "creator-1",
                "promotion_ref": "r",
            },
            IN_ROOM,
            "p-1",
            T0,
            "invalid",
        ),
        (
            {
                "channel": "live_room",
                "room_id": "room-9",
                "anchor_id": "other",
                "promotion_ref": "r",
            },
            IN_ROOM,
            "p-1",
            T0,
            "invalid",
        ),
        ({"channel": "distribution", "promotion_ref": "r"}, IN_ROOM, "p-1", T0, "invalid"),
        (
            {"channel": "distribution", "promotion_ref": "r"},
            PROMO,
            "p-1",
            T0 + timedelta(days=7),
            "ended",
        ),
        (
            {"channel": "distribution", "promotion_ref": "r"},
            Promotion(**{**PROMO.__dict__, "ended_at": T0 + timedelta(hours=1)}),
            "p-1",
            T0 + timedelta(hours=2),
            "ended",
        ),
    ],
)
def test_a_reference_that_does_not_fit_the_order_is_refused(
    fields: dict[str, object],
    promotion: Promotion | None,
    product: str,
    at: datetime,
    problem: str,
) -> None:
    with pytest.raises(RuleViolation) as caught:
        attribute(fields, promotion, live(fields), product, at)
    assert caught.value.reason == f"promotion_{problem}"


def test_flash_sale_window() -> None:
    start = datetime(2026, 11, 23, 20, tzinfo=UTC)
    window = SaleWindow(start, start + timedelta(minutes=10))
    window.check(start)
    window.check(start + timedelta(minutes=9, seconds=59))
    for moment, reason in (
        (start - timedelta(seconds=1), "sale_not_started"),
        (start + timedelta(minutes=10), "sale_ended"),
    ):
        with pytest.raises(RuleViolation) as caught:
            window.check(moment)
        assert caught.value.reason == reason
    SaleWindow(None, None).check(start)


def test_allot_refuses_over_the_limit_before_the_stock_and_a_refusal_takes_nothing() -> None:
    from laotie_orders.domain import allot

    got = allot(3, 2, {"a": 1}, [("a", 2), ("b", 5), ("b", 2), ("c", 2), ("c", 1), ("d", 1)])
    # a holds 1, so 2 more is over the limit, as is b's 5 (even with stock short too); b's 2
    # fits; c's 2 finds only 1 left and takes nothing, so c's 1 still gets it; d finds none.
    assert got.refusals == [
        "limit_exceeded",
        "limit_exceeded",
        None,
        "out_of_stock",
        None,
        "out_of_stock",
    ]
    assert got.stock_left == 0
    assert got.holdings == {"b": 2, "c": 1}, "only the changed holdings"
    assert allot(1, None, {}, [("a", 1), ("a", 1)]).holdings == {}, "no limit: nothing held"


def test_allot_refuses_a_buyer_at_the_unpaid_cap_first_and_counts_what_it_grants() -> None:
    from laotie_orders.domain import Unpaid, allot

    got = allot(10, 1, {}, [("a", 1), ("a", 1), ("b", 1), ("b", 2), ("b", 1)], Unpaid({"a": 2}, 3))
    # a has 2 open of 3: one more is granted, the next refused for the cap (before the
    # limit); b's first is granted, then b is at the limit of 1 while still under the cap.
    assert got.refusals == [None, "unpaid_orders_open", None, "limit_exceeded", "limit_exceeded"]
    assert allot(5, None, {}, [("c", 1)] * 4, Unpaid({}, 2)).refusals == [
        None,
        None,
        "unpaid_orders_open",
        "unpaid_orders_open",
    ]


@pytest.mark.parametrize("seed", range(200))
def test_allot_on_a_batch_equals_one_by_one(seed: int) -> None:
    """A group of reservations is decided exactly as each alone, in arrival order."""
    import random

    from laotie_orders.domain import Unpaid, allot

    rng = random.Random(seed)
    limit = rng.choice([None, 1, 2, 3])
    stock = rng.randint(0, 12)
    cap = rng.randint(1, 4)
    wanted = [(f"b{rng.randint(0, 5)}", rng.randint(1, 3)) for _ in range(rng.randint(0, 20))]
    batch = allot(stock, limit, {}, wanted, Unpaid({"b0": 1}, cap))
    left, held, refusals, open_ = stock, dict[str, int](), [], {"b0": 1}
    for one in wanted:
        alone = allot(left, limit, held, [one], Unpaid(dict(open_), cap))
        refusals += alone.refusals
        left, held = alone.stock_left, {**held, **alone.holdings}
        if alone.refusals == [None]:
            open_[one[0]] = open_.get(one[0], 0) + 1
    assert (batch.refusals, batch.stock_left) == (refusals, left)
    assert batch.holdings == held
    assert sum(q for (_, q), r in zip(wanted, refusals, strict=True) if r is None) == stock - left


@pytest.mark.parametrize(
    ("restrictions", "blocked"),
    [
        ((), None),
        (("listing_ban",), "listing_ban"),
        (("suspend", "close"), "close, suspend"),
        (("fine",), None),
    ],
)
def test_a_restricted_shop_lists_nothing(
    restrictions: tuple[str, ...], blocked: str | None
) -> None:
    from laotie_orders.domain import check_listing

    if blocked is None:
        check_listing(restrictions, "shop s1")
        return
    with pytest.raises(RuleViolation) as caught:
        check_listing(restrictions, "shop s1")
    assert caught.value.reason == "listing_banned"
    assert caught.value.detail == f"shop s1 may not list products now ({blocked})"


def test_a_sku_sells_while_its_product_is_active_its_shop_open_and_its_sale_on() -> None:
    from laotie_orders.domain import check_sellable

    now = datetime(2026, 11, 23, 20, tzinfo=UTC)
    open_sale = SaleWindow(None, None)
    check_sellable("p1", "active", "s1", ["listing_ban"], open_sale, now)
    for status, restrictions, sale, reason in (
        ("delisted", [], open_sale, "product_unavailable"),
        ("banned", ["suspend"], open_sale, "product_unavailable"),
        ("active", ["suspend"], open_sale, "shop_suspended"),
        ("active", ["close"], SaleWindow(now + timedelta(hours=1), None), "shop_suspended"),
        ("active", [], SaleWindow(now + timedelta(hours=1), None), "sale_not_started"),
        ("active", [], SaleWindow(None, now), "sale_ended"),
    ):
        with pytest.raises(RuleViolation) as caught:
            check_sellable("p1", status, "s1", restrictions, sale, now)
        assert caught.value.reason == reason


def test_refusals_name_the_limit_or_the_stock() -> None:
    from laotie_orders.domain import refusal

    over = refusal("limit_exceeded", "k1", 3, 2)
    assert (over.reason, over.detail) == ("limit_exceeded", "at most 2 per buyer for this SKU")
    short = refusal("out_of_stock", "k1", 3, None)
    assert (short.reason, short.detail) == ("out_of_stock", "not enough stock for 3 of SKU k1")


def test_a_full_refund_before_shipment_cancels_the_order() -> None:
    from laotie_orders.domain import cancelled_by_refund

    assert cancelled_by_refund("paid", 500, 500)
    assert not cancelled_by_refund("paid", 200, 500), "a partial refund leaves it paid"
    assert not cancelled_by_refund("shipped", 500, 500), "shipped: the goods are on their way"


def test_what_a_penalty_reaches() -> None:
    from laotie_orders.domain import named_products, penalised_shop, restriction_until

    assert penalised_shop("shop", "s1", None) == "s1"
    assert penalised_shop("product", "p1", "s2") == "s2"
    assert penalised_shop("product", "p1", None) is None
    assert named_products("product", "p1", []) == ["p1"]
    assert named_products("product", "p1", ["p2"]) == ["p2"]
    assert named_products("shop", "s1", []) == [], "none named: the shop's products"
    until = datetime(2026, 12, 1, tzinfo=UTC)
    assert restriction_until("suspend", until) == until
    assert restriction_until("close", until) is None, "a closure is for good"
