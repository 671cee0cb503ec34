"""The JSON shapes of an event and an alarm, one definition for the API, the live feed and the webhooks."""

from typing import Any

from fleet.db.models import Alarm, Event


def event_view(event: Event, device_id: str) -> dict[str, Any]:
    """An event as the API shows it."""
    return {
        "id": event.id,
        "device_id": device_id,
        "source": event.source,
        "type": event.type,
        "severity": event.severity,
        "started_at": event.started_at.isoformat(),
        "ended_at": event.ended_at.isoformat() if event.ended_at else None,
        "lat": event.lat,
        "lon": event.lon,
        "speed_kmh": event.speed_kmh,
        "event_id": event.unit_event_id,
        "data": event.data,
    }


def alarm_view(alarm: Alarm, device_id: str) -> dict[str, Any]:
    """An alarm as the API shows it."""
    return {
        "id": alarm.id,
        "device_id": device_id,
        "event": alarm.event_id,
        "type": alarm.type,
        "severity": alarm.severity,
        "state": alarm.state,
        "opened_at": alarm.opened_at.isoformat(),
        "acknowledged_at": alarm.acknowledged_at.isoformat() if alarm.acknowledged_at else None,
        "acknowledged_by": alarm.acknowledged_by,
        "comment": alarm.comment,
        "closed_at": alarm.closed_at.isoformat() if alarm.closed_at else None,
        "closed_by": alarm.closed_by,
        "close_reason": alarm.close_reason,
    }
