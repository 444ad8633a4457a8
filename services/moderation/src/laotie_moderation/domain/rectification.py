"""Rectification (整改) without I/O: what a resubmitted product's re-scan decides.

A product delisted for its words (a code in the policy's ``rectification.codes``) is sold
again once its new text passes the detectors; a text still tripping one goes to a reviewer
(a detector can be wrong, and the seller deserves a person's look); a product no such
delisting names has nothing to rectify.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from laotie_moderation.domain.diversion import Finding

RESCAN = "rule:rescan"


@dataclass(frozen=True)
class Outcome:
    status: str  # accepted | in_review | rejected
    decided_by: str | None
    reason: str | None


def rescan_outcome(penalty_ids: Sequence[str], findings: Sequence[tuple[str, Finding]]) -> Outcome:
    if not penalty_ids:
        return Outcome(
            "rejected", RESCAN, "no delisting for the product's content stands to be lifted"
        )
    if findings:
        found = "; ".join(f"{code}: {finding.rule}" for code, finding in findings)
        return Outcome("in_review", None, f"the new text still trips {found}")
    return Outcome("accepted", RESCAN, None)


def product_text(title: str, description: str) -> str:
    """The words of a product that are scanned: its title and description."""
    return f"{title}\n{description}"
