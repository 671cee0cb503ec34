"""The one query of every time series: a vehicle's rows in a window, after a cursor, in (ts, key) order."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from api.timeseries.window import SeriesRow, Window
from fleet.db.models import Base
from fleet.streams import StreamSpec


def in_window(ts: ColumnElement[datetime], key: ColumnElement[int], window: Window) -> ColumnElement[bool]:
    """Rows of the window, and after the cursor's (ts, key) when there is one."""
    clause = and_(ts >= window.since, ts < window.until)
    if window.after is None:
        return clause
    after_ts, after_key = window.after
    # Spelled out rather than as a row comparison, so `ts >= after_ts` stays an index condition.
    return and_(clause, ts >= after_ts, or_(ts > after_ts, key > after_key))


def rows_in_window(session: Session, spec: StreamSpec[Any], vehicle_id: int, window: Window) -> Sequence[SeriesRow]:
    """Up to `window.limit + 1` rows of the stream's value columns (served by the (vehicle_id, ts) key)."""
    if spec.table is None:
        raise ValueError(f"stream {spec.stream.value} keeps no time series")
    table = Base.metadata.tables[spec.table]
    stmt = (
        select(*(table.c[column] for column in spec.value_columns))
        .where(table.c.vehicle_id == vehicle_id, in_window(table.c.ts, table.c.seq, window))
        .order_by(table.c.ts, table.c.seq)
        .limit(window.limit + 1)
    )
    return session.execute(stmt).all()
