"""Events of the ``chuanliu`` service on ``chuanliu.traffic``, keyed by who gets the traffic:
a buyer (a grant: show them the brand's live room) or a creator (a reward: traffic for
their own room)."""

from __future__ import annotations

from pydantic import Field

from laotie_contracts.common import Fen, Id, UtcTime
from laotie_contracts.events import Event, event

TRAFFIC_TOPIC = "chuanliu.traffic"


@event("chuanliu.traffic.granted", topic=TRAFFIC_TOPIC, key="recipient_id")
class TrafficGranted(Event):
    """Recommend the brand's self-broadcast room to this buyer (川流计划)."""

    grant_id: Id
    recipient_id: Id = Field(description="The buyer who will see the brand's room.")
    brand_shop_id: Id
    room_id: Id
    session_id: Id
    via_creator_id: str | None = Field(description="The creator whose sale made the affinity.")
    affinity: float = Field(ge=0)
    impressions: int = Field(
        ge=1,
        description="Showings of the room's card in the buyer's feed, reserved while the"
        " session lasts (the unit of the budget).",
    )
    day: str = Field(description="Asia/Shanghai budget day.")
    granted_at: UtcTime
    round: int = Field(
        default=1,
        ge=1,
        description="The session's round that granted it: 1 at its start, then"
        " the top-ups while it is live.",
    )


@event("chuanliu.traffic.creator_rewarded", topic=TRAFFIC_TOPIC, key="recipient_id")
class CreatorRewarded(Event):
    """A creator's distribution led to an attributed self-broadcast order: traffic for their
    own room, in proportion to the GMV and their reputation."""

    reward_id: Id
    recipient_id: Id = Field(description="The creator.")
    brand_shop_id: Id
    order_id: Id
    attributed_gmv_fen: Fen
    reputation_band: str | None
    impressions: int = Field(ge=1)
    rewarded_at: UtcTime


@event("chuanliu.traffic.creator_reward_reduced", topic=TRAFFIC_TOPIC, key="recipient_id")
class CreatorRewardReduced(Event):
    """The attributed order was refunded (in part): its reward falls in proportion to the GMV
    left, and ``withdrawn_impressions`` go back to the day's budget."""

    reward_id: Id
    recipient_id: Id = Field(description="The creator.")
    brand_shop_id: Id
    order_id: Id
    attributed_gmv_fen: Fen = Field(description="What is left of the order's GMV.")
    impressions: int = Field(ge=0, description="The reward now.")
    withdrawn_impressions: int = Field(ge=1)
    reduced_at: UtcTime
