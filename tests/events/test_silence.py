"""A vehicle online with nothing received for longer than its rule gets a `silent` event and alarm, which end when
it speaks again or goes offline."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fleet.db.engine import make_session_factory
from fleet.db.models import Alarm, Event, EventRule, Vehicle, VehicleState
from fleet.events.silence import sweep
from tests.fixtures.factories import seed_tenant

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def state(session: Session, device_id: str, online: bool, last_received: datetime) -> int:
    vehicle_id = session.scalars(select(Vehicle.id).where(Vehicle.device_id == device_id)).one()
    row = session.get(VehicleState, vehicle_id) or VehicleState(vehicle_id=vehicle_id)
    row.online, row.updated_at = online, last_received
    session.merge(row)
    session.commit()
    return vehicle_id


def silent_events(session: Session, vehicle_id: int) -> list[tuple[datetime, datetime | None]]:
    session.expire_all()
    query = select(Event.started_at, Event.ended_at).where(Event.vehicle_id == vehicle_id, Event.type == "silent")
    return [(s, e) for s, e in session.execute(query)]


def test_silent_while_online_opens_and_ends(pg_engine: Engine, unique: str) -> None:
    tenant = seed_tenant(pg_engine, f"quiet-{unique}", [f"q-{unique}-a", f"q-{unique}-b", f"q-{unique}-c"])
    quiet, offline, chatty = tenant.device_ids
    with make_session_factory(pg_engine)() as session:
        quiet_id = state(session, quiet, True, NOW - timedelta(minutes=5))
        offline_id = state(session, offline, False, NOW - timedelta(minutes=5))
        chatty_id = state(session, chatty, True, NOW - timedelta(seconds=30))

        sweep(session, NOW)
        session.commit()
        sweep(session, NOW + timedelta(seconds=5))  # again: nothing new
        session.commit()
        assert silent_events(session, quiet_id) == [(NOW - timedelta(minutes=5), None)]
        assert silent_events(session, offline_id) == silent_events(session, chatty_id) == []
        alarm = session.scalars(select(Alarm).where(Alarm.vehicle_id == quiet_id)).one()
        assert (alarm.type, alarm.severity, alarm.state) == ("silent", "warning", "open")

        state(session, quiet, True, NOW + timedelta(seconds=20))
        sweep(session, NOW + timedelta(seconds=25))
        session.commit()
        assert silent_events(session, quiet_id) == [(NOW - timedelta(minutes=5), NOW + timedelta(seconds=20))]
        session.refresh(alarm)
        assert (alarm.state, alarm.close_reason) == ("closed", "condition ended")


def test_the_tenants_rule_sets_how_long_is_silent(pg_engine: Engine, unique: str) -> None:
    tenant = seed_tenant(pg_engine, f"rule-{unique}", [f"r-{unique}"])
    with make_session_factory(pg_engine)() as session:
        vehicle_id = state(session, tenant.device_ids[0], True, NOW - timedelta(minutes=5))
        session.add(EventRule(tenant_id=tenant.id, group_name="", detector="silent", params={"after_s": 600}))
        session.commit()
        sweep(session, NOW)
        session.commit()
        assert silent_events(session, vehicle_id) == []
        sweep(session, NOW + timedelta(minutes=6))
        session.commit()
        assert silent_events(session, vehicle_id) == [(NOW - timedelta(minutes=5), None)]
