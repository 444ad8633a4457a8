"""The unit of work every use case and handler runs in, and the HTTP command runner.

A unit of work is one transaction seen from the domain: its connection, one clock reading for
the whole command, ``emit`` (into the outbox, in the same transaction) and work that must
wait until the transaction committed (metrics, wake-ups). Services subclass it to add what
their rules need (policy, windows) and name their event ``source``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse
from laotie_contracts import Event
from laotie_contracts.audit import ActionRecorded
from pydantic import BaseModel

from laotie_common import audit, outbox
from laotie_common.auth import Principal
from laotie_common.consumer import AfterCommit, Handler, Later
from laotie_common.db import Connection
from laotie_common.envelope import Envelope
from laotie_common.group_commit import GroupCommit
from laotie_common.idempotency import REPLAY, Keyed, identify, retrying, run_command
from laotie_common.shedding import RateLimit


@dataclass
class UnitOfWork:
    conn: Connection
    now: datetime
    after_commit: list[Callable[[], None]] = field(default_factory=list, kw_only=True)
    source: ClassVar[str] = "/laotie"

    async def emit(self, event: Event) -> None:
        await outbox.add(self.conn, event, source=self.source)
        self.emitted(event)

    async def emit_all(self, events: Sequence[Event]) -> None:
        """``emit`` each of ``events``, in one statement."""
        await outbox.add_all(self.conn, events, source=self.source)
        for event in events:
            self.emitted(event)

    def emitted(self, event: Event) -> None:
        """Called for each event written; e.g. business metrics to count after the commit."""

    def committed(self) -> None:
        """Call once the transaction committed: runs the work that waited for it."""
        for work in self.after_commit:
            work()
        self.after_commit.clear()


U = TypeVar("U", bound=UnitOfWork)


@dataclass(frozen=True)
class Units(Generic[U]):
    """Opens the service's units of work: ``async with units() as tx`` is one transaction,
    committed at the end, then its after-commit work runs (a job that needs several)."""

    pool: Callable[[], asyncpg.Pool]
    make: Callable[[Connection, datetime], U]

    @contextlib.asynccontextmanager
    async def __call__(self, now: datetime | None = None) -> AsyncIterator[U]:
        async with self.pool().acquire() as conn, conn.transaction():
            unit = self.make(conn, now or datetime.now(UTC))
            yield unit
        unit.committed()


UnitHandler = Callable[[U, Envelope], Awaitable[AfterCommit | Later | None]]


def in_units(make: Callable[[Connection, datetime], U], handler: UnitHandler[U]) -> Handler:
    """A consumer handler that runs ``handler`` in a fresh unit of work on the batch's
    connection; what the unit leaves for after the commit runs after the batch's commit."""

    async def apply(conn: Connection, envelope: Envelope) -> AfterCommit | Later | None:
        unit = make(conn, datetime.now(UTC))
        done = await handler(unit, envelope)
        if not unit.after_commit:
            return done
        if isinstance(done, Later):
            return Later(done.once, _both(unit.committed, done.after_commit), done.rows)
        return _both(unit.committed, done)

    return apply


def _both(first: AfterCommit, then: AfterCommit | None) -> AfterCommit:
    if then is None:
        return first

    def both() -> None:
        first()
        then()

    return both


@dataclass(frozen=True)
class CommandRunner(Generic[U]):
    """Runs one HTTP command: a fresh unit of work in a transaction, the Idempotency-Key
    honoured, domain errors mapped to problems by ``on_error``, after-commit work run once.
    A command given a ``lane`` (kind, key, the command as the lane's batch takes it) is
    decided with the lane's concurrent commands through ``group`` (see
    :mod:`laotie_common.group_commit`); ``action`` is then only its path alone, for a
    repeated Idempotency-Key."""

    pool: Callable[[], asyncpg.Pool]
    make: Callable[[Connection, datetime], U]
    on_error: Callable[[Request, Exception], Exception | None] | None = None
    group: GroupCommit | None = None
    limit: RateLimit | None = None  # commands per caller
    # The service's audit event: operators' and reviewers' commands are recorded with it.
    audit: type[ActionRecorded] | None = None

    async def __call__(
        self,
        request: Request,
        principal: Principal,
        body: BaseModel | None,
        action: Callable[[U], Awaitable[Any]],
        *,
        created: bool = False,
        lane: tuple[str, str, Any] | None = None,
        audited: bool = False,
    ) -> JSONResponse:
        if self.limit is not None:
            self.limit.take(principal)
        status_code = 201 if created else 200
        payload = body.model_dump(mode="json") if body is not None else None
        if lane is not None and self.group is not None:
            answered = await self._in_lane(request, principal, payload, status_code, lane)
            if answered is not None:
                return answered
        units: list[U] = []

        async def run(conn: Connection) -> Any:
            unit = self.make(conn, datetime.now(UTC))
            units.append(unit)
            try:
                answer = await action(unit)
                if audited or principal.role in audit.STAFF:
                    await audit.record(unit, self.audit, request, principal, payload, status_code)
                return answer
            except Exception as exc:
                mapped = self._mapped(request, exc)
                if mapped is exc:
                    raise
                raise mapped from exc

        return await run_command(
            request,
            self.pool(),
            principal,
            run,
            status_code=status_code,
            payload=payload,
            after_commit=lambda _: units[-1].committed(),
        )

    async def _in_lane(
        self,
        request: Request,
        principal: Principal,
        payload: Any,
        status_code: int,
        lane: tuple[str, str, Any],
    ) -> JSONResponse | None:
        """The lane's answer, or None for a command whose key was taken (a replay)."""
        assert self.group is not None
        group, (kind, key, command) = self.group, lane
        item = Keyed(identify(request, principal, payload), command, status_code)
        outcome = await retrying(lambda: group.run(kind, key, item))
        if outcome is REPLAY:
            return None
        if isinstance(outcome, Exception):
            raise self._mapped(request, outcome)
        return JSONResponse(outcome, status_code=status_code)

    def _mapped(self, request: Request, exc: Exception) -> Exception:
        mapped = self.on_error(request, exc) if self.on_error else None
        return exc if mapped is None else mapped


@dataclass(frozen=True)
class Command(Generic[U]):
    """The command runner bound to the request in hand: what a route is given as
    ``laotie_common.entry.Commands``. The answer's status is the route's own (``201`` where
    the route declares ``status_code=201``, else 200): one fact, in the route's decorator."""

    runner: CommandRunner[U]
    request: Request

    async def __call__(
        self,
        principal: Principal,
        body: BaseModel | None,
        action: Callable[[U], Awaitable[Any]],
        *,
        lane: tuple[str, str, Any] | None = None,
        audited: bool = False,
    ) -> JSONResponse:
        """``audited``: record the action in the audit trail whoever runs it (operators' and
        reviewers' commands always are)."""
        created = getattr(self.request.scope.get("route"), "status_code", None) == 201
        return await self.runner(
            self.request, principal, body, action, created=created, lane=lane, audited=audited
        )
