"""``Idempotency-Key`` for HTTP commands: a retry returns the first answer.

The key is scoped to the caller. The first request stores its key, runs the command and
stores the answer *in the same transaction* as the command's effects and events, so an
answer is stored exactly when the effect happened. A concurrent duplicate waits on the
key's row and then returns the stored answer. A command that fails (4xx) rolls back its key
too, so a corrected retry runs. Reusing a key for a different request is a 422.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from laotie_common import metrics
from laotie_common.auth import Principal
from laotie_common.db import Connection
from laotie_common.group_commit import GroupCommit
from laotie_common.problems import Unprocessable

Command = Callable[[Connection], Awaitable[Any]]
Lane = tuple[GroupCommit, str, str]  # the group commit, the lane's kind and its key
MAX_KEY_LENGTH = 200
RETRIES = 4  # attempts when a concurrent transaction deadlocks or conflicts with this one


async def run_command(
    request: Request,
    pool: asyncpg.Pool,
    principal: Principal,
    command: Command,
    *,
    status_code: int = 200,
    payload: Any = None,
    after_commit: Callable[[Any], None] | None = None,
    lane: Lane | None = None,
) -> JSONResponse:
    """Run ``command(conn)`` in a transaction, honouring the request's Idempotency-Key.

    ``payload`` is what identifies the request besides method and path (its body);
    ``after_commit`` runs with the answer once the transaction committed (not on replays);
    ``lane`` (a group commit and the lane's kind and key) shares the transaction with
    concurrent commands of that lane, this one in its own savepoint.
    """
    key = request.headers.get("Idempotency-Key")
    route = getattr(request.scope.get("route"), "path", request.url.path)
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH):
        raise Unprocessable(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    request_hash = hashlib.sha256(
        json.dumps(
            [request.method, request.url.path, jsonable_encoder(payload)], sort_keys=True
        ).encode()
    ).hexdigest()
    response: JSONResponse | None = None
    body: Any = None
    once = _Attempt(principal, key, route, request_hash, command, status_code)
    for attempt in range(1, RETRIES + 1):
        try:
            if lane is None:
                async with pool.acquire() as conn, conn.transaction():
                    response, body = await once(conn)
            else:
                group, kind, lane_key = lane
                response, body = await group.run(kind, lane_key, once)
            break
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            # Another transaction won a race; the whole command is safe to run again.
            if attempt == RETRIES:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
    if response is not None:
        return response
    if after_commit is not None:
        after_commit(body)  # e.g. business metrics: counted once, when the effect is real
    return JSONResponse(body, status_code=status_code)


@dataclass(frozen=True)
class _Attempt:
    """One attempt inside the caller's transaction: (a replayed answer, None) or (None, the
    new answer's body)."""

    principal: Principal
    key: str | None
    route: str
    request_hash: str
    command: Command
    status_code: int

    async def __call__(self, conn: Connection) -> tuple[JSONResponse | None, Any]:
        if self.key is not None:
            inserted = await conn.fetchval(
                "INSERT INTO idempotency_keys (principal, key, route, request_hash)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
                self.principal.key,
                self.key,
                self.route,
                self.request_hash,
            )
            if not inserted:
                return await self._replay(conn, self.key), None
        body = jsonable_encoder(await self.command(conn))
        if self.key is not None:
            await conn.execute(
                "UPDATE idempotency_keys SET status_code = $3, response = $4::jsonb"
                " WHERE principal = $1 AND key = $2",
                self.principal.key,
                self.key,
                self.status_code,
                json.dumps(body),
            )
        return None, body

    async def _replay(self, conn: Connection, key: str) -> JSONResponse:
        """The stored answer of the first request with this key (waited for if it runs)."""
        row = await conn.fetchrow(
            "SELECT request_hash, status_code, response FROM idempotency_keys"
            " WHERE principal = $1 AND key = $2",
            self.principal.key,
            key,
        )
        assert row is not None
        if row["request_hash"] != self.request_hash:
            raise Unprocessable(
                "this Idempotency-Key was used for a different request; use a new key"
            )
        metrics.IDEMPOTENT_REPLAYS.labels(self.route).inc()
        return JSONResponse(
            json.loads(row["response"]),
            status_code=row["status_code"],
            headers={"Idempotent-Replayed": "true"},
        )
