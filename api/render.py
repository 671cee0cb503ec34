"""Answers written straight from database rows: no model object per row, JSON by orjson.

A time series or the live map is thousands of rows; validating a pydantic model per row and serialising it again
cost most of such a request. The hot endpoints build plain dicts from the rows and return the bytes orjson writes,
which are byte for byte what the response models (kept in the routes for the OpenAPI document) would write: the
same field order, `null` for a missing value, floats in their shortest form, and timestamps as RFC 3339 in UTC with
a `Z` (tests/api/test_rendering.py compares them). Timestamps are read with `utc()`: PostgreSQL converts them to UTC
itself and hands out naive values, so no Python code runs per timestamp, and orjson writes naive values as UTC.
"""

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from fastapi import Response
from sqlalchemy import DateTime, Engine, event
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
JSON_MEDIA_TYPE = "application/json"
# The execution option asking psycopg for the rows in PostgreSQL's binary format, which it reads a third faster
# than text: only for statements whose values psycopg turns into Python objects itself (numbers, timestamps).
BINARY_ROWS = {"fleet_binary_rows": True}


class utc(FunctionElement[datetime]):
    """A timestamp column as a naive UTC value: `timezone('UTC', ...)` on PostgreSQL, the stored value on SQLite
    (which keeps UTC without an offset)."""

    type = DateTime()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any] | QueryableAttribute[Any]) -> None:
        super().__init__(column)


@compiles(utc)
def _utc_stored(element: utc, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(utc, "postgresql")
def _utc_postgresql(element: utc, compiler: SQLCompiler, **kw: Any) -> str:
    return f"timezone('UTC', {compiler.process(element.clauses, **kw)})"


def aware(ts: datetime) -> datetime:
    """A naive UTC value read with `utc()` as an aware one (an aware one in UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def naive(ts: datetime) -> datetime:
    """An aware value as `utc()` reads it: naive, in UTC (a naive one unchanged)."""
    return ts if ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None)


def dumps(value: Any) -> bytes:
    """`value` as the JSON the API writes."""
    return orjson.dumps(value, option=OPTIONS)


def json_response(value: Any) -> Response:
    """A 200 answer of `value` as JSON, already serialised: FastAPI passes it through untouched."""
    return Response(dumps(value), media_type=JSON_MEDIA_TYPE)


@event.listens_for(Engine, "before_cursor_execute")
def _binary_rows(
    _connection: Connection,
    cursor: Any,
    _statement: str,
    _parameters: Any,
    context: ExecutionContext | None,
    _executemany: bool,
) -> None:
    asked = context is not None and context.execution_options.get("fleet_binary_rows")
    if asked and isinstance(cursor, psycopg.Cursor):
        cursor.format = psycopg.pq.Format.BINARY
