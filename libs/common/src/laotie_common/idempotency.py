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
from typing import Any, TypeVar

import asyncpg
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from laotie_common import metrics
from laotie_common.auth import Principal
from laotie_common.db import Connection
from laotie_common.group_commit import Batch
from laotie_common.problems import Unprocessable

Command = Callable[[Connection], Awaitable[Any]]
T = TypeVar("T")
MAX_KEY_LENGTH = 200
RETRIES = 4  # attempts when a concurrent transaction deadlocks or conflicts with this one


@dataclass(frozen=True)
class Identity:
    """What makes two requests the same command: the caller, its key, the route, the body."""

    principal: Principal
    key: str | None
    route: str
    request_hash: str


def identify(request: Request, principal: Principal, payload: Any) -> Identity:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH):
        raise Unprocessable(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    request_hash = hashlib.sha256(
        json.dumps(
            [request.method, request.url.path, jsonable_encoder(payload)], sort_keys=True
        ).encode()
    ).hexdigest()
    route = getattr(request.scope.get("route"), "path", request.url.path)
    return Identity(principal, key, route, request_hash)


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()`` again when another transaction won a race (deadlock, serialization):
    the whole command is then safe to run again."""
    for n in range(1, RETRIES + 1):
        try:
            return await attempt()
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if n == RETRIES:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.05) * n)
    raise AssertionError("unreachable")


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
    once = _Attempt(identify(request, principal, payload), command, status_code)

    async def attempt() -> tuple[JSONResponse | None, Any]:
        async with pool.acquire() as conn, conn.transaction():
            return await once(conn)

    response, body = await retrying(attempt)
    if response is not None:
        return response
    if after_commit is not None:
        after_commit(body)  # e.g. business metrics: counted once, when the effect is real
    return JSONResponse(body, status_code=status_code)


class _Replay:
    """A lane's outcome for a command whose key was taken: answer it on the one-command path
    (which replays the stored answer, waiting for it if its first request still runs)."""


REPLAY = _Replay()


@dataclass(frozen=True)
class Keyed:
    """A command waiting in a lane (see :mod:`laotie_common.group_commit`), with its key."""

    identity: Identity
    command: Any  # the lane's own description of the command
    status_code: int


def keyed(batch: Batch) -> Batch:
    """``batch`` with Idempotency-Keys honoured for a whole batch at once: the keys claimed
    in one statement (a key already there, or twice in the batch, gets ``REPLAY``), the
    answers stored in one, a refused command's key released in one, so a corrected retry
    runs — as each command alone would have had it."""

    async def run(
        conn: Connection, lane_key: str, items: list[Keyed]
    ) -> tuple[list[Any], Callable[[], None]]:
        claimed = await _claim(conn, items)
        todo = [i for i, item in enumerate(items) if item.identity.key is None or i in claimed]
        outcomes: list[Any] = [REPLAY] * len(items)
        results, committed = await batch(conn, lane_key, [items[i].command for i in todo])
        answered: list[tuple[Identity, int, Any]] = []
        refused: list[Identity] = []
        for i, result in zip(todo, results, strict=True):
            who = items[i].identity
            if isinstance(result, BaseException):
                outcomes[i] = result
                refused.append(who)
            else:
                outcomes[i] = body = jsonable_encoder(result)
                answered.append((who, items[i].status_code, body))
        await _store(conn, [a for a in answered if a[0].key], [r for r in refused if r.key])
        return outcomes, committed

    return run


async def _claim(conn: Connection, items: list[Keyed]) -> set[int]:
    """Indexes of the keyed items whose key this batch now holds (first of each key only)."""
    first: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        if item.identity.key is not None:
            first.setdefault((item.identity.principal.key, item.identity.key), i)
    if not first:
        return set()
    ids = [items[i].identity for i in first.values()]
    rows = await conn.fetch(
        "INSERT INTO idempotency_keys (principal, key, route, request_hash)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
        " ON CONFLICT DO NOTHING RETURNING principal, key",
        [i.principal.key for i in ids],
        [i.key for i in ids],
        [i.route for i in ids],
        [i.request_hash for i in ids],
    )
    return {first[(r["principal"], r["key"])] for r in rows}


async def _store(
    conn: Connection, answered: list[tuple[Identity, int, Any]], refused: list[Identity]
) -> None:
    if answered:
        await conn.execute(
            "UPDATE idempotency_keys k SET status_code = u.s, response = u.r::jsonb"
            " FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS u(p, k, s, r)"
            " WHERE k.principal = u.p AND k.key = u.k",
            [who.principal.key for who, _, _ in answered],
            [who.key for who, _, _ in answered],
            [status for _, status, _ in answered],
            [json.dumps(body) for _, _, body in answered],
        )
    if refused:
        await conn.execute(
            "DELETE FROM idempotency_keys k USING unnest($1::text[], $2::text[]) AS u(p, k)"
            " WHERE k.principal = u.p AND k.key = u.k",
            [who.principal.key for who in refused],
            [who.key for who in refused],
        )


@dataclass(frozen=True)
class _Attempt:
    """One attempt inside the caller's transaction: (a replayed answer, None) or (None, the
    new answer's body)."""

    identity: Identity
    command: Command
    status_code: int

    async def __call__(self, conn: Connection) -> tuple[JSONResponse | None, Any]:
        who = self.identity
        if who.key is not None:
            inserted = await conn.fetchval(
                "INSERT INTO idempotency_keys (principal, key, route, request_hash)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
                who.principal.key,
                who.key,
                who.route,
                who.request_hash,
            )
            if not inserted:
                return await self._replay(conn, who.key), None
        body = jsonable_encoder(await self.command(conn))
        if who.key is not None:
            await conn.execute(
                "UPDATE idempotency_keys SET status_code = $3, response = $4::jsonb"
                " WHERE principal = $1 AND key = $2",
                who.principal.key,
                who.key,
                self.status_code,
                json.dumps(body),
            )
        return None, body

    async def _replay(self, conn: Connection, key: str) -> JSONResponse:
        """The stored answer of the first request with this key (waited for if it runs)."""
        row = await conn.fetchrow(
            "SELECT request_hash, status_code, response FROM idempotency_keys"
            " WHERE principal = $1 AND key = $2",
            self.identity.principal.key,
            key,
        )
        assert row is not None
        if row["request_hash"] != self.identity.request_hash:
            raise Unprocessable(
                "this Idempotency-Key was used for a different request; use a new key"
            )
        metrics.IDEMPOTENT_REPLAYS.labels(self.identity.route).inc()
        return JSONResponse(
            json.loads(row["response"]),
            status_code=row["status_code"],
            headers={"Idempotent-Replayed": "true"},
        )
