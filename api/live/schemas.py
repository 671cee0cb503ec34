"""Response bodies of the live module."""

from datetime import datetime

from pydantic import BaseModel, Field

from fleet.db.models import VehicleState
from fleet.doors import unpack_doors


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

    @classmethod
    def from_row(cls, state: VehicleState) -> "StateOut":
        """Build from the vehicle_state row."""
        return cls(
            online=state.online,
            status_ts=state.status_ts,
            position=live_position(state),
            can=live_can(state),
            updated_at=state.updated_at,
        )


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


def live_position(state: VehicleState) -> LivePosition | None:
    """Position part of a state row."""
    if state.pos_ts is None:
        return None
    return LivePosition(
        ts=state.pos_ts,
        seq=state.pos_seq or 0,
        lat=state.lat,
        lon=state.lon,
        speed_kmh=state.speed_kmh,
        heading_deg=state.heading_deg,
    )


def live_can(state: VehicleState) -> LiveCan | None:
    """CAN part of a state row."""
    if state.can_ts is None:
        return None
    return LiveCan(
        ts=state.can_ts,
        fuel_level_pct=state.fuel_level_pct,
        distance_total_km=state.distance_total_km,
        passenger_count=state.passenger_count,
        battery_soc_pct=state.battery_soc_pct,
        doors_open=unpack_doors(state.doors_open_mask, state.door_count),
    )
