"""Time-series pages whose items PostgreSQL writes as JSON: the API process only frames the bytes.

A one-hour track is 3,600 rows, and turning them into Python objects, dicts and JSON was most of the API's CPU
under a dashboard's load (docs/api-performance.md). On PostgreSQL the query writes each item itself, byte for
byte what `api.render.dumps` writes for the same row (tests/api/test_rendered_pages.py compares them):

- floats as PostgreSQL's shortest round-trip text (any `extra_float_digits` above 0; 1 is the default), which is
  orjson's wherever neither uses an exponent, 0 and 1e-4 <= |v| < 1e15, with orjson's `.0` on an integral value;
- timestamps in UTC with a `Z`, with six fraction digits when the second has a fraction, as orjson writes them.

A page with a value outside those ranges (a speed of 1e-5, a year before 1000), or on a server whose floats are
not written round-trip or whose dates are not written ISO 8601, comes back as None, and the caller renders the
rows in Python instead.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Float, Integer, TextClause, text
from sqlalchemy.orm import Session

from api.render import BINARY_ROWS
from api.timeseries.repository import window_values
from api.timeseries.window import Window, encode_cursor
from fleet.db.models import Base
from fleet.streams import StreamSpec

# Where PostgreSQL's float text is also orjson's: no exponent in either.
SMALLEST_PLAIN, LARGEST_PLAIN = "1e-4", "1e15"
FIRST_PLAIN_YEAR, LAST_PLAIN_YEAR_END = "1000-01-01", "9999-12-31 23:59:59.999999"
TS_TEXT = "ts_text"


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """A page's items as a JSON array's inside (comma-separated objects) and the cursor of the next page."""

    items: bytes
    next: str | None


def _timestamp() -> str:
    # The UTC text of window_rows (`2026-03-01 08:00:00.12`): PostgreSQL drops a fraction's trailing zeros, orjson
    # writes six digits. Text functions cost more per row than the whole scan, so the fewest are called.
    fraction = f"CASE WHEN octet_length({TS_TEXT}) = 19 THEN 8 ELSE 15 END"
    return f"left({TS_TEXT}, 10) || 'T' || rpad(right({TS_TEXT}, -11), {fraction}, '0')"


def _float(column: str) -> str:
    return f"CASE WHEN {column} = trunc({column}) THEN {column}::text || '.0' ELSE {column}::text END"


def _outside_plain_range(column: str) -> str:
    return f"(abs({column}) < {SMALLEST_PLAIN} AND {column} <> 0 OR NOT abs({column}) < {LARGEST_PLAIN})"


@cache
def _statement(table_name: str, columns: tuple[str, ...], after: bool) -> TextClause | None:
    """The page query of `columns` (ts and seq first), or None when a column's type is not written here.

    It reads one row more than the page holds, so that the caller knows whether another page follows, and drops
    that row's item. Items are joined with `||`, a third of what `concat()` costs per row. The aggregates read
    the rows in the order of the window's subquery: PostgreSQL keeps a sorted subquery's order into an aggregate
    when the outer query joins nothing (its manual, on aggregate expressions). Numbering the rows with a window
    function instead cost a seventh of the query, sorting the written items again a fifth.
    """
    table = Base.metadata.tables[table_name]
    terms: list[str] = []
    # What closes the last value and cannot be written before the next literal: the timestamp's Z and quote.
    closing = ""
    unsafe = [f"NOT timezone('UTC', ts) BETWEEN '{FIRST_PLAIN_YEAR}' AND '{LAST_PLAIN_YEAR_END}'"]
    for column in columns:
        literal = f'{closing}{"," if terms else "{"}"{column}":'
        closing = ""
        kind = table.c[column].type
        if column == "ts":
            terms += [f"'{literal}\"'", _timestamp()]
            closing = 'Z"'
            continue
        if isinstance(kind, Float):
            value = _float(column)
            unsafe.append(_outside_plain_range(column))
        elif isinstance(kind, Integer):
            value = f"{column}::text"
        else:
            return None
        if table.c[column].nullable:
            value = f"coalesce({value}, 'null')"
        terms += [f"'{literal}'", value]
    terms.append(f"'{closing}}}'")
    # The bind parameters of `api.timeseries.repository.window_values`, spelled as `in_window` spells them.
    cursor_clause = " AND ts >= :after_ts AND (ts > :after_ts OR seq > :after_key)" if after else ""
    return text(
        f"""
        SELECT convert_to(string_agg(item, ','), 'UTF8'),
               count(*),
               timezone('UTC', (array_agg(ts))[:page]),
               (array_agg(seq))[:page],
               coalesce(bool_or(unsafe), false) OR current_setting('extra_float_digits')::int <= 0
                   OR current_setting('DateStyle') NOT LIKE 'ISO%'
        FROM (
            SELECT {" || ".join(terms)} AS item, ts, seq, {" OR ".join(unsafe)} AS unsafe
            FROM (
                SELECT {", ".join(columns)}, (ts AT TIME ZONE INTERVAL '0')::text AS {TS_TEXT} FROM {table.name}
                WHERE vehicle_id = :vehicle_id AND ts >= :since AND ts < :until{cursor_clause}
                ORDER BY ts, seq LIMIT :limit
            ) AS window_rows
        ) AS items
        """
    )


def rendered_page(session: Session, spec: StreamSpec[Any], vehicle_id: int, window: Window) -> RenderedPage | None:
    """The window's page of a vehicle's rows of the stream's value columns written by PostgreSQL, or None when Python
    has to write it (another database, a value outside the ranges written alike, a column type not written here)."""
    if spec.table is None:
        raise ValueError(f"stream {spec.stream.value} keeps no time series")
    if session.get_bind().dialect.name != "postgresql":
        return None
    statement = _statement(spec.table, spec.value_columns, window.after is not None)
    if statement is None:
        return None
    values = {"vehicle_id": vehicle_id, **window_values(window), "page": window.limit}
    items, count, last_ts, last_seq, unsafe = session.execute(statement, values, execution_options=BINARY_ROWS).one()
    if unsafe:
        return None
    if count <= window.limit:
        return RenderedPage(items=items or b"", next=None)
    # Items hold numbers, timestamps and nulls only: a comma before a brace starts an item.
    return RenderedPage(items=items[: items.rindex(b",{")], next=encode_cursor(last_ts, last_seq))
