"""Live-room rules without I/O: who owns a room, and viewers from join/leave reports.

The viewer counts are defined on the *timeline* of reports, not on their arrival order: a
viewer is present from a join until the next leave; a repeated join or leave changes
nothing; reports arriving late or twice give the same counts. The SQL in ``stats.py``
computes the same thing; :func:`viewer_counts` is its reference, used by the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from laotie_common.auth import Principal, Role


@dataclass(frozen=True)
class ViewerEvent:
    viewer_id: str
    at: datetime
    action: str  # join | leave


@dataclass(frozen=True)
class ViewerCounts:
    concurrent: int
    peak: int
    unique: int


def viewer_counts(events: Iterable[ViewerEvent]) -> ViewerCounts:
    distinct = sorted(set(events), key=lambda e: (e.viewer_id, e.at, e.action))
    deltas: list[tuple[datetime, int]] = []
    for _, mine in groupby(distinct, key=lambda e: e.viewer_id):
        present = False
        for e in mine:
            now_present = e.action == "join"
            if now_present != present:
                deltas.append((e.at, 1 if now_present else -1))
            present = now_present
    deltas.sort()
    running = peak = 0
    for _, group in groupby(deltas, key=lambda d: d[0]):  # reports at one instant count together
        running += sum(d for _, d in group)
        peak = max(peak, running)
    unique = len({e.viewer_id for e in distinct if e.action == "join"})
    return ViewerCounts(concurrent=running, peak=peak, unique=unique)


def is_room_owner(
    principal: Principal, owner_type: str, owner_id: str, shop_id: str | None
) -> bool:
    """The anchor or creator who owns the room, or a seller of the brand's shop."""
    if owner_type == "brand":
        return principal.role is Role.SELLER and principal.shop_id == shop_id
    return principal.role is Role.ANCHOR and principal.subject == owner_id
