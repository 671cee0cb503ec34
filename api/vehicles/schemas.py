"""Response bodies of the vehicles module."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.live.schemas import StateOut
from fleet.registry.service import MAX_GROUPS

GROUP_NAME_DESCRIPTION = "1-64 of A-Z a-z 0-9 space _ - ., not beginning or ending with a space"


class VehicleOut(BaseModel):
    """A registered vehicle."""

    model_config = ConfigDict(from_attributes=True)

    device_id: str
    label: str | None
    plate: str | None
    tachograph_required: bool = Field(description="false: exempt from the tachograph download periods")
    groups: list[str] = Field(description=f"The groups of your tenant it is in, sorted (at most {MAX_GROUPS})")
    created_at: datetime


class VehicleList(BaseModel):
    """The tenant's vehicles, ordered by device id."""

    items: list[VehicleOut]


class VehicleDetail(VehicleOut):
    """A vehicle with its latest known state (null before it has reported anything)."""

    state: StateOut | None
