"""The one query of every time series: a vehicle's rows in a window, after a cursor, in (ts, key) order."""

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from api.render import BINARY_ROWS, utc
from api.timeseries.window import SeriesRow, Window
from fleet.db.models import Base
from fleet.streams import StreamSpec


def in_window(ts: ColumnElement[datetime], key: ColumnElement[int], after: bool) -> ColumnElement[bool]:
    """Rows from `:since` to `:until`, and with `after` only those after the cursor's `(:after_ts, :after_key)`
    (bound with `window_values`)."""
    clause = and_(ts >= bindparam("since"), ts < bindparam("until"))
    if not after:
        return clause
    after_ts: BindParameter[datetime] = bindparam("after_ts")
    # Spelled out rather than as a row comparison, so `ts >= after_ts` stays an index condition.
    return and_(clause, ts >= after_ts, or_(ts > after_ts, key > bindparam("after_key")))


def window_values(window: Window) -> dict[str, Any]:
    """The values `in_window` binds, and `:limit`, one more row than the page holds."""
    values: dict[str, Any] = {"since": window.since, "until": window.until, "limit": window.limit + 1}
    if window.after is not None:
        values["after_ts"], values["after_key"] = window.after
    return values


# Built once per table and kind of window: a request neither builds the statement nor derives its cache key.
@cache
def _statement(table_name: str, columns: tuple[str, ...], after: bool) -> Select[Any]:
    table = Base.metadata.tables[table_name]
    return (
        select(*(utc(table.c.ts).label("ts") if column == "ts" else table.c[column] for column in columns))
        .where(table.c.vehicle_id == bindparam("vehicle_id"), in_window(table.c.ts, table.c.seq, after))
        .order_by(table.c.ts, table.c.seq)
        .limit(bindparam("limit"))
    )


def rows_in_window(session: Session, spec: StreamSpec[Any], vehicle_id: int, window: Window) -> Sequence[SeriesRow]:
    """Up to `window.limit + 1` rows of the stream's value columns (served by the (vehicle_id, ts) key), `ts` as a
    naive UTC value (`api.render.utc`)."""
    if spec.table is None:
        raise ValueError(f"stream {spec.stream.value} keeps no time series")
    stmt = _statement(spec.table, spec.value_columns, window.after is not None)
    values = {"vehicle_id": vehicle_id, **window_values(window)}
    return session.execute(stmt, values, execution_options=BINARY_ROWS).all()
