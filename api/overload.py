"""Graceful overload: past capacity a request gets 503 with Retry-After at once instead of waiting in a queue.

Two places decide. `AdmissionLimit`, pure ASGI middleware in front of routing, answers 503 without touching the
database while FLEET_API_MAX_CONCURRENT_REQUESTS requests are in flight in this process: more in flight would only
queue for the CPU and the connections and make every answer slow. An admitted request may still find the database
too busy or away: `database_unavailable` names the 503 of a pool timeout (no connection free within
FLEET_API_DB_POOL_TIMEOUT_SECONDS), of a statement PostgreSQL cancelled past FLEET_API_STATEMENT_TIMEOUT_SECONDS, or
of a database that cannot be reached, for the error handler (`api/errors.py`) to render.
"""

import logging

import psycopg
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api import metrics
from fleet.db.errors import DatabaseFault, classify

logger = logging.getLogger(__name__)

# What a client refused for capacity waits before it tries again: a second is long enough for a burst to pass.
RETRY_AFTER_SECONDS = 1
# Not counted: the probes and scrapes must answer while the API is saturated (a busy replica is not a dead one),
# the event stream is long-lived and has its own limit (FLEET_LIVE_MAX_STREAMS), and the local store's signed
# transfers (`fleet up` only; a 404 on S3) need no database and last as long as an upload.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/stream"})
EXEMPT_PREFIXES = ("/v1/blobs/",)
# SQLSTATE of a statement the server cancelled: past statement_timeout (or by an operator's pg_cancel_backend).
QUERY_CANCELED = "57014"

BUSY = "the API is at capacity; retry later"
NO_CONNECTION = "the API is at capacity: no database connection was free in time; retry later"
TOO_SLOW = (
    "the query took too long and was cancelled; narrow the time window (since, until) or the filters, or retry later"
)
DATABASE_DOWN = "database unavailable; retry later"


def exempt(path: str) -> bool:
    """True for the paths the admission limit lets through whatever the load."""
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


class AdmissionLimit:
    """503 with Retry-After, at once, for a request arriving while `limit` others are in flight in this process."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        # One event loop per process: nothing awaits between the check and the increment.
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            metrics.SHED.labels("concurrency").inc()
            refusal = JSONResponse({"detail": BUSY}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            await refusal(scope, receive, send)
            return
        self.in_flight += 1
        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.dec()


def database_unavailable(error: SQLAlchemyError) -> str | None:
    """The 503's detail for a database that is too busy or away (counted in fleet_api_shed_total), None for any
    other database error (a schema fault, a bug), which stays a 500."""
    if isinstance(error, PoolTimeout):
        metrics.SHED.labels("pool_timeout").inc()
        return NO_CONNECTION
    cause = error.orig if isinstance(error, DBAPIError) else None
    if isinstance(cause, psycopg.Error) and cause.sqlstate == QUERY_CANCELED:
        metrics.SHED.labels("statement_timeout").inc()
        logger.warning("statement cancelled: %s", str(cause).splitlines()[0] if str(cause) else QUERY_CANCELED)
        return TOO_SLOW
    if classify(error) is DatabaseFault.UNAVAILABLE:
        metrics.SHED.labels("database").inc()
        logger.warning("database unavailable: %s", str(error).splitlines()[0] if str(error) else type(error).__name__)
        return DATABASE_DOWN
    return None
