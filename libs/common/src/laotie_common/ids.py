"""Time-ordered identifiers (UUIDv7) for events and aggregates."""

from __future__ import annotations

import uuid_utils


def new_id() -> str:
    return str(uuid_utils.uuid7())
