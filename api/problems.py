"""One place that turns Veritag's errors into HTTP answers (RFC 9457 problem details).

Each :class:`~ledger.errors.VeritagError` carries its HTTP status; routes raise domain errors
and never build ``HTTPException`` for them. Starlette's own refusals (no such route, method
not allowed) are problems too. Whatever else escapes is a bug: it is logged and answered with
a generic 500 problem that leaks nothing. :data:`PROBLEM_RESPONSES` documents all of this in
the OpenAPI schema of every operation.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ledger.errors import IdentifierError, VeritagError

__all__ = ["PROBLEM_RESPONSES", "Problem", "install_problem_handlers", "problem"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Problem(BaseModel):
    """An RFC 9457 problem; some carry more members (``data``, ``errors``, ``retry_after``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Always `about:blank`: `title` names the problem.")
    title: str = Field(description="The error's name: `NotFound`, `InvalidRequest`, …")
    status: int = Field(description="The HTTP status, repeated.")
    detail: str = Field(description="What went wrong, and what to do about it.")


class _InvalidField(BaseModel):
    location: list[str | int] = Field(description="Where: `body`, `query`, … then the field.")
    message: str
    type: str


class InvalidRequestProblem(Problem):
    errors: list[_InvalidField] = Field(description="Every field that is wrong.")


def _problem_content(model: type[BaseModel]) -> dict[str, Any]:
    # Inline, not a $ref: FastAPI files a response `model` under the route's own media type.
    return {PROBLEM_JSON: {"schema": model.model_json_schema()}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "The request is malformed: which fields, and why.",
        "content": _problem_content(InvalidRequestProblem),
    },
    "4XX": {
        "description": "Refused (no or a bad key, another's object, a conflict, …): a problem.",
        "content": _problem_content(Problem),
    },
    "5XX": {
        "description": "The chain or the database is unavailable, or a logged bug: a problem.",
        "content": _problem_content(Problem),
    },
}
"""Every operation's error answers, for ``FastAPI(responses=…)``."""


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

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        title = HTTPStatus(error.status_code).phrase.replace(" ", "").replace("-", "")
        response = problem(error.status_code, title, str(error.detail))
        response.headers.update(error.headers or {})
        if error.status_code == 405:  # Starlette names the first matching route's methods only
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "InternalError", "an unexpected error occurred; it was logged")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (RFC 9110 §15.5.6)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
