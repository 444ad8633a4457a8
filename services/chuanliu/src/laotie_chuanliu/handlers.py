"""What Chuanliu applies from other services' streams: each handler parses its event and
calls a use case in the unit of work it is given (``usecases`` says what each does).

- ``orders.order``: distribution sales (affinity) and their refunds (withdrawal); paid sales
  in a brand's own room (attribution, rewards);
- ``live.room``: brands' rooms, their session starts (the first round of grants) and ends
  (no more top-ups);
- ``scoring.score-latest``: the bands of shops and creators;
- ``moderation.penalty``: who is kept out while a penalty lasts.
"""

from __future__ import annotations

from laotie_common.envelope import Envelope, parsed
from laotie_contracts import live as live_events
from laotie_contracts import orders as order_events
from laotie_contracts.moderation import PenaltyFacts
from laotie_contracts.scoring import ScoreCurrent, ScoreNotEnoughData

from laotie_chuanliu import usecases
from laotie_chuanliu.usecases import Tx


async def on_order_fact(tx: Tx, envelope: Envelope) -> None:
    await usecases.apply_order_fact(tx, envelope.type, envelope.parse(order_events.OrderFacts))


async def on_session_started(tx: Tx, envelope: Envelope) -> None:
    room = envelope.parse(live_events.RoomFacts)
    if not await usecases.note_brand_room(tx, room):
        return
    session = envelope.parse(live_events.SessionStarted)
    assert room.shop_id is not None  # a brand's room (note_brand_room)
    await usecases.grant_for_session(
        tx, session_id=session.session_id, room_id=session.room_id, brand_id=room.shop_id
    )


HANDLERS = {
    **dict.fromkeys(order_events.ORDER_EVENT_TYPES, on_order_fact),
    "live.room.created": parsed(live_events.RoomFacts, usecases.note_brand_room),
    "live.room.session_started": on_session_started,
    "live.room.session_ended": parsed(live_events.SessionEnded, usecases.end_session),
    "scoring.score-latest.current": parsed(ScoreCurrent, usecases.record_band),
    "scoring.score-latest.not_enough_data": parsed(ScoreNotEnoughData, usecases.forget_band),
    "moderation.penalty.applied": parsed(PenaltyFacts, usecases.apply_penalty),
    "moderation.penalty.revoked": parsed(PenaltyFacts, usecases.revoke_penalty),
}
