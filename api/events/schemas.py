"""Response bodies of the events module: the shapes of `fleet.events.views.event_view`."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from fleet.contract.events import Severity
from fleet.db.models import Event
from fleet.events.views import event_view


class EventOut(BaseModel):
    """Something that happened to one of your vehicles, in the vehicle's time."""

    id: int
    device_id: str
    source: Literal["unit", "detector"] = Field(description="Reported by the unit, or detected from its telemetry")
    type: str = Field(description="`fatigue`, `panic_button`, `overspeed`, ... (a newer unit's types too)")
    severity: Severity
    started_at: datetime
    ended_at: datetime | None = Field(description="Null while the condition lasts, and for an instant")
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    event_id: str | None = Field(description="The unit's id of the event: files refer to it")
    data: dict[str, Any] = Field(description="By type: see evt-data.json")

    @classmethod
    def from_row(cls, event: Event, device_id: str) -> "EventOut":
        """Build from an events row and its vehicle's device id, as the live feed shows it."""
        return cls.model_validate(event_view(event, device_id))


class EventPage(BaseModel):
    """A page of events, newest start first."""

    items: list[EventOut]
    next: str | None = Field(description="Cursor of the next page, or null on the last page")


class EventCounts(BaseModel):
    """How many events match, in all, per type and per severity."""

    total: int
    by_type: dict[str, int]
    by_severity: dict[str, int] = Field(description="Every severity, 0 included")
