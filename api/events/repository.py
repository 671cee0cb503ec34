"""Queries of the events module."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from api.paging import newest_first
from fleet.db.models import Event, Vehicle

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which of a tenant's events: of one vehicle, of some types, of one source and severities, started within."""

    vehicle_id: int | None = None
    types: tuple[str, ...] = ()
    source: str | None = None
    severities: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def events_page(
    session: Session, tenant_id: int, where: EventFilter, after: tuple[datetime, int] | None, limit: int
) -> Sequence[Row[Event, str]]:
    """Up to `limit` (event, device id) of the tenant, newest first by (started_at, id), after the cursor's pair."""
    query = _filtered(select(Event, Vehicle.device_id).join(Vehicle, Vehicle.id == Event.vehicle_id), tenant_id, where)
    return session.execute(newest_first(query, Event.started_at, Event.id, after, limit)).all()


def event_of_tenant(session: Session, tenant_id: int, event_id: int) -> Row[Event, str] | None:
    """The tenant's event `event_id` with its vehicle's device id."""
    query = (
        select(Event, Vehicle.device_id)
        .join(Vehicle, Vehicle.id == Event.vehicle_id)
        .where(Event.id == event_id, Event.tenant_id == tenant_id)
    )
    return session.execute(query).one_or_none()


def count_by_type_and_severity(session: Session, tenant_id: int, where: EventFilter) -> Sequence[Row[str, str, int]]:
    """(type, severity, count) of the tenant's events that match."""
    query = _filtered(select(Event.type, Event.severity, func.count()), tenant_id, where)
    return session.execute(query.group_by(Event.type, Event.severity)).all()


def _filtered(query: SelectT, tenant_id: int, where: EventFilter) -> SelectT:
    query = query.where(Event.tenant_id == tenant_id)
    if where.vehicle_id is not None:
        query = query.where(Event.vehicle_id == where.vehicle_id)
    if where.types:
        query = query.where(Event.type.in_(where.types))
    if where.source is not None:
        query = query.where(Event.source == where.source)
    if where.severities:
        query = query.where(Event.severity.in_(where.severities))
    if where.since is not None:
        query = query.where(Event.started_at >= where.since)
    if where.until is not None:
        query = query.where(Event.started_at < where.until)
    return query
