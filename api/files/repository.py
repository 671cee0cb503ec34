"""Queries of the files module."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from api.paging import newest_first
from fleet.db.models import File, Vehicle


@dataclass(frozen=True, slots=True)
class FileFilter:
    """Which of a tenant's files to list: all of them, or of one vehicle, kind or state, offered within bounds."""

    vehicle_id: int | None = None
    kind: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def files_page(
    session: Session, tenant_id: int, where: FileFilter, after: tuple[datetime, int] | None, limit: int
) -> Sequence[Row[File, str]]:
    """Up to `limit` (file, device id) of the tenant, newest first by (offered_at, id), after the cursor's pair."""
    query = (
        select(File, Vehicle.device_id).join(Vehicle, Vehicle.id == File.vehicle_id).where(File.tenant_id == tenant_id)
    )
    if where.vehicle_id is not None:
        query = query.where(File.vehicle_id == where.vehicle_id)
    if where.kind is not None:
        query = query.where(File.kind == where.kind)
    if where.state is not None:
        query = query.where(File.state == where.state)
    if where.since is not None:
        query = query.where(File.offered_at >= where.since)
    if where.until is not None:
        query = query.where(File.offered_at < where.until)
    return session.execute(newest_first(query, File.offered_at, File.id, after, limit)).all()


def file_of_tenant(session: Session, tenant_id: int, file_id: int, lock: bool = False) -> Row[File, str] | None:
    """The tenant's file `file_id` with its vehicle's device id; locked for the transaction with `lock`."""
    query = (
        select(File, Vehicle.device_id)
        .join(Vehicle, Vehicle.id == File.vehicle_id)
        .where(File.id == file_id, File.tenant_id == tenant_id)
    )
    if lock:
        query = query.with_for_update(of=File)
    return session.execute(query).one_or_none()
