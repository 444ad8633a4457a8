"""asyncpg pools bound to one service's schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from laotie_common.settings import ServiceSettings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # What handlers and commands receive: a plain connection or one borrowed from a pool.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose ``acquire`` waits at most ``acquire_timeout`` seconds unless told
    otherwise: past it ``TimeoutError`` (a command answers 503, a consumer retries), so
    requests never queue without end behind a full pool."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def create_pool(settings: ServiceSettings) -> asyncpg.Pool:
    """The service's pool. asyncpg's reset query runs when a connection returns (one round
    trip per use): a connection left broken by a cancelled query or a crashed server fails it
    and is replaced, instead of failing its next user. Skipping it was tried (see
    docs/performance.md) and undone for that reason. Every session has a ``statement_timeout``
    and a ``lock_timeout``: a row held by a stuck transaction fails the waiter after seconds
    instead of stopping it (and, in a consumer, its whole batch) indefinitely. A connection is
    waited for at most ``db_acquire_timeout_s``."""
    pool = BoundedPool(
        settings.database_url,
        acquire_timeout=settings.db_acquire_timeout_s,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        max_queries=50_000,  # asyncpg's defaults, which create_pool would pass
        max_inactive_connection_lifetime=300.0,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        loop=None,
        server_settings={
            "search_path": settings.schema_name,
            "application_name": settings.service_name,
            "timezone": "UTC",
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_lock_timeout_ms),
        },
    )
    await pool
    return pool
