"""Time-series pages that reach back past retention: the rows it removed from the database, read from the archive.

Retention drops a day only once its archive is verified, and marks the day's parts purged; those parts hold rows
the database no longer has, so a page merges them with the database's rows in (ts, seq) order. A row found in
both (a day restored with `fleet archive restore`) is shown once. Only the days with purged parts are read, a
day at a time, and reading stops once the page is full: a page costs at most its days' row groups of the vehicle.
No retention is shorter than a day (FLEET_RETENTION_*_DAYS and the tenants' overrides are at least 1), so the days
from yesterday on are never purged: a window starting in them, as a dashboard's do, skips even the query of the
archive's parts.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from api.timeseries.window import Window
from fleet.archive.layout import ArchivedTable
from fleet.archive.reader import archived_rows
from fleet.archive.repository import parts_in_window
from fleet.blobs.store import BlobStore
from fleet.db.models import utcnow
from fleet.errors import NotFound, Unavailable

Item = dict[str, Any]
# The shortest retention there is: days later than this many days before today are never purged.
MIN_RETENTION_DAYS = 1


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _after_cursor(item: Item, window: Window) -> bool:
    if window.after is None:
        return True
    after_ts, after_seq = window.after
    return bool(item["ts"] > after_ts or (item["ts"] == after_ts and item["seq"] > after_seq))


def archived_items(
    session: Session,
    store: BlobStore,
    tenant_id: int,
    table: ArchivedTable,
    device_id: str,
    window: Window,
    columns: tuple[str, ...],
) -> list[Item]:
    """Up to `window.limit + 1` archived rows of the vehicle after the cursor, in (ts, seq) order, of purged days.

    `Unavailable` (503) naming the day and how to restore it when the archive cannot be read.
    """
    if window.since.date() >= utcnow().date() - timedelta(days=MIN_RETENTION_DAYS):
        return []
    last = (window.until - timedelta(microseconds=1)).date()
    parts = parts_in_window(session, tenant_id, table, window.since.date(), last, purged_only=True)
    found: list[Item] = []
    for day in sorted({part.day for part in parts}):
        start, end = max(window.since, _midnight(day)), min(window.until, _midnight(day + timedelta(days=1)))
        try:
            rows = archived_rows(session, store, tenant_id, table.name, start, end, device_id, purged_only=True)
            items = [{column: row[column] for column in columns} for row in rows]
        except (Unavailable, NotFound, pa.ArrowException) as error:
            raise Unavailable(
                f"{table.name} of {day} are in the archive, which cannot be read now ({error}); try again later, "
                f"or restore the day into the database: fleet archive restore --day {day} --table {table.name}"
            ) from None
        found.extend(sorted((item for item in items if _after_cursor(item, window)), key=_order))
        if len(found) > window.limit:
            break
    return found[: window.limit + 1]


def _order(item: Item) -> tuple[datetime, int]:
    return item["ts"], item["seq"]


def merge(database: list[Item], archived: list[Item], limit: int) -> list[Item]:
    """The first `limit + 1` of both sorted lists in (ts, seq) order, each (ts, seq) once."""
    merged: dict[tuple[datetime, int], Item] = {}
    for item in sorted(database + archived, key=_order):
        merged.setdefault(_order(item), item)
    return list(merged.values())[: limit + 1]
