"""One handler renders every failure as JSON `{"detail": ...}`: the core's errors with their status, a database too
busy or away as the core's `Unavailable` (503), the rest as 500."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.overload import RETRY_AFTER_SECONDS, database_unavailable
from fleet.blobs.store import RangeNotSatisfiable
from fleet.errors import FleetError, Unavailable

logger = logging.getLogger(__name__)


class Unauthorized(FleetError):
    """Missing, malformed or unknown bearer token (HTTP only: the core has no notion of a caller's credentials)."""

    http_status = 401


class Forbidden(FleetError):
    """A valid token whose role is too low for the route (HTTP only, like Unauthorized)."""

    http_status = 403


# Headers an error kind adds to its response.
ERROR_HEADERS: dict[type[FleetError], Mapping[str, str]] = {
    Unauthorized: {"WWW-Authenticate": "Bearer"},
    Unavailable: {"Retry-After": str(RETRY_AFTER_SECONDS)},
}


class ErrorOut(BaseModel):
    """Body of every error response except FastAPI's request validation errors (whose detail is a list)."""

    detail: str


UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, malformed, unknown, expired or revoked bearer token"}
}
FORBIDDEN_RESPONSE: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorOut, "description": "Your token's role does not allow this"}
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such vehicle among yours"}
}


def _render_fleet_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, FleetError):  # registered for FleetError only; this narrows the type
        raise exc
    headers = next((h for kind, h in ERROR_HEADERS.items() if isinstance(exc, kind)), None)
    if isinstance(exc, RangeNotSatisfiable):  # RFC 9110: a 416 names the size of what was asked of
        headers = {"Content-Range": f"bytes */{exc.size}"}
    return JSONResponse({"detail": exc.detail}, status_code=exc.http_status, headers=headers)


def allowed_methods(request: Request) -> set[str]:
    """Methods of every route whose path matches the request's (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return methods


async def _render_database_error(request: Request, exc: Exception) -> JSONResponse:
    # Async: under overload a shed answer should not wait for a worker thread.
    if not isinstance(exc, SQLAlchemyError):  # registered for SQLAlchemyError only; this narrows the type
        raise exc
    detail = database_unavailable(exc)
    if detail is None:
        raise exc  # a schema fault or a bug: the generic, logged 500
    return _render_fleet_error(request, Unavailable(detail))


async def _render_http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only; this narrows the type
        raise exc
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        # A path served by several routes (GET and POST /v1/admin/tokens) must list all their methods.
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
    return await http_exception_handler(request, exc)


def _render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Render `FleetError`s with their status, a database too busy or away as 503, the framework's HTTP errors (405
    with every allowed method) as FastAPI does, and anything unexpected as a generic, logged 500."""
    app.add_exception_handler(FleetError, _render_fleet_error)
    app.add_exception_handler(SQLAlchemyError, _render_database_error)
    app.add_exception_handler(HTTPException, _render_http_error)
    app.add_exception_handler(Exception, _render_unexpected)
