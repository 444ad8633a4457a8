"""structlog set-up: console lines on a terminal, JSON otherwise.

Context every line inside carries: :func:`structlog.contextvars.bound_contextvars` for the
service, the consumer and a record's topic/partition/offset on its slow path; the record a
consumer handler is applying (event id, type, key, correlation id) in ``current_event``, one
context variable set per record (binding four structlog ones cost ~10 % of a batch's time).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(authorization|token|password|secret|jwt)", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]+")
# Contact details never reach the logs: mainland mobile numbers keep their first 3 digits.
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{8}(?!\d)")


current_event: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "laotie_current_event", default=None
)


def merge_current_event(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add the fields of the record being applied (``current_event``) to the line."""
    fields = current_event.get()
    if fields:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never write secrets or contacts: secret-looking keys, bearer tokens and mobile
    numbers are masked."""
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key):
            event_dict[key] = "***"
        elif isinstance(value, str):
            if "Bearer" in value:
                value = _BEARER.sub(r"\1***", value)
            event_dict[key] = _PHONE.sub(r"\1********", value)
    return event_dict


class Throttle(logging.Filter):
    """Lets one line of each (logger, message template) through per ``interval_s``; the next
    one let through says how many like it were dropped. A broker outage makes aiokafka log the
    same connection error thousands of times: a few lines a minute say as much."""

    def __init__(self, interval_s: float = 10.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        last, dropped = self._last.get(key, (float("-inf"), 0))
        if record.created - last < self.interval_s:
            self._last[key] = (last, dropped + 1)
            return False
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = (record.created, 0)
        if dropped:
            record.msg = (
                f"{record.msg} ({dropped} like it dropped in the last {self.interval_s:g}s)"
            )
        return True


def configure_logging(service: str, *, level: str = "INFO", fmt: str = "auto") -> None:
    """structlog for our lines and, through the same processors, the standard library's
    (aiokafka, faststream, uvicorn: WARNING and up, throttled). Tracebacks are formatted
    before redaction, so what an exception's text carries is masked too."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        merge_current_event,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Plain tracebacks (rich's, used when rich is installed, render every frame's locals,
        # slow enough to matter and able to print values our redaction never saw), formatted
        # here as text so that redaction sees them.
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    _route_standard_logging(shared, renderer, level)


def _route_standard_logging(shared: list[Any], renderer: Any, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.addFilter(Throttle())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # FastStream logs every record at INFO, aiokafka every fetch detail: warnings and up only.
    root.setLevel(max(logging.getLevelName(level.upper()), logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
