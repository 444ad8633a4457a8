"""The dead-letter format, written by the consumer and read by the operations tools.

A dead letter is the original record (value, key, CloudEvents headers) plus ``dlq_*``
headers saying where it came from and why it failed. Replaying it means republishing the
original record (without the ``dlq_*`` headers) to its original topic; consumers are
idempotent by ``ce_id``, so a replayed record that was applied meanwhile changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PREFIX = "dlq_"
REPLAYED_FROM = "x-laotie-replayed-from"
REASON_MAX_CHARS = 4000
Headers = Sequence[tuple[str, bytes]]


def letter_headers(
    original: Headers,
    *,
    topic: str,
    partition: int,
    offset: int,
    consumer: str,
    error_class: str,
    reason: str,
    attempts: int,
) -> list[tuple[str, bytes]]:
    """The original record's headers followed by the ``dlq_*`` ones."""
    added = {
        "original_topic": topic,
        "original_partition": str(partition),
        "original_offset": str(offset),
        "consumer": consumer,
        "error_class": error_class,
        "reason": reason[:REASON_MAX_CHARS],
        "attempts": str(attempts),
        "failed_at": datetime.now(UTC).isoformat(),
    }
    return [*original, *((PREFIX + name, value.encode()) for name, value in added.items())]


def header(headers: Headers, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return None


@dataclass(frozen=True)
class DeadLetter:
    """One record read from a dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def original_topic(self) -> str | None:
        return self.header(PREFIX + "original_topic")

    @property
    def reason(self) -> str:
        return self.header(PREFIX + "reason") or ""

    @property
    def consumer(self) -> str | None:
        return self.header(PREFIX + "consumer")

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers to replay it with: the original ones and where it was replayed from."""
        kept = [(k, v) for k, v in self.headers if not k.startswith(PREFIX)]
        return [*kept, (REPLAYED_FROM, f"{self.topic}/{self.ref}".encode())]

    def summary(self) -> dict[str, Any]:
        field = self.header
        return {
            "ref": self.ref,
            "consumer": self.consumer,
            "original": f"{self.original_topic}/{field(PREFIX + 'original_partition')}@"
            f"{field(PREFIX + 'original_offset')}",
            "event_type": field("ce_type"),
            "event_id": field("ce_id"),
            "error_class": field(PREFIX + "error_class"),
            "reason": self.reason,
            "attempts": field(PREFIX + "attempts"),
            "failed_at": field(PREFIX + "failed_at"),
        }
