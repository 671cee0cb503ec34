"""Commands of contract v1: the downlink `cmd` message and the params of each command type.

Every type has a params model; the API validates a command's params with it (422 with the reason), the JSON
Schema files publish them, and a unit can check what it receives the same way.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleet.contract.records import CommandId, ShortId


class Params(BaseModel):
    """Params of a command type: exactly these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DriverMessage(Params):
    """Show `text` on the driver's display."""

    text: str = Field(min_length=1, max_length=500)


class RequestFile(Params):
    """Upload a file through the file flow, carrying this command's id: a tachograph download or a camera clip."""

    kind: Literal["tachograph_vu", "tachograph_card", "video"]
    camera: ShortId | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @model_validator(mode="after")
    def _window(self) -> "RequestFile":
        if self.kind == "video":
            if self.started_at is None or self.ended_at is None:
                raise ValueError("a video needs started_at and ended_at")
            if self.started_at.tzinfo is None or self.ended_at.tzinfo is None:
                raise ValueError("started_at and ended_at need a UTC offset")
            if not self.started_at < self.ended_at:
                raise ValueError("started_at must be before ended_at")
            if (self.ended_at - self.started_at).total_seconds() > 3600:
                raise ValueError("a clip covers at most an hour")
        return self


class SetReporting(Params):
    """Change how often the unit reports positions and CAN values."""

    pos_interval_seconds: float | None = Field(default=None, ge=0.5, le=3600)
    can_interval_seconds: float | None = Field(default=None, ge=0.5, le=3600)

    @model_validator(mode="after")
    def _something(self) -> "SetReporting":
        if self.pos_interval_seconds is None and self.can_interval_seconds is None:
            raise ValueError("set pos_interval_seconds, can_interval_seconds or both")
        return self


class Reboot(Params):
    """Restart the unit (it reconnects afterwards)."""


CommandType = Literal["driver_message", "request_file", "set_reporting", "reboot"]
PARAMS: dict[str, type[Params]] = {
    "driver_message": DriverMessage,
    "request_file": RequestFile,
    "set_reporting": SetReporting,
    "reboot": Reboot,
}


class CommandMessage(BaseModel):
    """Downlink `fleet/v1/{device_id}/cmd`: do `type` with `params` unless `expires_at` has passed.

    A unit answers on its `ack` stream with `command_id` = `id`: `received` first, then `done`, `failed` or
    `rejected`. It may receive a command twice (at least once): it acts once per `id` and answers again.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: CommandId
    type: CommandType
    params: dict[str, Any]
    expires_at: datetime


def parse_params(command_type: str, params: Any) -> Params:
    """`params` validated against the type's model; `ValueError` (pydantic's) when they do not fit."""
    return PARAMS[command_type].model_validate(params)
