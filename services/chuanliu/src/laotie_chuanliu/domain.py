"""Chuanliu's rules without I/O: who may have traffic, how much of the day's budget may go
out by now, which buyers a brand's session start reaches and why it stops, which sales
count as distribution affinity or self-broadcast, what a creator's reward is, the uplift.

The use cases read the ledgers (``queries``), ask these functions, and write what they
decide; the day's budget row is locked for the deciding transaction, so what was read stays
true until it commits (concurrent replicas serialise on it and never grant past the budget).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from laotie_common.problems import Unprocessable
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import Measure

if TYPE_CHECKING:
    from laotie_chuanliu.policy import Rewards

# Measures that restrict selling or traffic, and so take a subject out of Chuanliu while
# they last. Not a delisting (the goods delisted take no orders anyway; without an end it
# barred a brand for good for one 0-point finding), a settlement hold (money, not selling),
# a fee, points or a warning.
RESTRICTIVE_MEASURES = frozenset(
    {"live_ban", "listing_ban", "traffic_restriction", "suspend", "close"}
)
PAID = frozenset({order_events.OrderPaid.ce_type})
REFUNDS = frozenset({order_events.OrderRefunded.ce_type})

# Why a session start earned no (or not every) grant; why a creator earned no reward.
BRAND_UNDER_PENALTY = "brand_under_penalty"
NO_AFFINITY = "no_affinity"
BRAND_SHARE_SPENT = "brand_share_spent"
BUDGET_SPENT = "budget_spent"
PACED = "paced"
CREATOR_REPUTATION = "creator_reputation"
CREATOR_UNDER_PENALTY = "creator_under_penalty"


# --- the calendar and the budget --------------------------------------------------------------
def day_of(moment: datetime, timezone: str) -> tuple[date, float]:
    """The local day of ``moment`` in ``timezone`` and the share of that day gone (0..1)."""
    local = moment.astimezone(ZoneInfo(timezone))
    midnight = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    return local.date(), (local - midnight) / timedelta(days=1)


def paced_allowance(budget: int, day_share: float, headroom: float) -> int:
    """How much of the day's budget may be granted by now: budget × (share gone + headroom),
    never more than the budget."""
    return min(budget, int(budget * min(1.0, day_share + headroom)))


def brand_cap(budget: int, brand_share: float, weight: float) -> int:
    """The most a brand may take in a day: budget × brand share × its band weight."""
    return int(budget * brand_share * weight)


def todays_budget(requested: int, granted: int) -> int:
    """An operator's new budget applies today too, but never below what is already out."""
    return max(requested, granted)


def budget_view(
    *, day: date, share: float, budget: int, granted: int, allowance: int, version: str
) -> dict[str, Any]:
    return {
        "day": day,
        "budget": budget,
        "granted": granted,
        "left": budget - granted,
        "day_share_gone": round(share, 4),
        "paced_allowance_now": allowance,
        "grantable_now": max(0, allowance - granted),
        "policy_version": version,
    }


# --- who may have traffic ---------------------------------------------------------------------
@dataclass(frozen=True)
class Band:
    """A subject's latest score band, as scoring publishes it."""

    band: str
    chuanliu_eligible: bool
    traffic_weight: float


def weight_of(band: Band | None, unscored: float) -> tuple[float, str | None]:
    """A subject's traffic weight and band: ``unscored`` without a score yet, 0 when its band
    is not eligible for Chuanliu."""
    if band is None:
        return unscored, None
    return (band.traffic_weight if band.chuanliu_eligible else 0.0), band.band


def brand_refusal(*, under_penalty: bool, weight: float, band: str | None) -> str | None:
    """Why a brand gets no traffic at all, or None when it may have some."""
    if under_penalty:
        return BRAND_UNDER_PENALTY
    if weight <= 0:
        return f"brand_band_{band}"
    return None


def restriction(measures: Iterable[Measure]) -> tuple[bool, datetime | None]:
    """Whether a penalty's measures keep its subject out of Chuanliu, and until when (None:
    for good, when one restrictive measure has no end)."""
    restrictive = [m for m in measures if m.kind in RESTRICTIVE_MEASURES]
    if not restrictive:
        return False, None
    if any(m.until is None for m in restrictive):
        return True, None
    return True, max(m.until for m in restrictive if m.until)


def penalised_subjects(subject_id: str, shop_id: str | None) -> set[str]:
    """Who a penalty keeps out: its subject, and the shop concerned if any."""
    return {subject_id} | ({shop_id} if shop_id else set())


# --- grants -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A buyer the brand's distribution sales pulled (affinity above the minimum), and the
    creator of the buyer's latest such sale."""

    buyer_id: str
    affinity: float
    via_creator_id: str


@dataclass(frozen=True)
class Limits:
    per_grant: int  # impressions of one grant
    per_buyer_daily_cap: int  # grants a buyer may receive a day, all brands together
    brand_cap: int  # impressions the brand may take today
    budget: int  # today's budget
    allowance: int  # what of it may be out by now (pacing)


@dataclass(frozen=True)
class Ledger:
    """What is out today already: in the budget, to the brand, to each buyer (grants)."""

    budget_granted: int
    brand_granted: int
    buyer_grants: Mapping[str, int]


@dataclass(frozen=True)
class GrantPlan:
    buyers: tuple[Candidate, ...]  # who gets a grant of ``per_grant``, in order
    per_grant: int
    stop: str | None  # why it stopped short (None: every candidate with a slot got one)
    held: tuple[Candidate, ...] = ()  # held out (the holdout) whom the plan would have reached

    @property
    def impressions(self) -> int:
        return len(self.buyers) * self.per_grant


def has_slot(grants_today: int, cap: int) -> bool:
    """The buyer's frequency cap: one more grant today?"""
    return grants_today < cap


def budget_refusal(allowance: int, budget: int) -> str:
    """Why the day's budget takes no more: all of it is out, or pacing holds the rest."""
    return BUDGET_SPENT if allowance >= budget else PACED


def in_holdout(buyer_id: str, share: float) -> bool:
    """Whether the buyer is in the holdout: a stable hash of the id below ``share``."""
    digest = hashlib.sha256(f"chuanliu-holdout:{buyer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


def split_holdout(
    candidates: Sequence[Candidate], share: float
) -> tuple[list[Candidate], list[Candidate]]:
    """(to plan grants for, held out) in the candidates' order."""
    treated = [c for c in candidates if not in_holdout(c.buyer_id, share)]
    held = [c for c in candidates if in_holdout(c.buyer_id, share)]
    return treated, held


def reached_holdout(
    everyone: Sequence[Candidate], held: Sequence[Candidate], plan: GrantPlan
) -> list[Candidate]:
    """The held-out buyers the plan would have reached: all of them when it granted every
    candidate it could, else those ranked above the last buyer granted (none when nobody
    is granted)."""
    if not plan.buyers:
        return []
    if plan.stop is None:
        return list(held)
    rank = {c.buyer_id: i for i, c in enumerate(everyone)}
    last = rank[plan.buyers[-1].buyer_id]
    return [c for c in held if rank[c.buyer_id] < last]


def arm(buyers: int, converted: int, net_fen: int) -> dict[str, Any]:
    return {
        "buyers": buyers,
        "converted": converted,
        "conversion": round(converted / buyers, 4) if buyers else None,
        "net_fen_per_buyer": round(net_fen / buyers, 2) if buyers else None,
    }


def holdout_uplift(treated: dict[str, Any], held: dict[str, Any]) -> dict[str, Any]:
    """Treated against holdout: conversion and net GMV per buyer, with the sample sizes;
    None where the holdout has nothing to compare with."""
    t, h = treated["conversion"], held["conversion"]
    tg, hg = treated["net_fen_per_buyer"], held["net_fen_per_buyer"]
    return {
        "treated": treated,
        "holdout": held,
        "conversion_uplift": round(t / h - 1, 4) if t is not None and h else None,
        "net_fen_per_buyer_uplift": round(tg - hg, 2)
        if tg is not None and hg is not None
        else None,
    }


def plan_grants(candidates: Sequence[Candidate], limits: Limits, ledger: Ledger) -> GrantPlan:
    """One grant per candidate in order (highest affinity first), skipping buyers at their
    frequency cap, until the brand's cap or the paced budget takes no more."""
    per_grant = limits.per_grant
    if per_grant > limits.brand_cap:
        return GrantPlan((), per_grant, BRAND_SHARE_SPENT)
    stop = None if candidates else NO_AFFINITY
    budget_out, brand_out = ledger.budget_granted, ledger.brand_granted
    counts = dict(ledger.buyer_grants)
    chosen: list[Candidate] = []
    for candidate in candidates:
        if not has_slot(counts.get(candidate.buyer_id, 0), limits.per_buyer_daily_cap):
            continue
        if brand_out + per_grant > limits.brand_cap:
            stop = BRAND_SHARE_SPENT
            break
        if budget_out + per_grant > min(limits.budget, limits.allowance):
            stop = budget_refusal(limits.allowance, limits.budget)
            break
        counts[candidate.buyer_id] = counts.get(candidate.buyer_id, 0) + 1
        brand_out += per_grant
        budget_out += per_grant
        chosen.append(candidate)
    return GrantPlan(tuple(chosen), per_grant, stop)


def reach(max_per_round: int, weight: float) -> int:
    """The buyers one round may reach: the policy's most × the brand's band weight."""
    return int(max_per_round * weight)


def next_round_at(rounds: int, limit: int, now: datetime, every_s: float) -> datetime | None:
    """When a live session's next round is due after its ``rounds``-th (None: it had its
    last)."""
    return now + timedelta(seconds=every_s) if rounds < limit else None


def outcome(grants: int, refusal: str | None) -> str:
    """A session's recorded outcome: granted if any grant went out (in any round so far)."""
    return "granted" if grants else f"refused:{refusal}"


def refusal_label(refusal: str) -> str:
    """The refusal's label on the refusals metric."""
    return refusal.split(":")[0]


# --- which sales count ------------------------------------------------------------------------
AffinityChange = Literal["gained", "withdrawn"]


def is_brand_distribution(facts: order_events.OrderFacts) -> bool:
    """A brand's sale through a creator's promotion of it (达人分销: in the creator's shop
    window, video or room; ``promotion_id`` set by orders from a valid reference, never by the
    buyer): it builds the buyer's affinity."""
    a = facts.attribution
    return bool(a.promotion_id) and facts.shop_kind == "brand" and bool(a.creator_id)


def affinity_change(ce_type: str, refunded_fen: int) -> AffinityChange | None:
    """A payment adds affinity; a refund (even seen before the payment) withdraws it."""
    if ce_type in PAID:
        return "gained"
    if ce_type in REFUNDS or refunded_fen > 0:
        return "withdrawn"
    return None


def live_room_of(facts: order_events.OrderFacts) -> str | None:
    """The live room a sale was made in, if any."""
    a = facts.attribution
    return a.room_id if a.channel == "live_room" and a.room_id else None


def is_self_broadcast(facts: order_events.OrderFacts, room_brand: str | None) -> bool:
    """A paid sale in the brand's own room (``room_brand``: the brand owning the room)."""
    return room_brand is not None and room_brand == facts.shop_id and facts.was_paid()


# --- attribution and rewards ------------------------------------------------------------------
OrderFollowUp = Literal["reward", "reduce_reward"]


def order_follow_up(
    *, inserted: bool, attributed: bool, creator: str | None
) -> OrderFollowUp | None:
    """What a self-broadcast order's fact means for the creator behind its grant: a first
    attributed fact rewards; a later one (a refund) may only lower the reward."""
    if creator is None or not attributed:
        return None
    return "reward" if inserted else "reduce_reward"


def reward_curve(day_net_fen: int, rewards: Rewards, weight: float) -> int:
    """What a creator's attributed net GMV of one day earns in all: concave in the GMV,
    capped per day, times their reputation weight."""
    yuan = max(0, day_net_fen) / 100
    curve = rewards.impressions_per_yuan * math.pow(yuan, rewards.exponent)
    return math.floor(weight * min(float(rewards.daily_cap), curve))


def reward_impressions(before_fen: int, net_fen: int, rewards: Rewards, weight: float) -> int:
    """An order's reward: what the creator's day earns with it, less what it earned before."""
    after = reward_curve(before_fen + net_fen, rewards, weight)
    return max(0, after - reward_curve(before_fen, rewards, weight))


def withdrawn_impressions(
    day_net_fen: int, refunded_fen: int, impressions: int, rewards: Rewards, weight: float
) -> int:
    """What a refund of ``refunded_fen`` withdraws from its order's reward: what the
    creator's day earned with that GMV less what it earns without (at most the order's
    reward). Rewards and refunds telescope, so a creator's day always totals what its net
    GMV earns, whatever order the facts arrive in; how it splits between orders does not."""
    if refunded_fen <= 0:
        return 0
    lost = reward_impressions(day_net_fen - refunded_fen, refunded_fen, rewards, weight)
    return min(impressions, lost)


def creator_refusal(*, weight: float, under_penalty: bool) -> str | None:
    """Why a creator is not rewarded, or None when they are."""
    if weight <= 0:
        return CREATOR_REPUTATION
    if under_penalty:
        return CREATOR_UNDER_PENALTY
    return None


# --- uplift -----------------------------------------------------------------------------------
def uplift_window(today: date, since: date | None, until: date | None) -> tuple[date, date]:
    """The days asked (default: the 30 days to today); 'from' may not be after 'to'."""
    until = until or today
    since = since or until - timedelta(days=29)
    if since > until:
        raise Unprocessable("'from' must not be after 'to'")
    return since, until


def ratio(part: int, whole: int) -> float | None:
    """Attributed / non-attributed net GMV; None when there is no organic GMV to compare."""
    return round(part / whole, 4) if whole > 0 else None


def uplift(
    brand_id: str, since: date, until: date, rows: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    days = [{**dict(r), "uplift": ratio(r["attributed_fen"], r["organic_fen"])} for r in rows]
    attributed = sum(int(d["attributed_fen"]) for d in days)
    organic = sum(int(d["organic_fen"]) for d in days)
    return {
        "brand_id": brand_id,
        "from": since.isoformat(),
        "to": until.isoformat(),
        "days": days,
        "attributed_fen": attributed,
        "organic_fen": organic,
        "uplift": ratio(attributed, organic),
    }
