"""Response bodies of the CAN module."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.live.schemas import doors_from_mask
from api.timeseries import Page


class CanSampleOut(BaseModel):
    """Bus-FMS values read from the CAN bus at one instant."""

    ts: datetime
    seq: int
    fuel_level_pct: float | None
    fuel_used_total_l: float | None
    distance_total_km: float | None
    engine_speed_rpm: float | None
    engine_hours_total_h: float | None
    coolant_temp_c: float | None
    doors_open: list[bool] | None = Field(description="One entry per door, front first; true when open")
    passenger_count: int | None
    battery_soc_pct: float | None

    @classmethod
    def from_row(cls, row: Any) -> "CanSampleOut":
        """Build from a can_samples row, unpacking the door mask."""
        return cls(
            ts=row.ts,
            seq=row.seq,
            fuel_level_pct=row.fuel_level_pct,
            fuel_used_total_l=row.fuel_used_total_l,
            distance_total_km=row.distance_total_km,
            engine_speed_rpm=row.engine_speed_rpm,
            engine_hours_total_h=row.engine_hours_total_h,
            coolant_temp_c=row.coolant_temp_c,
            doors_open=doors_from_mask(row.doors_open_mask, row.door_count),
            passenger_count=row.passenger_count,
            battery_soc_pct=row.battery_soc_pct,
        )


CanPage = Page[CanSampleOut]
