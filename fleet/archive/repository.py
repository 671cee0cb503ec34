"""The archive's queries: the days and rows of the hot tier it exports, its own tables, and the restore's inserts."""

import re
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Table, exists, func, literal_column, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fleet.archive.layout import ArchivedTable
from fleet.db.models import ArchiveDay, ArchivePart, Base, Tenant, Vehicle

# Rows per INSERT of the restore: 15 columns stay under SQLite's 32,766 bound parameters (and PostgreSQL's 65,535).
INSERT_CHUNK_ROWS = 1000
_PARTITION_DAY = re.compile(r"_p(?P<day>[0-9]{8})$")


def source_table(table: ArchivedTable) -> Table:
    """The hot-tier table `table` archives."""
    return Base.metadata.tables[table.name]


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC instants `[start, end)` of `day`."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def _on_day(table: ArchivedTable, day: date) -> ColumnElement[bool]:
    column = source_table(table).c[table.time_column]
    start, end = day_window(day)
    return (column >= start) & (column < end)


def _tenant_column(table: ArchivedTable) -> ColumnElement[int]:
    """Whose row it is: the row's own tenant_id (events), else its vehicle's."""
    source = source_table(table)
    owner = source if "tenant_id" in source.c else Base.metadata.tables["vehicles"]
    column: ColumnElement[int] = owner.c.tenant_id
    return column


def _with_vehicle(table: ArchivedTable) -> Any:
    source = source_table(table)
    return source.join(Vehicle, Vehicle.id == source.c.vehicle_id)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def uses_partitions(session: Session, table: ArchivedTable) -> bool:
    """True when `table` has a partition per day in this database (PostgreSQL)."""
    return table.partitioned and _is_postgresql(session)


def partition_days(session: Session, table: ArchivedTable) -> list[date]:
    """The days of `table`'s existing daily partitions (PostgreSQL), empty or not."""
    names = session.scalars(
        text(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = CAST(:table AS regclass)"
        ),
        {"table": table.name},
    )
    days = []
    for name in names:
        match = _PARTITION_DAY.search(name)
        if match:
            days.append(datetime.strptime(match["day"], "%Y%m%d").date())
    return sorted(days)


def first_day(session: Session, table: ArchivedTable) -> date | None:
    """The UTC day of `table`'s oldest row of a registered vehicle, found through each vehicle's (vehicle_id, time)
    index rather than by scanning the table."""
    source = source_table(table)
    column = source.c[table.time_column]
    per_vehicle = select(func.min(column)).where(source.c.vehicle_id == Vehicle.id).scalar_subquery()
    oldest = session.scalar(select(func.min(per_vehicle)).select_from(Vehicle))
    return None if oldest is None else oldest.astimezone(UTC).date()


def has_rows(session: Session, table: ArchivedTable, day: date) -> bool:
    """True when `table` holds a row on `day`: one partition probed on PostgreSQL, each vehicle's index otherwise."""
    source = source_table(table)
    if uses_partitions(session, table):
        return bool(session.scalar(select(exists().where(_on_day(table, day)))))
    of_vehicle = exists().where(source.c.vehicle_id == Vehicle.id, _on_day(table, day))
    return bool(session.scalar(select(exists(select(Vehicle.id).where(of_vehicle)))))


def tenants_with_rows(session: Session, table: ArchivedTable, day: date) -> list[int]:
    """The ids of the tenants with rows of `table` on `day`, ascending."""
    rows = exists(
        select(1).select_from(_with_vehicle(table)).where(_tenant_column(table) == Tenant.id, _on_day(table, day))
    )
    return list(session.scalars(select(Tenant.id).where(rows).order_by(Tenant.id)))


def _rows_query(table: ArchivedTable, day: date, tenant_id: int) -> Select[Any]:
    source = source_table(table)
    values = [source.c[name] for name in table.columns if name != "device_id"]
    return (
        select(Vehicle.device_id, *values)
        .select_from(_with_vehicle(table))
        .where(_tenant_column(table) == tenant_id, _on_day(table, day))
        .order_by(Vehicle.device_id, *(source.c[name] for name in table.order))
    )


def row_batches(
    session: Session, table: ArchivedTable, day: date, tenant_id: int, batch_rows: int
) -> Iterator[Sequence[Row[Any]]]:
    """A tenant's rows of `table` on `day` in the file's column and row order, `batch_rows` at a time, streamed
    (a server-side cursor on PostgreSQL)."""
    result = session.execute(_rows_query(table, day, tenant_id).execution_options(yield_per=batch_rows))
    try:
        yield from result.partitions()
    finally:
        result.close()


def count_by_tenant(session: Session, table: ArchivedTable, day: date) -> dict[int, int]:
    """Rows of `table` on `day` per tenant, counted as the export reads them."""
    tenant = _tenant_column(table)
    query = select(tenant, func.count()).select_from(_with_vehicle(table)).where(_on_day(table, day)).group_by(tenant)
    return {tenant_id: count for tenant_id, count in session.execute(query)}


def try_lock(session: Session, table: ArchivedTable, day: date) -> bool:
    """Take the archive's lock of (table, day) until the transaction ends; False when another holds it.

    PostgreSQL only (an advisory lock): SQLite has one worker. Retention takes the same lock before it purges a day.
    """
    if not _is_postgresql(session):
        return True
    return bool(
        session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"), {"name": lock_name(table, day)})
    )


def lock_name(table: ArchivedTable, day: date) -> str:
    """The name whose hash is the advisory lock of (table, day)."""
    return f"fleet-archive:{table.name}:{day.isoformat()}"


def archive_day(session: Session, table: ArchivedTable, day: date) -> ArchiveDay | None:
    """The archive's record of (table, day), if it has one."""
    return session.get(ArchiveDay, (table.name, day))


def parts_of_day(session: Session, table: ArchivedTable, day: date) -> list[ArchivePart]:
    """Every part of (table, day), by tenant and part number."""
    query = (
        select(ArchivePart)
        .where(ArchivePart.table_name == table.name, ArchivePart.day == day)
        .order_by(ArchivePart.tenant_id, ArchivePart.part)
    )
    return list(session.scalars(query))


def days_in_states(session: Session, table: ArchivedTable, states: Collection[str]) -> list[date]:
    """The days of `table` whose archive is in one of `states`, oldest first."""
    query = (
        select(ArchiveDay.day)
        .where(ArchiveDay.table_name == table.name, ArchiveDay.state.in_(states))
        .order_by(ArchiveDay.day)
    )
    return list(session.scalars(query))


def set_state(session: Session, record: ArchiveDay, state: str, verified_at: datetime | None, now: datetime) -> bool:
    """Move `record` to `state` unless someone changed it since it was read (retention marking it stale)."""
    query = (
        update(ArchiveDay)
        .where(
            ArchiveDay.table_name == record.table_name,
            ArchiveDay.day == record.day,
            ArchiveDay.state == record.state,
            ArchiveDay.exported_at == record.exported_at,
        )
        .values(state=state, verified_at=verified_at, updated_at=now)
    )
    return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]


def unpurge(session: Session, table: ArchivedTable, day: date, tenant_ids: Collection[int]) -> None:
    """Mark the tenants' parts of (table, day) as holding rows the database has again (after a restore)."""
    if tenant_ids:
        query = update(ArchivePart).where(
            ArchivePart.table_name == table.name, ArchivePart.day == day, ArchivePart.tenant_id.in_(tenant_ids)
        )
        session.execute(query.values(purged_at=None))


def vehicles_by_device(session: Session, device_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """(vehicle id, tenant id) of each registered device among `device_ids`."""
    query = select(Vehicle.device_id, Vehicle.id, Vehicle.tenant_id).where(Vehicle.device_id.in_(device_ids))
    return {device_id: (vehicle_id, tenant_id) for device_id, vehicle_id, tenant_id in session.execute(query)}


def insert_missing(session: Session, table: ArchivedTable, rows: Sequence[dict[str, Any]]) -> int:
    """Insert `rows` into `table`, skipping any whose key (or, for events, vehicle and key) is already there;
    returns how many were inserted."""
    source = source_table(table)
    dialect = postgresql if _is_postgresql(session) else sqlite
    inserted = 0
    for first in range(0, len(rows), INSERT_CHUNK_ROWS):
        chunk = list(rows[first : first + INSERT_CHUNK_ROWS])
        # RETURNING counts what went in: psycopg reports no rowcount for a multi-row INSERT of this kind.
        query = dialect.insert(source).values(chunk).on_conflict_do_nothing().returning(literal_column("1"))
        inserted += len(session.execute(query).all())
    return inserted


def parts_in_window(
    session: Session, tenant_id: int, table: ArchivedTable, first: date, last: date, purged_only: bool
) -> list[ArchivePart]:
    """A tenant's parts of `table` on the days `first` to `last`, by day and part."""
    query = select(ArchivePart).where(
        ArchivePart.tenant_id == tenant_id,
        ArchivePart.table_name == table.name,
        ArchivePart.day >= first,
        ArchivePart.day <= last,
    )
    if purged_only:
        query = query.where(ArchivePart.purged_at.is_not(None))
    return list(session.scalars(query.order_by(ArchivePart.day, ArchivePart.part)))
