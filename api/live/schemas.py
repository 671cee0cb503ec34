"""Response bodies of the live module."""

from datetime import datetime

from pydantic import BaseModel, Field


class LivePosition(BaseModel):
    """Latest GNSS fix."""

    ts: datetime
    seq: int
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    heading_deg: float | None


class LiveCan(BaseModel):
    """Latest CAN values."""

    ts: datetime
    fuel_level_pct: float | None
    distance_total_km: float | None
    passenger_count: int | None
    battery_soc_pct: float | None
    doors_open: list[bool] | None = Field(description="One entry per door, front first; true when open")


class StateOut(BaseModel):
    """Latest known state of a vehicle; each part is null until the vehicle has reported it."""

    online: bool | None
    status_ts: datetime | None
    position: LivePosition | None
    can: LiveCan | None
    updated_at: datetime


class LiveItem(BaseModel):
    """One vehicle on the live map."""

    device_id: str
    label: str | None
    online: bool | None
    position: LivePosition | None
    can: LiveCan | None
    status_ts: datetime | None


class LiveList(BaseModel):
    """Latest state of every vehicle that has reported anything, ordered by device id."""

    items: list[LiveItem]
