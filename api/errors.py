"""The API's domain errors and the handlers that render every failure as JSON `{"detail": ...}`."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected failure, rendered with its HTTP status and a message for the caller."""

    status_code: int = 400
    headers: Mapping[str, str] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(ApiError):
    """Missing, malformed or unknown bearer token."""

    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


class NotFound(ApiError):
    """A resource that does not exist for the caller's tenant (whether or not it exists for another)."""

    status_code = 404


class InvalidParameter(ApiError):
    """A well-formed request parameter whose value breaks a rule (range too long, garbled cursor...)."""

    status_code = 422


class ServiceUnavailable(ApiError):
    """A dependency (the database) cannot be reached."""

    status_code = 503


class ErrorOut(BaseModel):
    """Body of every error response except FastAPI's request validation errors (whose detail is a list)."""

    detail: str


UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, malformed or unknown bearer token"}
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such vehicle among yours"}
}


def _render_api_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # registered for ApiError only; this narrows the type
        raise exc
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _render_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Render `ApiError`s with their status and anything unexpected as a generic, logged 500."""
    app.add_exception_handler(ApiError, _render_api_error)
    app.add_exception_handler(Exception, _render_unexpected)
