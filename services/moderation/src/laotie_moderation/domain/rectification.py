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


@dataclass(frozen=True)
class Delisting:
    """A penalty whose delisting names the product: who decided its violation, on what text."""

    penalty_id: str
    decided_by: str
    text: str | None


def rescan_outcome(
    delistings: Sequence[Delisting],
    text: str,
    findings: Sequence[tuple[str, Finding]],
    in_review: str | None,
) -> Outcome:
    """Accepted by the re-scan only when a detector made every delisting, the words it saw
    changed, and none trips now; a reviewer's decision (an upheld report) is lifted by a
    reviewer; one resubmission of a product waits for review at a time."""
    if not delistings:
        return Outcome(
            "rejected", RESCAN, "no delisting for the product's content stands to be lifted"
        )
    if in_review is not None:
        return Outcome("rejected", RESCAN, f"resubmission {in_review} is already in review")
    if findings:
        found = "; ".join(f"{code}: {finding.rule}" for code, finding in findings)
        return Outcome("in_review", None, f"the new text still trips {found}")
    if any(d.decided_by.startswith("reviewer:") for d in delistings):
        return Outcome("in_review", None, "a reviewer decided the delisting: a reviewer lifts it")
    if any(d.text == text for d in delistings):
        return Outcome("in_review", None, "the text is the one the delisting was decided on")
    return Outcome("accepted", RESCAN, None)


def product_text(title: str, description: str) -> str:
    """The words of a product that are scanned: its title and description."""
    return f"{title}\n{description}"


def product_trigger(version: str, rectified: int) -> str:
    """What makes a product's words offend again: their version, and how many times the
    product was rectified since (the old words back after a rectification offend anew)."""
    return version if not rectified else f"{version}#rectified-{rectified}"
