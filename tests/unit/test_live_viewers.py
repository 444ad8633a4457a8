"""Viewer counts are a function of the report timeline, not of arrival order or duplicates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from laotie_live.domain import ViewerEvent, viewer_counts

T0 = datetime(2026, 11, 23, 20, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_worked_example() -> None:
    events = [
        ViewerEvent("a", at(0), "join"),
        ViewerEvent("b", at(1), "join"),
        ViewerEvent("c", at(2), "join"),
        ViewerEvent("a", at(3), "leave"),
        ViewerEvent("a", at(4), "join"),
        ViewerEvent("b", at(5), "leave"),
        ViewerEvent("c", at(5), "leave"),
    ]
    assert viewer_counts(events).__dict__ == {"concurrent": 1, "peak": 3, "unique": 3}


def test_a_repeated_join_or_leave_changes_nothing() -> None:
    events = [
        ViewerEvent("a", at(0), "join"),
        ViewerEvent("a", at(1), "join"),
        ViewerEvent("a", at(2), "leave"),
        ViewerEvent("a", at(3), "leave"),
    ]
    assert viewer_counts(events).__dict__ == {"concurrent": 0, "peak": 1, "unique": 1}


def test_a_leave_before_any_join_counts_nothing() -> None:
    counts = viewer_counts([ViewerEvent("a", at(0), "leave"), ViewerEvent("b", at(1), "join")])
    assert (counts.concurrent, counts.peak) == (1, 1)


def test_simultaneous_swap_does_not_inflate_the_peak() -> None:
    events = [
        ViewerEvent("a", at(0), "join"),
        ViewerEvent("a", at(5), "leave"),
        ViewerEvent("b", at(5), "join"),
    ]
    assert viewer_counts(events).peak == 1


viewer_events = st.lists(
    st.builds(
        ViewerEvent,
        st.sampled_from("abcdefgh"),
        st.integers(0, 50).map(at),
        st.sampled_from(["join", "leave"]),
    ),
    max_size=80,
)


@given(viewer_events, st.randoms(use_true_random=False), st.integers(0, 3))
@settings(max_examples=300)
def test_order_and_duplicates_do_not_matter(
    events: list[ViewerEvent], rng: random.Random, copies: int
) -> None:
    shuffled = events + events[: len(events) // 2] * copies
    rng.shuffle(shuffled)
    assert viewer_counts(shuffled) == viewer_counts(events)


@given(viewer_events)
def test_counts_are_consistent(events: list[ViewerEvent]) -> None:
    counts = viewer_counts(events)
    assert 0 <= counts.concurrent <= counts.peak <= counts.unique
