"""Moderation's periodic work."""

from __future__ import annotations

from laotie_common.logs import get_logger

from laotie_moderation.usecases import Tx
from laotie_moderation.usecases.penalties import book_due_points, expire_penalties

log = get_logger(__name__)


async def sweep(tx: Tx) -> None:
    """Book points whose appeal window lapsed; expire penalties whose measures ran out."""
    booked = await book_due_points(tx)
    expired = await expire_penalties(tx)
    if booked or expired:
        tx.after_commit.append(
            lambda: log.info("moderation sweep", points_booked=booked, penalties_expired=expired)
        )
