"""The appeal window's compressed clock (``APPEAL_WINDOW_S``, demos and tests only): seconds
from the decision instead of natural days in the policy's calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from laotie_moderation.bootstrap import Settings, build
from laotie_moderation.domain.decisions import appeal_deadline, check_appealable
from laotie_moderation.policy import load_policy

POLICY = load_policy()
OFFLINE: dict[str, Any] = {
    "database_url": "postgresql://nobody@127.0.0.1:1/none",
    "kafka_bootstrap_servers": "x:1",
}


def test_a_compressed_window_ends_that_many_seconds_after_the_decision() -> None:
    assert POLICY.appeal_window_s is None  # never set in the policy file
    compressed = POLICY.model_copy(update={"appeal_window_s": 20})
    for decided in (
        datetime(2026, 3, 1, 15, 59, 50, tzinfo=UTC),  # 1 March 23:59:50 in Shanghai
        datetime(2026, 3, 1, 16, 0, tzinfo=UTC),  # 2 March 00:00 in Shanghai
    ):
        deadline = appeal_deadline(compressed, decided)
        assert deadline == decided + timedelta(seconds=20)
        check_appealable("diversion", "active", deadline, decided + timedelta(seconds=19))
    # Without it, the same decision keeps its seven natural days.
    assert appeal_deadline(POLICY, datetime(2026, 3, 1, 16, tzinfo=UTC)) == datetime(
        2026, 3, 9, 16, tzinfo=UTC
    )


def test_the_service_compresses_the_window_only_when_appeal_window_s_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("APPEAL_WINDOW_S", raising=False)
    assert build(Settings(**OFFLINE)).spec.config.appeal_window_s is None
    monkeypatch.setenv("APPEAL_WINDOW_S", "20")
    policy = build(Settings(**OFFLINE)).spec.config
    assert policy.appeal_window_s == 20
    assert policy.version == POLICY.version  # the rest of the policy is the file's
