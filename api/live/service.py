"""Rules of the live module: the latest state as the JSON of its response models, built from plain rows."""

from typing import Any

from sqlalchemy.orm import Session

from api.live import repository
from api.live.repository import StateRow
from fleet.doors import unpack_doors

Item = dict[str, Any]
# Where the parts of `repository.STATE_COLUMNS` start in a row of `state_of` (0) and of `tenant_states` (2).
ONLINE, STATUS_TS, POSITION, CAN = 0, 1, 2, 8


def state_of(session: Session, vehicle_id: int) -> Item | None:
    """Latest state of a vehicle the caller already owns as a `StateOut`'s JSON, or None before it has reported."""
    row = repository.state_of(session, vehicle_id)
    if row is None:
        return None
    return {
        "online": row[ONLINE],
        "status_ts": row[STATUS_TS],
        "position": _position(row, POSITION),
        "can": _can(row, CAN),
        "updated_at": row[-1],
    }


def live(session: Session, tenant_id: int) -> Item:
    """Latest state of each of the tenant's vehicles that has one, as a `LiveList`'s JSON."""
    return {"items": [_item(row) for row in repository.tenant_states(session, tenant_id)]}


def _item(row: StateRow) -> Item:
    """A `LiveItem` of a `tenant_states` row: device id and label, then the state's columns."""
    return {
        "device_id": row[0],
        "label": row[1],
        "online": row[2 + ONLINE],
        "position": _position(row, 2 + POSITION),
        "can": _can(row, 2 + CAN),
        "status_ts": row[2 + STATUS_TS],
    }


def _position(row: StateRow, at: int) -> Item | None:
    """A `LivePosition` of the position columns starting at `at`, None without a position."""
    if row[at] is None:
        return None
    return {
        "ts": row[at],
        "seq": row[at + 1] or 0,
        "lat": row[at + 2],
        "lon": row[at + 3],
        "speed_kmh": row[at + 4],
        "heading_deg": row[at + 5],
    }


def _can(row: StateRow, at: int) -> Item | None:
    """A `LiveCan` of the CAN columns starting at `at`, None without CAN values."""
    if row[at] is None:
        return None
    return {
        "ts": row[at],
        "fuel_level_pct": row[at + 1],
        "distance_total_km": row[at + 2],
        "passenger_count": row[at + 3],
        "battery_soc_pct": row[at + 4],
        "doors_open": unpack_doors(row[at + 5], row[at + 6]),
    }
