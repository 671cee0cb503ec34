"""One handler renders every failure as JSON `{"detail": ...}`: the core's errors with their status, the rest as 500."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from fleet.errors import FleetError

logger = logging.getLogger(__name__)


class Unauthorized(FleetError):
    """Missing, malformed or unknown bearer token (HTTP only: the core has no notion of a caller's credentials)."""

    http_status = 401


# Headers an error kind adds to its response.
ERROR_HEADERS: dict[type[FleetError], Mapping[str, str]] = {Unauthorized: {"WWW-Authenticate": "Bearer"}}


class ErrorOut(BaseModel):
    """Body of every error response except FastAPI's request validation errors (whose detail is a list)."""

    detail: str


UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, malformed or unknown bearer token"}
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such vehicle among yours"}
}


def _render_fleet_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, FleetError):  # registered for FleetError only; this narrows the type
        raise exc
    headers = next((h for kind, h in ERROR_HEADERS.items() if isinstance(exc, kind)), None)
    return JSONResponse({"detail": exc.detail}, status_code=exc.http_status, headers=headers)


def _render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Render `FleetError`s with their status and anything unexpected as a generic, logged 500."""
    app.add_exception_handler(FleetError, _render_fleet_error)
    app.add_exception_handler(Exception, _render_unexpected)
