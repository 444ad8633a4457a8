"""Error classes that decide what a consumer does with a failing record.

- :class:`PoisonRecord`: the record can never succeed (undecodable, invalid, rejected by the
  domain). It goes to the dead-letter topic at once and the partition moves on.
- transient: the world is unwell (database down, deadlock, broker unreachable). Retried with
  bounded backoff; when the budget is spent the record is *not* dead-lettered but fetched
  again, so a good record is never parked because a dependency blinked.
- unknown: anything else (most likely a bug). Retried a few times, then dead-lettered with
  the error, to be replayed after the fix.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import asyncpg
from aiokafka.errors import KafkaError


class PoisonRecord(Exception):
    """A record that can never be applied; ``reason`` says why, for the dead-letter headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(Exception):
    """Raise to ask for a retry of the whole record (e.g. a dependency not ready yet)."""


class ErrorClass(StrEnum):
    POISON = "poison"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


_TRANSIENT_PG = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
    asyncpg.AdminShutdownError,
)
# Not asyncpg.DataError: it is also what a client-side encoding bug raises, and a bug must be
# retried and then parked with its error, not classed as a bad record at once.
_POISON_PG: tuple[type[Exception], ...] = ()


def classify(exc: BaseException) -> ErrorClass:
    # A ValidationError here is a bug building our own data (input is checked by
    # Envelope.parse, which raises PoisonRecord): it is retried, then parked with its error.
    if isinstance(exc, (PoisonRecord, *_POISON_PG)):
        return ErrorClass.POISON
    if isinstance(exc, (TransientError, OSError, asyncio.TimeoutError, KafkaError, *_TRANSIENT_PG)):
        return ErrorClass.TRANSIENT
    return ErrorClass.UNKNOWN
