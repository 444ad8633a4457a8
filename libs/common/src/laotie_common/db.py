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
    """The service's pool. Its connections carry no session state: nothing on them LISTENs,
    SETs or takes a session advisory lock (the relay and migrations use their own connection
    or transaction-scoped ones), so a connection returned to the pool is only rolled back if
    a transaction was left open, without asyncpg's reset query (one round trip per use)."""
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        reset=_nothing_to_reset,
        server_settings={
            "search_path": settings.schema_name,
            "application_name": settings.service_name,
            "timezone": "UTC",
        },
    )
    assert pool is not None
    return pool


async def _nothing_to_reset(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    return None
