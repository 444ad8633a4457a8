"""Moderation's periodic work."""

from __future__ import annotations

from datetime import timedelta

from laotie_common.logs import get_logger

from laotie_moderation import queries
from laotie_moderation.usecases import Tx
from laotie_moderation.usecases.detection import judge_late_weeks
from laotie_moderation.usecases.penalties import book_due_points, expire_penalties

log = get_logger(__name__)
SHIPMENTS_KEPT = timedelta(weeks=5)  # longer than any week still being judged


async def sweep(tx: Tx) -> None:
    """Book points whose appeal window lapsed; expire penalties whose measures ran out; judge
    the weeks with new late shipments; forget the orders of weeks long judged."""
    booked = await book_due_points(tx)
    expired = await expire_penalties(tx)
    await judge_late_weeks(tx)
    await queries.forget_shipments(tx.conn, tx.now - SHIPMENTS_KEPT)
    if booked or expired:
        tx.after_commit.append(
            lambda: log.info("moderation sweep", points_booked=booked, penalties_expired=expired)
        )
