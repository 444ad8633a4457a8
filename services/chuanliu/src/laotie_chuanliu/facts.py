"""The facts Chuanliu's events carry (one place for each event's shape)."""

from __future__ import annotations

from datetime import date, datetime

from laotie_contracts.chuanliu import CreatorRewarded, TrafficGranted

from laotie_chuanliu.domain import Candidate


def traffic_granted(
    *,
    grant_id: str,
    buyer: Candidate,
    brand_id: str,
    room_id: str,
    session_id: str,
    impressions: int,
    day: date,
    now: datetime,
) -> TrafficGranted:
    return TrafficGranted(
        grant_id=grant_id,
        recipient_id=buyer.buyer_id,
        brand_shop_id=brand_id,
        room_id=room_id,
        session_id=session_id,
        via_creator_id=buyer.via_creator_id,
        affinity=round(buyer.affinity, 6),
        impressions=impressions,
        day=day.isoformat(),
        granted_at=now,
    )


def creator_rewarded(
    *,
    reward_id: str,
    creator: str,
    brand_id: str,
    order_id: str,
    gmv_fen: int,
    band: str | None,
    impressions: int,
    now: datetime,
) -> CreatorRewarded:
    return CreatorRewarded(
        reward_id=reward_id,
        recipient_id=creator,
        brand_shop_id=brand_id,
        order_id=order_id,
        attributed_gmv_fen=gmv_fen,
        reputation_band=band,
        impressions=impressions,
        rewarded_at=now,
    )
