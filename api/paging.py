"""Keyset paging of the lists ordered newest first (events, alarms, files): tie-safe on (time, id)."""

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def newest_first(
    query: SelectT,
    ts: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[int],
    after: tuple[datetime, int] | None,
    limit: int,
) -> SelectT:
    """`query` ordered by (ts, key) descending, after the cursor's pair, at most `limit` rows."""
    if after is not None:
        after_ts, after_key = after
        # Spelled out rather than as a row comparison, so `ts <= after_ts` stays an index condition.
        query = query.where(and_(ts <= after_ts, or_(ts < after_ts, key < after_key)))
    return query.order_by(ts.desc(), key.desc()).limit(limit)
