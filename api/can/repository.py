"""Queries of the CAN module."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from api.timeseries import Window
from fleet.db.models import CanSample

COLUMNS = (
    CanSample.ts,
    CanSample.seq,
    CanSample.fuel_level_pct,
    CanSample.fuel_used_total_l,
    CanSample.distance_total_km,
    CanSample.engine_speed_rpm,
    CanSample.engine_hours_total_h,
    CanSample.coolant_temp_c,
    CanSample.doors_open_mask,
    CanSample.door_count,
    CanSample.passenger_count,
    CanSample.battery_soc_pct,
)


def can_samples(session: Session, vehicle_id: int, window: Window) -> Sequence[Row[*tuple[Any, ...]]]:
    """Up to `window.limit + 1` CAN samples in the window, by ts ascending (served by the (vehicle_id, ts) key)."""
    stmt = select(*COLUMNS).where(
        CanSample.vehicle_id == vehicle_id, CanSample.ts >= window.since, CanSample.ts < window.until
    )
    if window.after is not None:
        stmt = stmt.where(CanSample.ts > window.after)
    return session.execute(stmt.order_by(CanSample.ts).limit(window.limit + 1)).all()
