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


def configure_logging(service: str, *, level: str = "INFO", fmt: str = "auto") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        merge_current_event,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        # Plain tracebacks: rich's (used when rich is installed) renders every frame's locals,
        # slow enough to matter and able to print values our redaction never saw.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if json_output else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (aiokafka, faststream, uvicorn) log through the standard library.
    logging.basicConfig(
        level=max(logging.getLevelName(level.upper()), logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
