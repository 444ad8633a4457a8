"""What a resubmitted product's re-scan decides (rectification, 整改), without I/O."""

from __future__ import annotations

from laotie_moderation.domain.diversion import Finding
from laotie_moderation.domain.rectification import Delisting, product_trigger, rescan_outcome

NEW, OLD = "羊毛围巾 加厚", "全网最低价 羊毛围巾"
BY_RULE = Delisting("pen-1", "absolute_claim", OLD)


def test_changed_clean_words_of_a_detector_made_delisting_are_accepted_by_the_rescan() -> None:
    outcome = rescan_outcome([BY_RULE], NEW, [], None)
    assert (outcome.status, outcome.decided_by) == ("accepted", "rule:rescan")


def test_a_reviewers_delisting_is_lifted_by_a_reviewer_however_clean_the_words() -> None:
    """An upheld report (not_as_described, a chat's diversion) is no detector's finding: a
    clean re-scan proves nothing about it."""
    by_reviewer = Delisting("pen-2", "reviewer:rev-1", NEW)
    assert rescan_outcome([BY_RULE, by_reviewer], NEW + "!", [], None).status == "in_review"


def test_unchanged_words_are_not_accepted_by_the_rescan() -> None:
    """A detector since tuned may pass the very words it once flagged: a person looks."""
    assert rescan_outcome([BY_RULE], OLD, [], None).status == "in_review"


def test_words_still_tripping_a_detector_wait_for_a_reviewer() -> None:
    found = [("false_advertising", Finding("absolute_claim", "全网最低"))]
    outcome = rescan_outcome([BY_RULE], NEW, found, None)
    assert outcome.status == "in_review"
    assert "absolute_claim" in str(outcome.reason)


def test_nothing_to_rectify_and_one_in_review_at_a_time_are_refused() -> None:
    assert rescan_outcome([], NEW, [], None).status == "rejected"
    waiting = rescan_outcome([BY_RULE], NEW, [], "rect-1")
    assert waiting.status == "rejected"
    assert "rect-1" in str(waiting.reason)


def test_the_old_words_back_after_a_rectification_are_a_new_trigger() -> None:
    assert product_trigger("v1", 0) == "v1", "ids of products never rectified are unchanged"
    assert product_trigger("v1", 1) != product_trigger("v1", 0)
    assert product_trigger("v1", 2) != product_trigger("v1", 1)
