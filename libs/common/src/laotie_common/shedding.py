"""Load shedding at the HTTP edge: a bound on the requests one process serves at once, and a
bound on the commands one caller may send. Past either the answer is immediate and cheap (a
problem document with ``Retry-After``), so a burst degrades into refusals instead of queueing
until every request, and the probes, time out.

Both bounds are per process: with N replicas a caller may send N times the rate. A limit
shared across replicas would need a shared store (Redis); the per-process one already stops a
single client from occupying a replica, which is what the probes showed.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from laotie_common import metrics
from laotie_common.auth import Principal, Role
from laotie_common.problems import PROBLEM_JSON, Problem, problem_body

# Answered ahead of the load: a probe must see the process, not the queue in front of it.
NEVER_SHED = frozenset({"/healthz", "/readyz", "/metrics"})
UNLIMITED_ROLES = frozenset({Role.SERVICE})  # platform services (logistics) send in bulk


class ConcurrencyLimit:
    """Pure ASGI middleware: at most ``limit`` requests in flight; the next one is answered
    503 with ``Retry-After`` at once, before its body is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            metrics.HTTP_SHED.labels("concurrency").inc()
            await _refuse(send, 503, "Overloaded", "overloaded", scope["path"])
            return
        self.in_flight += 1
        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.HTTP_IN_FLIGHT.dec()


async def _refuse(send: Send, status: int, title: str, suffix: str, path: str) -> None:
    detail = "the service is at its concurrency limit; nothing was changed, retry"
    body = json.dumps(problem_body(status, title, detail, suffix, path)).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TooManyRequests(Problem):
    status, title, type_suffix = 429, "Too many requests", "too-many-requests"

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            "this caller sends commands faster than allowed; nothing was changed, retry later"
        )
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))}


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimit:
    """A token bucket per caller (role and subject): ``rate`` commands a second on average,
    ``burst`` at once. At most ``callers`` buckets are kept (the least recently used go: a
    forgotten caller starts again with a full bucket, never with less)."""

    rate: float
    burst: int
    callers: int = 100_000
    _buckets: OrderedDict[tuple[str, str], _Bucket] = field(default_factory=OrderedDict)

    def take(self, principal: Principal, now: float | None = None) -> None:
        """Spend one token of ``principal``'s bucket, or raise :class:`TooManyRequests`."""
        if principal.role in UNLIMITED_ROLES:
            return
        now = time.monotonic() if now is None else now
        key = (principal.role.value, principal.subject)
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.callers:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1:
            metrics.HTTP_SHED.labels("rate").inc()
            raise TooManyRequests((1 - bucket.tokens) / self.rate)
        bucket.tokens -= 1
