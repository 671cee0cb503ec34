"""Queries of retention: the overrides, the archive's record of a day, a day's rows per tenant, and the deletes."""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, exists, func, literal_column, or_, select, update
from sqlalchemy.orm import Session

from fleet.db.models import ArchiveDay, ArchivePart, Base, RetentionOverride, Tenant, Vehicle
from fleet.lifecycle.policy import Cutoffs, day_start

# The column that puts a row on a day, per retained table.
TIME_COLUMNS = {
    "positions": "ts",
    "can_samples": "ts",
    "events": "started_at",
    "alarms": "opened_at",
    "dead_letters": "received_at",
    "webhook_deliveries": "created_at",
    "outbox": "created_at",
}


@dataclass(frozen=True, slots=True)
class Tally:
    """A tenant's rows of a day: how many, and the latest `updated_at` among them (tables that have one)."""

    rows: int
    updated: datetime | None = None


# A day's rows by tenant; None holds rows of no registered vehicle, which no archive can hold.
Tallies = dict[int | None, Tally]


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _time(name: str) -> Any:
    return _table(name).c[TIME_COLUMNS[name]]


def _on_day(name: str, day: date) -> ColumnElement[bool]:
    start = day_start(day)
    return and_(_time(name) >= start, _time(name) < start + timedelta(days=1))


def _owner(name: str) -> tuple[Any, Any]:
    """The column naming a row's tenant and what to select from: a vehicle's rows go through `vehicles`."""
    table = _table(name)
    if "tenant_id" in table.c:
        return table.c.tenant_id, table
    return Vehicle.tenant_id, table.outerjoin(Vehicle, Vehicle.id == table.c.vehicle_id)


def _tally_columns(name: str) -> list[Any]:
    table = _table(name)
    return [func.count(), func.max(table.c.updated_at)] if "updated_at" in table.c else [func.count()]


def _tally(values: Sequence[Any]) -> Tally:
    return Tally(int(values[0]), values[1] if len(values) > 1 else None)


def tallies_of_day(session: Session, name: str, day: date) -> Tallies:
    """Rows of `name` on `day`, per tenant."""
    tenant, source = _owner(name)
    query = select(tenant, *_tally_columns(name)).select_from(source).where(_on_day(name, day)).group_by(tenant)
    return {row[0]: _tally(row[1:]) for row in session.execute(query)}


def tallies_before(session: Session, name: str, before: date) -> dict[date, Tallies]:
    """Rows of `name` per tenant, on each day before `before` that has any."""
    tenant, source = _owner(name)
    column = _time(name)
    if session.get_bind().dialect.name == "postgresql":
        # A literal, not a parameter: GROUP BY must repeat the selected expression exactly.
        day = func.date(func.timezone(literal_column("'UTC'"), column))
    else:
        day = func.date(column)
    query = select(day, tenant, *_tally_columns(name)).select_from(source).where(column < day_start(before))
    found: dict[date, Tallies] = defaultdict(dict)
    for row in session.execute(query.group_by(day, tenant)):
        found[row[0] if isinstance(row[0], date) else date.fromisoformat(row[0])][row[1]] = _tally(row[2:])
    return dict(found)


def has_rows_on(session: Session, name: str, day: date) -> bool:
    """True when `name` holds a row on `day`."""
    return bool(session.scalar(select(exists().where(_on_day(name, day)))))


def archive_days(session: Session, name: str, before: date) -> dict[date, ArchiveDay]:
    """The archive's records of `name`'s days before `before`."""
    query = select(ArchiveDay).where(ArchiveDay.table_name == name, ArchiveDay.day < before)
    return {record.day: record for record in session.scalars(query)}


def archive_day(session: Session, name: str, day: date) -> ArchiveDay | None:
    """The archive's record of (`name`, `day`), locked until the transaction ends (PostgreSQL)."""
    query = select(ArchiveDay).where(ArchiveDay.table_name == name, ArchiveDay.day == day).with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def _archived_rows_query(name: str) -> Any:
    return select(ArchivePart.day, ArchivePart.tenant_id, func.sum(ArchivePart.rows)).where(
        ArchivePart.table_name == name, ArchivePart.purged_at.is_(None)
    )


def archived_rows(session: Session, name: str, before: date) -> dict[date, dict[int, int]]:
    """Rows per day (before `before`) and tenant that the archive holds and the hot tier still has: the rows of
    the parts not purged."""
    query = _archived_rows_query(name).where(ArchivePart.day < before)
    found: dict[date, dict[int, int]] = defaultdict(dict)
    for day, tenant_id, rows in session.execute(query.group_by(ArchivePart.day, ArchivePart.tenant_id)):
        found[day][tenant_id] = int(rows)
    return dict(found)


def archived_rows_of_day(session: Session, name: str, day: date) -> dict[int, int]:
    """Rows per tenant of `day` that the archive holds and the hot tier still has."""
    query = _archived_rows_query(name).where(ArchivePart.day == day)
    return {
        tenant_id: int(rows)
        for _, tenant_id, rows in session.execute(query.group_by(ArchivePart.day, ArchivePart.tenant_id))
    }


def purge_parts(session: Session, name: str, day: date, tenant_ids: Collection[int] | None, now: datetime) -> None:
    """Record that the hot tier no longer has the rows of the day's parts (of `tenant_ids`, or all)."""
    query = update(ArchivePart).where(
        ArchivePart.table_name == name, ArchivePart.day == day, ArchivePart.purged_at.is_(None)
    )
    if tenant_ids is not None:
        query = query.where(ArchivePart.tenant_id.in_(tenant_ids))
    session.execute(query.values(purged_at=now))


def mark_stale(session: Session, name: str, day: date, now: datetime) -> bool:
    """Mark the verified archive of (`name`, `day`) stale, so that the archive exports the day again."""
    query = (
        update(ArchiveDay)
        .where(ArchiveDay.table_name == name, ArchiveDay.day == day, ArchiveDay.state == "verified")
        .values(state="stale", updated_at=now)
    )
    return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]


def delete_rows(session: Session, name: str, day: date, tenant_id: int | None) -> Tally:
    """Delete a tenant's rows of `name` on `day` (None: those of no registered vehicle); what was deleted."""
    table = _table(name)
    if "tenant_id" in table.c:
        owner = table.c.tenant_id == tenant_id
    elif tenant_id is None:
        owner = table.c.vehicle_id.not_in(select(Vehicle.id))
    else:
        owner = table.c.vehicle_id.in_(select(Vehicle.id).where(Vehicle.tenant_id == tenant_id))
    query = delete(table).where(owner, _on_day(name, day))
    if "updated_at" not in table.c:
        return Tally(int(session.execute(query).rowcount))  # type: ignore[attr-defined]
    updated = list(session.scalars(query.returning(table.c.updated_at)))
    return Tally(len(updated), max(updated, default=None))


def _expired(name: str, cutoffs: Cutoffs) -> ColumnElement[bool]:
    table, time = _table(name), _time(name)
    default = time < day_start(cutoffs.default)
    if cutoffs.overrides:
        default = and_(default, or_(table.c.tenant_id.is_(None), table.c.tenant_id.not_in(list(cutoffs.overrides))))
    overridden = [and_(table.c.tenant_id == tenant, time < day_start(day)) for tenant, day in cutoffs.overrides.items()]
    expired = or_(default, *overridden)
    if name == "alarms":
        return and_(expired, table.c.state == "closed")
    if name in ("webhook_deliveries", "outbox"):
        return and_(expired, table.c.state != "pending")
    return expired


def count_expired(session: Session, name: str, cutoffs: Cutoffs) -> int:
    """Rows of `name` (alarms: closed; deliveries and the outbox: not pending) from before their tenant's cutoff."""
    return int(session.scalar(select(func.count()).select_from(_table(name)).where(_expired(name, cutoffs))) or 0)


def delete_expired(session: Session, name: str, cutoffs: Cutoffs, limit: int) -> int:
    """Delete up to `limit` rows of `name` (alarms: closed ones; deliveries: not pending) from before the cutoff."""
    table = _table(name)
    batch = select(table.c.id).where(_expired(name, cutoffs)).limit(limit)
    return int(session.execute(delete(table).where(table.c.id.in_(batch))).rowcount)  # type: ignore[attr-defined]


def override_days(session: Session, name: str) -> dict[int, int]:
    """Tenant id -> days, of the tenants that keep `name` for a time of their own."""
    query = select(RetentionOverride.tenant_id, RetentionOverride.days).where(RetentionOverride.table_name == name)
    return {tenant_id: days for tenant_id, days in session.execute(query)}


def overrides(session: Session, tenant_id: int | None) -> Sequence[RetentionOverride]:
    """The overrides of one tenant, or of all, by tenant and table."""
    query = select(RetentionOverride)
    if tenant_id is not None:
        query = query.where(RetentionOverride.tenant_id == tenant_id)
    return session.scalars(query.order_by(RetentionOverride.tenant_id, RetentionOverride.table_name)).all()


def override(session: Session, tenant_id: int, name: str) -> RetentionOverride | None:
    """The tenant's override of `name`."""
    return session.get(RetentionOverride, (tenant_id, name))


def tenant_names(session: Session, tenant_ids: Collection[int] | None = None) -> dict[int, str]:
    """Tenant id -> name, of `tenant_ids` (or of every tenant)."""
    query = select(Tenant.id, Tenant.name)
    if tenant_ids is not None:
        query = query.where(Tenant.id.in_(tenant_ids))
    return {tenant_id: name for tenant_id, name in session.execute(query)}
