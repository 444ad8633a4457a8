"""The facts Chuanliu's events carry, built from its rows (one place for each event's shape)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from laotie_contracts.chuanliu import CreatorRewarded, CreatorRewardReduced, TrafficGranted


def traffic_granted(grant: asyncpg.Record, room_id: str) -> TrafficGranted:
    return TrafficGranted(
        grant_id=grant["grant_id"],
        recipient_id=grant["buyer_id"],
        brand_shop_id=grant["brand_id"],
        room_id=room_id,
        session_id=grant["session_id"],
        via_creator_id=grant["via_creator_id"],
        affinity=round(grant["affinity"], 6),
        impressions=grant["impressions"],
        day=grant["day"].isoformat(),
        granted_at=grant["granted_at"],
        round=grant["round"],
    )


def creator_reward_reduced(
    reward: asyncpg.Record, withdrawn: int, now: datetime
) -> CreatorRewardReduced:
    return CreatorRewardReduced(
        reward_id=reward["reward_id"],
        recipient_id=reward["creator_id"],
        brand_shop_id=reward["brand_id"],
        order_id=reward["order_id"],
        attributed_gmv_fen=reward["net_fen"],
        impressions=reward["impressions"],
        withdrawn_impressions=withdrawn,
        reduced_at=now,
    )


def creator_rewarded(reward: asyncpg.Record, attributed_gmv_fen: int) -> CreatorRewarded:
    return CreatorRewarded(
        reward_id=reward["reward_id"],
        recipient_id=reward["creator_id"],
        brand_shop_id=reward["brand_id"],
        order_id=reward["order_id"],
        attributed_gmv_fen=attributed_gmv_fen,
        reputation_band=reward["band"],
        impressions=reward["impressions"],
        rewarded_at=reward["rewarded_at"],
    )
