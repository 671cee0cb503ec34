"""Response bodies of the CAN module."""

from datetime import datetime

from pydantic import BaseModel, Field

from api.timeseries.window import Page


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


CanPage = Page[CanSampleOut]
