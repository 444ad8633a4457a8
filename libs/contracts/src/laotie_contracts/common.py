"""Types shared by the event contracts: money in fen, aware UTC times, identifiers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return value


Fen = Annotated[int, Field(ge=0, le=10**13, description="Money in fen (0.01 yuan), an integer.")]
UtcTime = Annotated[datetime, AfterValidator(_aware)]
Id = Annotated[str, Field(min_length=1, max_length=100)]
