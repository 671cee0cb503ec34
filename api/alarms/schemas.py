"""Request and response bodies of the alarms module: the shapes of `fleet.events.views.alarm_view`."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.events.schemas import EventOut
from fleet.alarms.service import MAX_COMMENT
from fleet.db.models import Alarm
from fleet.events.views import alarm_view

STATE_DESCRIPTION = (
    "open -> acknowledged -> closed, or open -> closed: by an operator, or by itself when its event's condition ends"
)


class AlarmOut(BaseModel):
    """The operator's side of a warning or critical event of one of your vehicles."""

    id: int
    device_id: str
    event: int | None = Field(description="The event's `id`; null once the event was retracted by later records")
    type: str = Field(description="The event's type")
    severity: Literal["warning", "critical"]
    state: Literal["open", "acknowledged", "closed"] = Field(description=STATE_DESCRIPTION)
    opened_at: datetime = Field(description="The event's start, in the vehicle's time")
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="The name of the token that acknowledged it")
    comment: str | None = Field(description="The operator's latest comment")
    closed_at: datetime | None
    closed_by: str | None = Field(description="The name of the token that closed it; null when it closed by itself")
    close_reason: str | None = Field(description="`closed by hand`, `condition ended` or why it was retracted")

    @classmethod
    def from_row(cls, alarm: Alarm, device_id: str) -> "AlarmOut":
        """Build from an alarms row and its vehicle's device id, as the live feed shows it."""
        return cls.model_validate(alarm_view(alarm, device_id))


class AlarmDetail(AlarmOut):
    """An alarm with its event."""

    event_detail: EventOut | None = Field(description="The event itself; null once it was retracted")


class AlarmPage(BaseModel):
    """A page of alarms, newest first."""

    items: list[AlarmOut]
    next: str | None = Field(description="Cursor of the next page, or null on the last page")


class AlarmCounts(BaseModel):
    """How many alarms match, in all, per type, per state and per severity."""

    total: int
    by_type: dict[str, int]
    by_state: dict[str, int] = Field(description="Every state asked for, 0 included")
    by_severity: dict[str, int] = Field(description="warning and critical, 0 included")


class AlarmActionIn(BaseModel):
    """An operator's note on acknowledging or closing an alarm."""

    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(
        default=None, max_length=MAX_COMMENT, pattern=r"^[^\x00]*$", description="Kept on the alarm; audited"
    )
