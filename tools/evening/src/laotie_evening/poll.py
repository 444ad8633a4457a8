"""Waiting for a condition the services reach asynchronously, with a deadline, no fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, every: float = 0.25
) -> T:
    """What ``probe`` returns once it is not None (nor False), asked every ``every`` seconds;
    TimeoutError naming ``what`` if that takes longer than ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(every)
