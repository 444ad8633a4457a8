"""Group commit for commands on a hot row: concurrent commands of one *lane* (a flash sale's
SKU) are decided together, set-based, in one transaction.

A flash sale (秒杀) serialises on its SKU's stock row: every reservation holds the row lock
until its commit, and a commit waits for an fsync. So commands of one lane in this process
queue here and one leader at a time hands up to ``max_batch`` waiting commands to the lane's
*batch* function, inside one transaction: it locks the hot row first, decides each command
in arrival order and writes them all with a few statements (not a few per command), and
returns one outcome per command — its result, or the exception it gets. What arrives while a
batch runs waits for the next one: no timer, no added latency when the lane is quiet.
Replicas each group their own commands; their batches queue on the hot row's lock, which
each batch takes before any other.

If the batch's transaction fails (a deadlock, a lost connection), no command of it took
effect and each gets that error. A caller that goes away (cancelled) while its batch runs is
not answered; its command may still commit, as a command whose client disconnects after its
commit does. Work the batch leaves for after its commit (metrics) runs once it committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from laotie_common import metrics
from laotie_common.db import Connection

# (connection in the batch's transaction, the lane's key, the waiting commands) ->
# (one outcome per command: a result or an exception, work to run once committed)
Batch = Callable[[Connection, str, list[Any]], Awaitable[tuple[Sequence[Any], Callable[[], None]]]]


@dataclass
class _Waiting:
    command: Any
    answer: asyncio.Future[Any]


class GroupCommit:
    def __init__(
        self, pool: Callable[[], asyncpg.Pool], *, max_batch: int, lanes: dict[str, Batch]
    ) -> None:
        self._pool = pool
        self._max = max_batch
        self._batches = lanes
        self._lanes: dict[tuple[str, str], list[_Waiting]] = {}
        self._leaders: set[asyncio.Task[None]] = set()

    async def run(self, kind: str, key: str, command: Any) -> Any:
        """Decide ``command`` with the lane's other waiting commands; returns its outcome
        (a result, or an exception instance) once their transaction committed, or raises the
        error that failed the transaction."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        lane = (kind, key)
        waiting = self._lanes.get(lane)
        if waiting is None:
            self._lanes[lane] = waiting = []
            leader = asyncio.create_task(self._lead(lane, waiting))
            self._leaders.add(leader)
            leader.add_done_callback(self._leaders.discard)
        waiting.append(_Waiting(command, answer))
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
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                outcomes, committed = await self._batches[kind](
                    conn, key, [w.command for w in batch]
                )
        except BaseException as exc:  # the batch did not commit: no command of it took effect
            for w in batch:
                _settle(w, error=exc)
            if not isinstance(exc, Exception):
                raise
            return
        committed()
        for w, outcome in zip(batch, outcomes, strict=True):
            _settle(w, result=outcome)


def _settle(w: _Waiting, *, result: Any = None, error: BaseException | None = None) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):  # its caller went away
        if isinstance(error, asyncio.CancelledError):
            w.answer.cancel()
        elif error is not None:
            w.answer.set_exception(error)
        else:
            w.answer.set_result(result)
