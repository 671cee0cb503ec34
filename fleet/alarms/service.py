"""Alarms: a warning or critical event opens one; it is acknowledged and closed by hand, or closes by itself.

open -> acknowledged -> closed, and open -> closed. An alarm closes by itself when its event's condition ends (an
interval event gets an `ended_at` after its start); an instant (a panic button, a crash) has no end, so its alarm
waits for an operator. An event retracted by late records closes its alarm with that reason.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.audit import service as audit
from fleet.audit.service import Actor, AuditAction
from fleet.db.models import Alarm, Event, Vehicle
from fleet.errors import Conflict, NotFound
from fleet.events.views import alarm_view
from fleet.live.feed import Kind, Message

OPEN, ACKNOWLEDGED, CLOSED = "open", "acknowledged", "closed"
STATES = (OPEN, ACKNOWLEDGED, CLOSED)
ALARMING = ("warning", "critical")
REASON_ENDED = "condition ended"
REASON_RETRACTED = "retracted: later records show no such event"
MAX_COMMENT = 2000
MAX_ID = 2**63 - 1


def follow_event(session: Session, event: Event, device_id: str, messages: list[Message], now: datetime) -> None:
    """Open the alarm of a new warning or critical event; close it when the event's condition has ended."""
    if event.severity not in ALARMING:
        return
    alarm = session.scalars(select(Alarm).where(Alarm.event_id == event.id)).first()
    if alarm is None:
        alarm = Alarm(
            tenant_id=event.tenant_id, vehicle_id=event.vehicle_id, event_id=event.id, type=event.type,
            severity=event.severity, state=OPEN, opened_at=event.started_at, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(alarm)
        if _ended(event):
            _close(alarm, now, None, REASON_ENDED)
    elif alarm.state != CLOSED and _ended(event):
        _close(alarm, now, None, REASON_ENDED)
    elif alarm.opened_at != event.started_at:
        alarm.opened_at, alarm.updated_at = event.started_at, now
    else:
        return
    session.flush()
    messages.append(Message(alarm.tenant_id, Kind.ALARM, alarm_view(alarm, device_id)))


def event_retracted(session: Session, event: Event, device_id: str, messages: list[Message], now: datetime) -> None:
    """The event goes: its alarm, if any, closes (once) and no longer points at it."""
    alarm = session.scalars(select(Alarm).where(Alarm.event_id == event.id)).first()
    if alarm is None:
        return
    alarm.event_id = None
    if alarm.state != CLOSED:
        _close(alarm, now, None, REASON_RETRACTED)
    session.flush()
    messages.append(Message(alarm.tenant_id, Kind.ALARM, alarm_view(alarm, device_id)))


def acknowledge(
    session: Session, tenant_id: int, alarm_id: int, actor: Actor, comment: str | None, now: datetime
) -> tuple[Alarm, str]:
    """An operator takes an open alarm in hand; returns it and its vehicle's device id."""
    alarm, device_id = _of_tenant(session, tenant_id, alarm_id)
    if alarm.state != OPEN:
        by = f" by {alarm.acknowledged_by}" if alarm.acknowledged_by else ""
        raise Conflict(f"alarm {alarm_id} is {alarm.state}{by}: only an open alarm can be acknowledged")
    alarm.state, alarm.acknowledged_at, alarm.acknowledged_by, alarm.updated_at = ACKNOWLEDGED, now, actor.name, now
    alarm.comment = comment
    _audit(session, alarm, actor, AuditAction.ALARM_ACKNOWLEDGE, comment)
    return alarm, device_id


def close(
    session: Session, tenant_id: int, alarm_id: int, actor: Actor, comment: str | None, now: datetime
) -> tuple[Alarm, str]:
    """An operator closes an alarm (acknowledged or not); returns it and its vehicle's device id."""
    alarm, device_id = _of_tenant(session, tenant_id, alarm_id)
    if alarm.state == CLOSED:
        raise Conflict(f"alarm {alarm_id} was closed at {alarm.closed_at:%Y-%m-%dT%H:%M:%SZ} ({alarm.close_reason})")
    _close(alarm, now, actor.name, "closed by hand")
    if comment:
        alarm.comment = comment
    _audit(session, alarm, actor, AuditAction.ALARM_CLOSE, comment)
    return alarm, device_id


def of_tenant(session: Session, tenant_id: int, alarm_ids: Sequence[int]) -> Sequence[Alarm]:
    """The tenant's alarms among `alarm_ids`."""
    return session.scalars(select(Alarm).where(Alarm.tenant_id == tenant_id, Alarm.id.in_(alarm_ids))).all()


def _ended(event: Event) -> bool:
    return event.ended_at is not None and event.ended_at > event.started_at


def _close(alarm: Alarm, now: datetime, by: str | None, reason: str) -> None:
    alarm.state, alarm.closed_at, alarm.closed_by, alarm.close_reason, alarm.updated_at = CLOSED, now, by, reason, now


def _of_tenant(session: Session, tenant_id: int, alarm_id: int) -> tuple[Alarm, str]:
    if not 1 <= alarm_id <= MAX_ID:
        raise NotFound(f"no alarm {alarm_id}")
    found = session.execute(
        select(Alarm, Vehicle.device_id)
        .join(Vehicle, Vehicle.id == Alarm.vehicle_id)
        .where(Alarm.id == alarm_id, Alarm.tenant_id == tenant_id)
        .with_for_update(of=Alarm)
    ).first()
    if found is None:
        raise NotFound(f"no alarm {alarm_id}")
    return found[0], found[1]


def _audit(session: Session, alarm: Alarm, actor: Actor, action: AuditAction, comment: str | None) -> None:
    detail = {"type": alarm.type, "severity": alarm.severity, "comment": comment}
    audit.record(session, tenant_id=alarm.tenant_id, actor=actor, action=action, target=str(alarm.id), detail=detail)
