"""RFC 9457 problem details: every HTTP error Laotie returns is ``application/problem+json``."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from laotie_common.logs import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)


class Problem(Exception):
    """Raise from a route or use case to answer with a problem document."""

    status = 400
    title = "Bad request"
    type_suffix = "bad-request"
    headers: dict[str, str] | None = None  # sent with the answer (e.g. Retry-After)

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(
            self.status, self.title, self.detail, self.type_suffix, instance, **self.extra
        )


class NotFound(Problem):
    status, title, type_suffix = 404, "Not found", "not-found"


class Conflict(Problem):
    """An illegal state transition or a clash with current state; nothing was changed."""

    status, title, type_suffix = 409, "Conflict", "conflict"


class Unprocessable(Problem):
    status, title, type_suffix = 422, "Unprocessable request", "unprocessable"


class Unauthorized(Problem):
    status, title, type_suffix = 401, "Unauthorized", "unauthorized"


class Forbidden(Problem):
    status, title, type_suffix = 403, "Forbidden", "forbidden"


def problem_body(
    status: int,
    title: str,
    detail: str,
    type_suffix: str,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://laotie.dev/problems/{type_suffix}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
    return problem_response(exc.body(request.url.path), headers or None)


async def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
        for e in exc.errors()[:20]
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    return problem_response(
        problem_body(
            422,
            "Invalid request",
            detail or "the request is invalid",
            "invalid-request",
            request.url.path,
            errors=errors,
        )
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        problem_body(
            exc.status_code,
            str(exc.detail) if exc.status_code < 500 else "Server error",
            str(exc.detail),
            f"http-{exc.status_code}",
            request.url.path,
        )
    )


async def _on_unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    # Postgres text holds no NUL character, UTF-8 no unpaired surrogate: refused whole.
    return problem_response(
        problem_body(
            400,
            "Invalid text",
            "text may not contain NUL characters or unpaired surrogates; nothing was changed",
            "invalid-text",
            request.url.path,
        )
    )


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("dependency unavailable in route", path=request.url.path, error=repr(exc))
    return problem_response(
        problem_body(
            503,
            "Temporarily unavailable",
            "a dependency is unavailable or busy; nothing was changed, retry",
            "unavailable",
            request.url.path,
        ),
        headers={"Retry-After": "1"},
    )


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in route", path=request.url.path)
    return problem_response(
        problem_body(
            500,
            "Server error",
            "an unexpected error occurred; nothing was changed",
            "server-error",
            request.url.path,
        )
    )


_HANDLERS: tuple[tuple[tuple[type[Exception], ...], Any], ...] = (
    ((Problem,), _on_problem),
    ((RequestValidationError,), _on_invalid),
    ((StarletteHTTPException,), _on_http),
    (
        (
            asyncpg.CharacterNotInRepertoireError,
            asyncpg.UntranslatableCharacterError,
            UnicodeEncodeError,
        ),
        _on_unstorable_text,
    ),
    (
        (
            asyncpg.PostgresConnectionError,
            asyncpg.DeadlockDetectedError,
            asyncpg.LockNotAvailableError,
            asyncpg.QueryCanceledError,
            asyncpg.SerializationError,
            asyncpg.TooManyConnectionsError,
            OSError,
        ),
        _on_unavailable,
    ),
    ((Exception,), _on_crash),
)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error a route can raise answered as problem+json."""
    for kinds, handler in _HANDLERS:
        for kind in kinds:
            app.add_exception_handler(kind, handler)
