"""The one way events are written: stored once per key, followed by their alarm, reported on the live feed.

Both sources go through `save`: the unit's records (`fleet.events.reports`) and the detection
(`fleet.events.detection`), which also `retract`s an event that later records show did not happen as detected.
`Changes` gathers what a batch did, for the caller to publish (`fleet.live.feed`) and count.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from fleet.alarms import service as alarms
from fleet.contract.events import DETECTED_TYPES, EVENT_TYPES
from fleet.db.models import Event
from fleet.events.views import event_view
from fleet.live import feed
from fleet.live.feed import Kind, Message

UNIT, DETECTOR = "unit", "detector"
# Fields of an event its source may change after it was stored.
MUTABLE = ("key", "severity", "started_at", "ended_at", "lat", "lon", "speed_kmh", "data", "unit_event_id")


@dataclass(frozen=True, slots=True)
class Draft:
    """An event as its source describes it."""

    tenant_id: int
    vehicle_id: int
    device_id: str
    key: str
    source: str
    type: str
    severity: str
    started_at: datetime
    ended_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    unit_event_id: str | None = None


@dataclass(slots=True)
class Changes:
    """What a batch changed: live messages to publish and the events created, by (type label, source)."""

    messages: list[Message] = field(default_factory=list)
    created: Counter[tuple[str, str]] = field(default_factory=Counter)

    def publish(self, connection: Connection, now: datetime) -> None:
        """Write the gathered messages to the live feed in `connection`'s transaction."""
        feed.publish(connection, self.messages, now)
        self.messages.clear()


def type_label(event_type: str, source: str) -> str:
    """The event type as a metric label: unknown types of the units are `other` (the label set stays bounded)."""
    known = DETECTED_TYPES if source == DETECTOR else EVENT_TYPES
    return event_type if event_type in known else "other"


def by_key(session: Session, vehicle_id: int, key: str) -> Event | None:
    """The vehicle's event stored under `key`."""
    return session.scalars(select(Event).where(Event.vehicle_id == vehicle_id, Event.key == key)).first()


def save(session: Session, draft: Draft, current: Event | None, changes: Changes, now: datetime) -> Event:
    """Store `draft` as a new event, or as `current` changed; its alarm follows and the feed hears of a change."""
    if current is None:
        event = Event(
            tenant_id=draft.tenant_id, vehicle_id=draft.vehicle_id, source=draft.source, type=draft.type,
            received_at=now, updated_at=now, **{name: getattr(draft, name) for name in MUTABLE},
        )  # fmt: skip
        session.add(event)
        session.flush()
        changes.created[(type_label(draft.type, draft.source), draft.source)] += 1
    else:
        event = current
        changed = {name: getattr(draft, name) for name in MUTABLE if getattr(event, name) != getattr(draft, name)}
        if not changed:
            return event
        for name, value in changed.items():
            setattr(event, name, value)
        event.updated_at = now
        session.flush()
    changes.messages.append(Message(draft.tenant_id, Kind.EVENT, event_view(event, draft.device_id)))
    alarms.follow_event(session, event, draft.device_id, changes.messages, now)
    return event


def retract(session: Session, event: Event, device_id: str, changes: Changes, now: datetime) -> None:
    """Remove a detected event that later records disprove; its alarm closes saying so."""
    alarms.event_retracted(session, event, device_id, changes.messages, now)
    view = {**event_view(event, device_id), "retracted": True}
    session.delete(event)
    session.flush()
    changes.messages.append(Message(event.tenant_id, Kind.EVENT, view))
