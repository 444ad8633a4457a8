"""CloudEvents 1.0, Kafka protocol binding, binary content mode.

Attributes travel as ``ce_*`` headers, ``content-type`` says ``application/json`` and the
record value is the JSON data. Extensions: ``traceparent`` (W3C, its own header as the
distributed-tracing extension prescribes) and ``ce_correlationid``. A subscriber in any
language reads a record without our code.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from laotie_contracts import Event
from pydantic import ValidationError

from laotie_common.context import TraceContext, current_trace, new_trace
from laotie_common.errors import PoisonRecord
from laotie_common.ids import new_id

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_specversion")

E = TypeVar("E", bound=Event)
U = TypeVar("U")


@dataclass(frozen=True)
class Envelope:
    """One CloudEvent as it travels on Kafka."""

    id: str
    source: str
    type: str
    time: datetime
    data: bytes
    key: str | None = None
    subject: str | None = None
    dataschema: str | None = None
    traceparent: str | None = None
    correlation_id: str | None = None
    specversion: str = SPEC_VERSION
    content_type: str = CONTENT_TYPE
    extensions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_event(
        cls,
        event: Event,
        *,
        source: str,
        subject: str | None = None,
        trace: TraceContext | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> Envelope:
        """Wrap an event's data; the trace continues the current one (a child span) if any."""
        parent = trace or current_trace.get()
        ctx = parent.child() if parent else new_trace()
        return cls(
            id=event_id or new_id(),
            source=source,
            type=event.ce_type,
            time=time or datetime.now(UTC),
            data=event.model_dump_json().encode(),
            key=event.key(),
            subject=subject if subject is not None else event.key(),
            dataschema=event.dataschema(),
            traceparent=ctx.traceparent,
            correlation_id=ctx.correlation_id,
        )

    def headers(self) -> list[tuple[str, bytes]]:
        attrs: dict[str, str | None] = {
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_specversion": self.specversion,
            "ce_time": _format_time(self.time),
            "ce_subject": self.subject,
            "ce_dataschema": self.dataschema,
            "ce_correlationid": self.correlation_id,
            "content-type": self.content_type,
            "traceparent": self.traceparent,
        }
        attrs.update({f"ce_{k}": v for k, v in self.extensions.items()})
        return [(k, v.encode()) for k, v in attrs.items() if v is not None]

    @classmethod
    def from_record(
        cls, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
    ) -> Envelope:
        """Decode a Kafka record; raise :class:`PoisonRecord` saying exactly what is wrong."""
        try:
            hdrs = {k.lower(): v.decode("utf-8") for k, v in headers}
        except UnicodeDecodeError as exc:
            raise PoisonRecord(f"a header is not UTF-8: {exc}") from exc
        missing = [h for h in REQUIRED if not hdrs.get(h)]
        if missing:
            raise PoisonRecord(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
        if hdrs["ce_specversion"] != SPEC_VERSION:
            raise PoisonRecord(f"unsupported ce_specversion {hdrs['ce_specversion']!r}")
        content_type = hdrs.get("content-type", CONTENT_TYPE)
        if content_type.split(";")[0].strip() != CONTENT_TYPE:
            raise PoisonRecord(f"unsupported content-type {content_type!r}")
        if value is None:
            raise PoisonRecord("record has no value (a tombstone is not an event)")
        time = _parse_time(hdrs.get("ce_time"))
        known = {*REQUIRED, "ce_time", "ce_subject", "ce_dataschema", "ce_correlationid"}
        try:
            decoded_key = key.decode("utf-8") if key is not None else None
        except UnicodeDecodeError as exc:
            raise PoisonRecord(f"record key is not UTF-8: {exc}") from exc
        return cls(
            id=hdrs["ce_id"],
            source=hdrs["ce_source"],
            type=hdrs["ce_type"],
            specversion=hdrs["ce_specversion"],
            time=time,
            data=value,
            key=decoded_key,
            subject=hdrs.get("ce_subject"),
            dataschema=hdrs.get("ce_dataschema"),
            traceparent=hdrs.get("traceparent"),
            correlation_id=hdrs.get("ce_correlationid"),
            content_type=content_type,
            extensions={
                k[3:]: v for k, v in hdrs.items() if k.startswith("ce_") and k not in known
            },
        )

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PoisonRecord(f"{self.type}: data is not valid JSON: {exc}") from exc

    def parse(self, model: builtins.type[E]) -> E:
        """Validate the data against its contract model (unknown fields are ignored)."""
        try:
            return model.model_validate_json(self.data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors()[:5]
            )
            raise PoisonRecord(
                f"{self.type}: data does not match its contract: {problems}"
            ) from exc


def parsed(
    model: builtins.type[E], apply: Callable[[U, E], Awaitable[object]]
) -> Callable[[U, Envelope], Awaitable[None]]:
    """The handler that parses its envelope's data as ``model`` and hands it to ``apply``
    with the unit of work it is given (what ``apply`` returns is dropped)."""

    async def handle(unit: U, envelope: Envelope) -> None:
        await apply(unit, envelope.parse(model))

    return handle


def _format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(raw: str | None) -> datetime:
    if not raw:
        raise PoisonRecord("missing ce_time")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PoisonRecord(f"ce_time is not RFC 3339: {raw!r}") from exc
    if parsed.tzinfo is None:
        raise PoisonRecord(f"ce_time has no timezone: {raw!r}")
    return parsed
