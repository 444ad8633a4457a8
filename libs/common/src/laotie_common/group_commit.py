"""Group commit for commands on a hot row: concurrent commands of one *lane* (a flash sale's
SKU) share one transaction, each in its own savepoint.

A flash sale (秒杀) serialises on its SKU's stock row: every reservation holds the row lock
from its ``UPDATE`` until its commit, and a commit waits for an fsync. So commands of one lane
in this process queue here and one leader at a time runs them: it takes up to ``max_batch``
waiting commands, runs each in a savepoint of one transaction (a command that fails rolls back
alone and gets its own error; the others carry on), commits once and answers each. What
arrives while a batch runs waits for the next one: no timer, no added latency when the lane
is quiet. Replicas each group their own commands; their batches queue on the row lock,
which each batch takes first (``lock_first``), before its commands take any other lock (a
buyer's limit row, an Idempotency-Key): two replicas' batches never wait on each other in
opposite orders.

Each command keeps what it had alone: its own answer, its own Idempotency-Key row, its own
outbox events, its own retries. If the batch's transaction fails (a deadlock, a lost
connection), no command of it took effect and each gets that error. A caller that goes
away (cancelled) while its batch runs is not answered; its command may still commit, as a
command whose client disconnects after its commit does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from laotie_common import metrics
from laotie_common.db import Connection

Work = Callable[[Connection], Awaitable[Any]]
LockFirst = Callable[[Connection, str], Awaitable[None]]  # locks a lane's hot row by its key


@dataclass
class _Waiting:
    work: Work
    answer: asyncio.Future[Any]


class GroupCommit:
    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool],
        *,
        max_batch: int,
        lock_first: dict[str, LockFirst] | None = None,
    ) -> None:
        self._pool = pool
        self._max = max_batch
        self._lock_first = lock_first or {}
        self._lanes: dict[tuple[str, str], list[_Waiting]] = {}
        self._leaders: set[asyncio.Task[None]] = set()

    async def run(self, kind: str, key: str, work: Work) -> Any:
        """Run ``work(conn)`` in a transaction shared with the lane's other waiting commands;
        returns its result once that transaction committed (or raises its error)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        lane = (kind, key)
        waiting = self._lanes.get(lane)
        if waiting is None:
            self._lanes[lane] = waiting = []
            leader = asyncio.create_task(self._lead(lane, waiting))
            self._leaders.add(leader)
            leader.add_done_callback(self._leaders.discard)
        waiting.append(_Waiting(work, answer))
        return await answer

    async def _lead(self, lane: tuple[str, str], waiting: list[_Waiting]) -> None:
        try:
            while waiting:
                batch = [w for w in waiting[: self._max] if not w.answer.done()]
                del waiting[: self._max]
                if batch:
                    await self._run(lane, batch)
        except BaseException as exc:  # cancelled at shutdown: nobody may wait forever
            for w in waiting:
                _settle(w, error=exc)
            raise
        finally:
            del self._lanes[lane]

    async def _run(self, lane: tuple[str, str], batch: list[_Waiting]) -> None:
        kind, key = lane
        metrics.COMMAND_GROUP_SIZE.labels(kind).observe(len(batch))
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                if (lock := self._lock_first.get(kind)) is not None:
                    await lock(conn, key)
                for w in batch:
                    outcomes.append(await _in_savepoint(conn, w.work))
        except BaseException as exc:  # the batch did not commit: no command of it took effect
            for w in batch:
                _settle(w, error=exc)
            if not isinstance(exc, Exception):
                raise
            return
        for w, (result, error) in zip(batch, outcomes, strict=True):
            _settle(w, result=result, error=error)


async def _in_savepoint(conn: Connection, work: Work) -> tuple[Any, Exception | None]:
    try:
        async with conn.transaction():
            return await work(conn), None
    except Exception as exc:
        if isinstance(exc, asyncpg.InterfaceError | asyncpg.ConnectionDoesNotExistError):
            raise  # the connection is gone: the whole batch fails
        return None, exc


def _settle(w: _Waiting, *, result: Any = None, error: BaseException | None = None) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):  # its caller went away
        if isinstance(error, asyncio.CancelledError):
            w.answer.cancel()
        elif error is not None:
            w.answer.set_exception(error)
        else:
            w.answer.set_result(result)
