"""Response bodies of the vehicles module."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.live.schemas import StateOut


class VehicleOut(BaseModel):
    """A registered vehicle."""

    model_config = ConfigDict(from_attributes=True)

    device_id: str
    label: str | None
    plate: str | None
    tachograph_required: bool = Field(description="false: exempt from the tachograph download periods")
    created_at: datetime


class VehicleList(BaseModel):
    """The tenant's vehicles, ordered by device id."""

    items: list[VehicleOut]


class VehicleDetail(VehicleOut):
    """A vehicle with its latest known state (null before it has reported anything)."""

    state: StateOut | None
