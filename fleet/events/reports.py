"""The unit's event records (stream `evt`) stored as events, in ingest's batch transaction.

Each vehicle's records apply in (ts, seq) order and each is idempotent, so a store-and-forward batch, a redelivery
and a replay give the events of the live stream:

- A record with an `event_id` is that event: the first one stores it, a later one ends it (`ended_at`) or changes
  its data. Without one, a record is an event of its own, keyed by its (ts, seq).
- `dtc` is an episode of one code (source address, SPN, FMI): `active` opens it (a repeat while it is open updates
  the occurrence count and lamps), `cleared` ends it. `telltale` is an episode of one tell-tale in one state: a new
  state ends the old episode and opens the next, `off` only ends it. The unit's stream keeps their order (they are
  one stream with `seq`); a `cleared` seen with nothing open is kept as an instant.
- A lamp raises the severity: a DM1 red stop lamp or a red tell-tale makes the event critical, an amber warning
  lamp, MIL, protect lamp or yellow tell-tale at least a warning.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from fleet.contract.events import SEVERITIES, EventRecord, Severity
from fleet.db.models import Event, utcnow
from fleet.deadletters.service import Rejection
from fleet.events import service
from fleet.events.service import UNIT, Changes, Draft
from fleet.registry import repository as registry

TELLTALE_SEVERITY: dict[str, Severity] = {"red": "critical", "yellow": "warning", "info": "info"}


@dataclass(frozen=True, slots=True)
class UnitEvent:
    """One `evt` record of a vehicle, as ingest received it."""

    vehicle_id: int
    record: EventRecord
    received_at: datetime


def apply_unit_events(connection: Connection, reports: Sequence[UnitEvent], changes: Changes) -> list[Rejection]:
    """Store `reports` as events in the caller's transaction; nothing is refused (an unknown type is kept)."""
    if not reports:
        return []
    now = utcnow()
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        devices = registry.devices_by_vehicle_id(session, {r.vehicle_id for r in reports})
        for report in sorted(reports, key=lambda r: (r.vehicle_id, r.record.ts, r.record.seq)):
            tenant_id, device_id = devices[report.vehicle_id]
            _apply(session, _draft(report, tenant_id, device_id), report.record, changes, now)
        # Releases the session's savepoint into ingest's transaction, which commits (or rolls back) the batch.
        session.commit()
    return []


def _draft(report: UnitEvent, tenant_id: int, device_id: str) -> Draft:
    r = report.record
    key = f"u:{r.event_id}" if r.event_id else f"u:{r.ts.isoformat()}/{r.seq}"
    return Draft(
        tenant_id=tenant_id, vehicle_id=report.vehicle_id, device_id=device_id, key=key, source=UNIT, type=r.type,
        severity=_severity(r), started_at=r.ts, ended_at=r.ended_at, lat=r.lat, lon=r.lon, speed_kmh=r.speed_kmh,
        data=dict(r.data), unit_event_id=r.event_id,
    )  # fmt: skip


def _apply(session: Session, draft: Draft, record: EventRecord, changes: Changes, now: datetime) -> None:
    if record.type in ("dtc", "telltale"):
        _apply_episode(session, draft, record, changes, now)
        return
    current = service.by_key(session, draft.vehicle_id, draft.key)
    if current is not None:
        # A later record of the same event: it may end it and change its data, never move its start.
        ended_at = draft.ended_at or current.ended_at
        draft = replace(draft, started_at=current.started_at, ended_at=ended_at, data={**current.data, **draft.data})
        draft = replace(draft, severity=_higher(current.severity, draft.severity))
    service.save(session, draft, current, changes, now)


def _apply_episode(session: Session, draft: Draft, record: EventRecord, changes: Changes, now: datetime) -> None:
    """A `dtc` or `telltale` record: open, update or end the episode of its code."""
    code = _code(record)
    key = f"u:{record.type}:{code}:{record.ts.isoformat()}"
    if service.by_key(session, draft.vehicle_id, key) is not None:
        return  # this record opened an episode already: a redelivery
    opened = _open_episode(session, draft.vehicle_id, record.type, code)
    state = record.data["state"]
    ending = state in ("cleared", "off")
    if opened is not None and opened.ended_at is None:
        # A dtc stays one episode while active; a tell-tale, while in the same state.
        if not ending if record.type == "dtc" else opened.data["state"] == state:
            data = {**opened.data, **record.data}
            service.save(session, replace(_as(opened, draft), data=data, severity=draft.severity), opened, changes, now)
            return
        service.save(session, replace(_as(opened, draft), ended_at=record.ts), opened, changes, now)
        if ending:
            return
    elif ending and _ended_at(session, draft.vehicle_id, record.type, code, record.ts):
        return  # the record that ended an episode, again
    alone = replace(draft, key=key, data={**record.data, "code": code}, ended_at=record.ts if ending else None)
    service.save(session, alone, None, changes, now)


def _as(event: Event, draft: Draft) -> Draft:
    """`event` as a draft, to be changed and saved."""
    return replace(
        draft, key=event.key, severity=event.severity, started_at=event.started_at, ended_at=event.ended_at,
        lat=event.lat, lon=event.lon, speed_kmh=event.speed_kmh, data=event.data, unit_event_id=event.unit_event_id,
    )  # fmt: skip


def _code(record: EventRecord) -> str:
    data = record.data
    if record.type == "dtc":
        return f"{data.get('source_address', '-')}:{data['spn']}:{data['fmi']}"
    return f"{data['block']}:{data['telltale']}"


def _open_episode(session: Session, vehicle_id: int, event_type: str, code: str) -> Event | None:
    """The vehicle's newest episode of `code`, if it is still open."""
    prefix = f"u:{event_type}:{code}:"
    newest = session.scalars(
        select(Event)
        .where(Event.vehicle_id == vehicle_id, Event.type == event_type, Event.key.startswith(prefix, autoescape=True))
        .order_by(Event.started_at.desc())
        .limit(1)
    ).first()
    return newest if newest is not None and newest.ended_at is None else None


def _ended_at(session: Session, vehicle_id: int, event_type: str, code: str, at: datetime) -> bool:
    prefix = f"u:{event_type}:{code}:"
    query = select(Event.id).where(
        Event.vehicle_id == vehicle_id, Event.type == event_type, Event.ended_at == at,
        Event.key.startswith(prefix, autoescape=True),
    )  # fmt: skip
    return session.scalars(query.limit(1)).first() is not None


def _severity(record: EventRecord) -> Severity:
    """The unit's severity, raised by a lamp that is on."""
    data = record.data
    lamp: Severity = "info"
    if record.type == "dtc":
        lamps = data.get("lamps", {})
        if lamps.get("red_stop"):
            lamp = "critical"
        elif lamps.get("amber_warning") or lamps.get("mil") or lamps.get("protect"):
            lamp = "warning"
    elif record.type == "telltale":
        lamp = TELLTALE_SEVERITY.get(data["state"], "info")
    return _higher(record.severity, lamp)


def _higher(a: str, b: str) -> Severity:
    return SEVERITIES[max(SEVERITIES.index(a), SEVERITIES.index(b))]
