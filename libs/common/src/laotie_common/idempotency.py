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
from typing import Any

import asyncpg
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from laotie_common import metrics
from laotie_common.auth import Principal
from laotie_common.db import Connection
from laotie_common.problems import Unprocessable

Command = Callable[[Connection], Awaitable[Any]]
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
) -> JSONResponse:
    """Run ``command(conn)`` in a transaction, honouring the request's Idempotency-Key.

    ``payload`` is what identifies the request besides method and path (its body);
    ``after_commit`` runs with the answer once the transaction committed (not on replays).
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
    for attempt in range(1, RETRIES + 1):
        try:
            response, body = await _run_once(
                pool, principal, key, route, request_hash, command, status_code
            )
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


async def _run_once(
    pool: asyncpg.Pool,
    principal: Principal,
    key: str | None,
    route: str,
    request_hash: str,
    command: Command,
    status_code: int,
) -> tuple[JSONResponse | None, Any]:
    """One attempt: (a replayed answer, None) or (None, the new answer's body)."""
    async with pool.acquire() as conn, conn.transaction():
        if key is not None:
            inserted = await conn.fetchval(
                "INSERT INTO idempotency_keys (principal, key, route, request_hash)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
                principal.key,
                key,
                route,
                request_hash,
            )
            if not inserted:
                row = await conn.fetchrow(
                    "SELECT request_hash, status_code, response FROM idempotency_keys"
                    " WHERE principal = $1 AND key = $2",
                    principal.key,
                    key,
                )
                assert row is not None
                if row["request_hash"] != request_hash:
                    raise Unprocessable(
                        "this Idempotency-Key was used for a different request; use a new key"
                    )
                metrics.IDEMPOTENT_REPLAYS.labels(route).inc()
                replay = JSONResponse(
                    json.loads(row["response"]),
                    status_code=row["status_code"],
                    headers={"Idempotent-Replayed": "true"},
                )
                return replay, None
        body = jsonable_encoder(await command(conn))
        if key is not None:
            await conn.execute(
                "UPDATE idempotency_keys SET status_code = $3, response = $4::jsonb"
                " WHERE principal = $1 AND key = $2",
                principal.key,
                key,
                status_code,
                json.dumps(body),
            )
    return None, body
