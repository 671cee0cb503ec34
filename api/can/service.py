"""Rules of the CAN module."""

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api.timeseries.export import BATCH_ROWS, Batches, Item, batches_after
from api.timeseries.repository import rows_in_window
from api.timeseries.window import SeriesRow, Window, split_page
from fleet.doors import unpack_doors
from fleet.registry.service import find_vehicle_id
from fleet.streams import CAN_SAMPLES


def can_samples(session: Session, tenant_id: int, device_id: str, window: Window) -> dict[str, Any]:
    """A page of the CAN samples of one of the tenant's vehicles, as the JSON of a `CanPage`."""
    vehicle_id = find_vehicle_id(session, tenant_id, device_id)
    items, next_cursor = _page(session, vehicle_id, window)
    return {"items": items, "next": next_cursor}


def export(
    session: Session, sessions: sessionmaker[Session], tenant_id: int, device_id: str, window: Window
) -> Batches:
    """Every CAN sample of the window, a batch at a time: the first read now, each later one in a session of its
    own."""
    vehicle_id = find_vehicle_id(session, tenant_id, device_id)
    window = replace(window, limit=BATCH_ROWS, after=None)

    def read(window: Window) -> tuple[list[Item], bool]:
        with sessions() as own, own.begin():
            items, next_cursor = _page(own, vehicle_id, window)
            return items, next_cursor is not None

    first, next_cursor = _page(session, vehicle_id, window)
    return batches_after(first, next_cursor is not None, window, read)


def _page(session: Session, vehicle_id: int, window: Window) -> tuple[list[Item], str | None]:
    """Up to `window.limit` samples after the cursor, and the cursor of the next page when more follow."""
    rows, next_cursor = split_page(rows_in_window(session, CAN_SAMPLES, vehicle_id, window), window.limit)
    return [_item(row) for row in rows], next_cursor


def _item(row: SeriesRow) -> Item:
    """A can_samples row as a `CanSampleOut`'s JSON: the door mask unpacked, in the model's field order."""
    ts, seq, fuel, fuel_used, distance, rpm, hours, coolant, mask, door_count, passengers, soc = row
    return {
        "ts": ts,
        "seq": seq,
        "fuel_level_pct": fuel,
        "fuel_used_total_l": fuel_used,
        "distance_total_km": distance,
        "engine_speed_rpm": rpm,
        "engine_hours_total_h": hours,
        "coolant_temp_c": coolant,
        "doors_open": unpack_doors(mask, door_count),
        "passenger_count": passengers,
        "battery_soc_pct": soc,
    }
