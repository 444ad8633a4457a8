"""What a module-level route takes from the running service, as FastAPI dependencies.

Routes are declared once, at import time (``router = APIRouter()``); the service they run in
is found on the app's state when a request arrives. A route parses its input, then calls a
use case through ``Commands`` (a command: a unit of work in a transaction, the
Idempotency-Key honoured) or a query with a ``Reading`` connection, with ``config`` for what
the composition root configured (a policy, windows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import Depends, Request

from laotie_common.db import Connection
from laotie_common.uow import Command

if TYPE_CHECKING:
    from laotie_common.service import Service


def service_of(request: Request) -> Service:
    return cast("Service", request.app.state.service)


# Async, so that FastAPI calls them on the event loop (a plain def runs in its thread pool:
# a hop of ~0.4 ms per request under load).
async def config(request: Request) -> Any:
    """The service's ``ServiceSpec.config``; a service annotates it with its own type."""
    return service_of(request).spec.config


async def _commands(request: Request) -> Command[Any]:
    return Command(service_of(request).commands, request)


async def _reading(request: Request) -> AsyncIterator[Connection]:
    async with service_of(request).pool.acquire() as conn:
        yield conn


Commands = Annotated[Command[Any], Depends(_commands)]
Reading = Annotated[Connection, Depends(_reading)]
