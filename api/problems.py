"""One place that turns Veritag's errors into HTTP answers (RFC 9457 problem details).

Each :class:`~ledger.errors.VeritagError` carries its HTTP status; routes raise domain errors
and never build ``HTTPException`` for them. Whatever else escapes is a bug: it is logged and
answered with a generic 500 problem that leaks nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ledger.errors import IdentifierError, VeritagError

__all__ = ["install_problem_handlers", "problem"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def status_of(error: VeritagError) -> int:
    # A malformed code in a URL is a bad request, whatever the identifier's own status says.
    if isinstance(error, IdentifierError):
        return 400
    return error.status


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(VeritagError)
    async def veritag_error(_request: Request, error: VeritagError) -> JSONResponse:
        data = getattr(error, "data", None)
        extra = {"data": data} if isinstance(data, dict) else {}
        return problem(status_of(error), type(error).__name__, str(error), **extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e["type"]}
            for e in error.errors()
        ]
        first = errors[0] if errors else {"location": [], "message": "invalid request"}
        where = ".".join(str(part) for part in first["location"])
        detail = f"{where}: {first['message']}" if where else str(first["message"])
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more problem(s), listed in `errors`)"
        return problem(422, "InvalidRequest", detail, errors=errors)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "InternalError", "an unexpected error occurred; it was logged")
