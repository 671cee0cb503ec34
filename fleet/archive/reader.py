"""Archived reads: a tenant's archived rows of a table within a UTC window, read from the parts in the store.

Row groups whose time (or device) statistics fall outside the filter are not fetched; a row group is the most
held in memory. Rows come part by part, day by day, each part in (device_id, time) order.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from fleet.archive import parquet, repository
from fleet.archive.layout import ArchivedTable, archived_table
from fleet.blobs.store import BlobStore
from fleet.db.models import ArchivePart
from fleet.errors import Invalid


def _statistics(metadata: pq.RowGroupMetaData, index: int) -> tuple[Any, Any] | None:
    statistics = metadata.column(index).statistics
    if statistics is None or not statistics.has_min_max:
        return None
    return statistics.min, statistics.max


def _rows_of_part(
    store: BlobStore, table: ArchivedTable, part: ArchivePart, start: datetime, end: datetime, device_id: str | None
) -> Iterator[dict[str, Any]]:
    file = parquet.open_part(store, part.key)
    time_index = table.columns.index(table.time_column)
    device_index = table.columns.index("device_id")
    for group in range(file.metadata.num_row_groups):
        metadata = file.metadata.row_group(group)
        span = _statistics(metadata, time_index)
        if span is not None and (span[1] < start or span[0] >= end):
            continue
        devices = _statistics(metadata, device_index)
        if device_id is not None and devices is not None and not devices[0] <= device_id <= devices[1]:
            continue
        rows = file.read_row_group(group)
        times = rows[table.time_column]
        time_type = table.schema.field(table.time_column).type
        keep: Any = pc.and_(
            pc.greater_equal(times, pa.scalar(start, time_type)), pc.less(times, pa.scalar(end, time_type))
        )
        if device_id is not None:
            keep = pc.and_(keep, pc.equal(rows["device_id"], pa.scalar(device_id, pa.string())))
        yield from rows.filter(keep).to_pylist()


def archived_rows(
    session: Session,
    store: BlobStore,
    tenant_id: int,
    table: str,
    start: datetime,
    end: datetime,
    device_id: str | None = None,
    *,
    purged_only: bool = False,
) -> Iterator[dict[str, Any]]:
    """The archived rows of `tenant_id`'s `table` with their time in `[start, end)` (and of `device_id`), as dicts
    of the file's columns (`device_id`, the time as an aware UTC datetime, ...; events' `data` as JSON text).

    Every recorded part counts, whatever its day's state (a stale day's parts still hold true rows); parts not
    purged hold rows the database still has, which `purged_only` leaves out for a reader that also queries the
    database. `Invalid` for a naive or empty window, `ValueError` for a table that is not archived.
    """
    spec = archived_table(table)
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("an archived read takes timezone-aware instants")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise Invalid("the window ends before it starts")
    last = (end - timedelta(microseconds=1)).date()
    parts = repository.parts_in_window(session, tenant_id, spec, start.date(), last, purged_only)
    for part in parts:
        yield from _rows_of_part(store, spec, part, start, end, device_id)
