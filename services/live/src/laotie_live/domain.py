"""Live-room rules without I/O.

Viewer counts are defined on the *timeline* of reports, not on their arrival order (the SQL
in ``queries.py``): a viewer is present from a join until the next leave; a repeated join
or leave changes nothing; reports at one instant count together; reports arriving late or
twice give the same counts.
"""

from __future__ import annotations

from laotie_contracts.live import SessionTotals

LIVE_BAN_MEASURES = frozenset({"live_ban", "close"})


def session_totals(
    *,
    gmv_fen: int,
    refunded_fen: int,
    orders: int,
    buyers: int,
    unique_viewers: int,
    peak_viewers: int,
    comments: int,
) -> SessionTotals:
    """A session's totals; conversion is buyers per unique viewer (0 with no viewer)."""
    return SessionTotals(
        gmv_fen=gmv_fen,
        refunded_fen=refunded_fen,
        net_gmv_fen=gmv_fen - refunded_fen,
        orders=orders,
        buyers=buyers,
        unique_viewers=unique_viewers,
        peak_viewers=peak_viewers,
        comments=comments,
        conversion=round(buyers / unique_viewers, 4) if unique_viewers else 0.0,
    )
