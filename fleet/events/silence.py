"""Vehicle silent while online: the one detector that works on the clock, since what it finds is an absence.

The broker says a unit is online (its retained `status`) until its connection drops and the last will arrives; a
unit whose software hangs, or whose GNSS and CAN are dead, stays online and sends nothing. A vehicle online with
nothing newer received for longer than its rule's `after_s` gets a `silent` event from the time of the last
record received; the event ends when a newer record arrives, or when the vehicle goes offline.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import Event, Vehicle, VehicleState
from fleet.events import rules, service
from fleet.events.service import DETECTOR, Changes, Draft

SILENT = "silent"


def sweep(session: Session, now: datetime) -> Changes:
    """Open and end the `silent` events in the caller's transaction; returns what changed (published already)."""
    vehicles = session.execute(
        select(Vehicle.id, Vehicle.tenant_id, Vehicle.device_id, Vehicle.groups, VehicleState.online,
               VehicleState.updated_at)
        .join(VehicleState, VehicleState.vehicle_id == Vehicle.id)
    ).all()  # fmt: skip
    under_way = {
        event.vehicle_id: event
        for event in session.scalars(
            select(Event).where(Event.type == SILENT, Event.source == DETECTOR, Event.ended_at.is_(None))
        )
    }
    tenant_rules = rules.load(session, sorted({v.tenant_id for v in vehicles}))
    changes = Changes()
    for vehicle_id, tenant_id, device_id, groups, online, last_received in vehicles:
        rule = tenant_rules[tenant_id].for_vehicle(SILENT, groups or ())
        quiet = bool(online) and rule.enabled and (now - last_received).total_seconds() > rule.after_s  # type: ignore[attr-defined]
        event = under_way.get(vehicle_id)
        if quiet and event is None:
            draft = Draft(
                tenant_id=tenant_id, vehicle_id=vehicle_id, device_id=device_id,
                key=f"d:{SILENT}:{last_received.isoformat()}", source=DETECTOR, type=SILENT, severity=rule.severity,
                started_at=last_received, data={"last_record_at": last_received.isoformat()},
            )  # fmt: skip
            service.save(session, draft, service.by_key(session, vehicle_id, draft.key), changes, now)
        elif event is not None and not quiet:
            ended_at = last_received if last_received > event.started_at else now
            draft = Draft(
                tenant_id=tenant_id, vehicle_id=vehicle_id, device_id=device_id, key=event.key, source=DETECTOR,
                type=SILENT, severity=event.severity, started_at=event.started_at, ended_at=ended_at, data=event.data,
            )  # fmt: skip
            service.save(session, draft, event, changes, now)
    changes.publish(session.connection(), now)
    return changes
