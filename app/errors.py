"""Application errors and their RFC 9457 problem+json rendering: the one place every error becomes a response.

Bad input is a 4xx problem+json, never a 5xx: validation errors (422), and, as a last line behind the shared
edge types of ``app.schemas_base``, any value the database or a conversion refuses (an integer out of range, a
date past year 9999, text PostgreSQL cannot store) is a 422 too. Anything else is a 500 problem+json that
says nothing about the cause (the log has it).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("ardoise.errors")

PROBLEM = "application/problem+json"


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(AppError):
    status_code, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status_code, code, title = 409, "conflict", "Conflict"


class Unprocessable(AppError):
    status_code, code, title = 422, "invalid", "Invalid input"


class Forbidden(AppError):
    status_code, code, title = 403, "forbidden", "Forbidden"


class Unauthorized(AppError):
    status_code, code, title = 401, "unauthorized", "Unauthorized"


class BadGateway(AppError):
    status_code, code, title = 502, "upstream", "The network refused"


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {"type": f"https://ardoise.dev/problems/{code}", "title": title, "status": status, "detail": detail}
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_r: Request, exc: AppError) -> JSONResponse:
        return problem(exc.status_code, exc.title, exc.detail, exc.code, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            errors.append({"field": loc, "message": str(e.get("msg", ""))})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid input"
        return problem(422, "Invalid input", detail, "invalid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), f"http_{exc.status_code}")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still re-raises it to the server (logged with its traceback): the client gets no detail.
        return problem(500, "Internal error", "something went wrong on our side; it has been logged", "internal")

    async def _refused_value(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, StatementError) and not isinstance(exc, DataError) and not _conversion(exc.orig):
            log.error("request.failed", path=request.url.path, exc_info=exc)  # handled here: not re-raised
            return await _internal(request, exc)
        log.info("request.refused_value", path=request.url.path, error=type(exc).__name__)
        return problem(422, "Invalid input", "a value is out of the range Ardoise stores", "out_of_range")

    for kind in (DataError, StatementError, OverflowError, UnicodeError):
        app.add_exception_handler(kind, _refused_value)


def _conversion(orig: BaseException | None) -> bool:
    """A driver error that means "this value cannot be stored" (SQLite: int too large; asyncpg: out of range,
    bad text encoding), not a database fault."""
    return isinstance(orig, OverflowError | UnicodeError | ValueError) or type(orig).__name__ in (
        "DataError",
        "NumericValueOutOfRangeError",
        "CharacterNotInRepertoireError",
        "UntranslatableCharacterError",
        "StringDataRightTruncationError",
        "InvalidTextRepresentationError",
        "DatetimeFieldOverflowError",
    )
