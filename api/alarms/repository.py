"""Queries of the alarms module."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from api.paging import newest_first
from fleet.db.models import Alarm, Event, Vehicle

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """Which of a tenant's alarms: of one vehicle, of some types, states and severities, opened within bounds."""

    states: tuple[str, ...]
    vehicle_id: int | None = None
    types: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def alarms_page(
    session: Session, tenant_id: int, where: AlarmFilter, after: tuple[datetime, int] | None, limit: int
) -> Sequence[Row[Alarm, str]]:
    """Up to `limit` (alarm, device id) of the tenant, newest first by (opened_at, id), after the cursor's pair."""
    query = _filtered(select(Alarm, Vehicle.device_id).join(Vehicle, Vehicle.id == Alarm.vehicle_id), tenant_id, where)
    return session.execute(newest_first(query, Alarm.opened_at, Alarm.id, after, limit)).all()


def alarm_of_tenant(session: Session, tenant_id: int, alarm_id: int) -> Row[Alarm, str, Event | None] | None:
    """The tenant's alarm `alarm_id` with its vehicle's device id and its event, if still there."""
    query = (
        select(Alarm, Vehicle.device_id, Event)
        .join(Vehicle, Vehicle.id == Alarm.vehicle_id)
        .outerjoin(Event, Event.id == Alarm.event_id)
        .where(Alarm.id == alarm_id, Alarm.tenant_id == tenant_id)
    )
    return session.execute(query).one_or_none()


def count_by_type_state_and_severity(
    session: Session, tenant_id: int, where: AlarmFilter
) -> Sequence[Row[str, str, str, int]]:
    """(type, state, severity, count) of the tenant's alarms that match."""
    query = _filtered(select(Alarm.type, Alarm.state, Alarm.severity, func.count()), tenant_id, where)
    return session.execute(query.group_by(Alarm.type, Alarm.state, Alarm.severity)).all()


def _filtered(query: SelectT, tenant_id: int, where: AlarmFilter) -> SelectT:
    query = query.where(Alarm.tenant_id == tenant_id, Alarm.state.in_(where.states))
    if where.vehicle_id is not None:
        query = query.where(Alarm.vehicle_id == where.vehicle_id)
    if where.types:
        query = query.where(Alarm.type.in_(where.types))
    if where.severities:
        query = query.where(Alarm.severity.in_(where.severities))
    if where.since is not None:
        query = query.where(Alarm.opened_at >= where.since)
    if where.until is not None:
        query = query.where(Alarm.opened_at < where.until)
    return query
