"""The benchmark's HTTP load client: aiohttp on one connection pool.

Measured here, httpx (the tests' client) spends a whole core on ~300 requests/s against a
bare route, where aiohttp drives ~3,000 with two thirds of one: with httpx the benchmark
measured its own client. The bench reports the client's CPU as well.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp


class LoadClient:
    def __init__(self, base_url: str, connections: int) -> None:
        self._base_url, self._connections = base_url, connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LoadClient:
        self._session = aiohttp.ClientSession(
            self._base_url,
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        await self._session.close()

    async def post(self, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
        """(status, JSON body) of one POST."""
        assert self._session is not None
        async with self._session.post(path, json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)
