"""The worker's alarm gauges: alarms not closed per type label, severity and state; the oldest open one's wait."""

from datetime import timedelta

from sqlalchemy.orm import Session

from fleet.db.models import Alarm, Tenant, utcnow
from fleet.registry.service import add_vehicles
from worker import metrics
from worker.alarms import refresh_gauges


def test_gauges_count_what_is_not_closed_and_age_the_oldest_open_alarm(session: Session, acme: Tenant) -> None:
    vehicle = add_vehicles(session, acme, ["bus-1"])[0]
    now = utcnow()
    # (type, severity, state, raised minutes ago)
    for alarm_type, severity, state, minutes in [
        ("panic_button", "critical", "open", 20),
        ("panic_button", "critical", "open", 5),
        ("crash", "critical", "acknowledged", 60),
        ("x_vendor_alarm", "warning", "open", 3),
        ("overspeed", "warning", "closed", 90),
    ]:
        raised = now - timedelta(minutes=minutes)
        session.add(
            Alarm(tenant_id=acme.id, vehicle_id=vehicle.id, type=alarm_type, severity=severity, state=state,
                  opened_at=raised - timedelta(hours=2), created_at=raised, updated_at=raised)
        )  # fmt: skip
    session.flush()

    refresh_gauges(session, now)

    def alarms(alarm_type: str, severity: str, state: str) -> float:
        return metrics.ALARMS.labels(alarm_type, severity, state)._value.get()

    assert alarms("panic_button", "critical", "open") == 2
    assert alarms("crash", "critical", "acknowledged") == 1
    assert alarms("other", "warning", "open") == 1
    assert alarms("overspeed", "warning", "open") == alarms("overspeed", "warning", "acknowledged") == 0
    oldest = metrics.ALARM_OLDEST_UNACKNOWLEDGED
    assert oldest.labels("critical")._value.get() == 20 * 60  # from when it was raised, not the event's time
    assert oldest.labels("warning")._value.get() == 3 * 60
    session.query(Alarm).update({"state": "closed"})

    refresh_gauges(session, now)

    assert alarms("panic_button", "critical", "open") == 0
    assert oldest.labels("critical")._value.get() == oldest.labels("warning")._value.get() == 0
