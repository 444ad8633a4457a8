"""asyncpg pools bound to one service's schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from laotie_common.settings import ServiceSettings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # What handlers and commands receive: a plain connection or one borrowed from a pool.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection


async def create_pool(settings: ServiceSettings) -> asyncpg.Pool:
    """The service's pool. asyncpg's reset query runs when a connection returns (one round
        trip per use): a connection left broken by a cancelled query or a crashed server fails it
        and is replaced, instead of failing its next user. Skipping it was tried (see
        docs/performance.md) and undone for that reason. Every session has a ``statement_timeout``
    and a ``lock_timeout``: a row held by a stuck transaction fails the waiter after seconds
    instead of stopping it (and, in a consumer, its whole batch) indefinitely."""
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        server_settings={
            "search_path": settings.schema_name,
            "application_name": settings.service_name,
            "timezone": "UTC",
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_lock_timeout_ms),
        },
    )
    assert pool is not None
    return pool
