"""Trace and correlation context, carried from a request or event to the events it causes."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    correlation_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """A new span in the same trace, for an event this context causes."""
        return TraceContext(self.trace_id, secrets.token_hex(8), self.correlation_id, self.flags)


def new_trace(correlation_id: str | None = None) -> TraceContext:
    trace_id = secrets.token_hex(16)
    return TraceContext(trace_id, secrets.token_hex(8), correlation_id or trace_id)


def from_traceparent(traceparent: str | None, correlation_id: str | None) -> TraceContext:
    """Continue the caller's W3C trace if its traceparent is valid, else start a new one."""
    match = _TRACEPARENT.match(traceparent or "")
    if not match or match.group(1) == "0" * 32:
        return new_trace(correlation_id)
    trace_id, span_id, flags = match.groups()
    return TraceContext(trace_id, span_id, correlation_id or trace_id, flags)


current_trace: ContextVar[TraceContext | None] = ContextVar("laotie_trace", default=None)
