"""Rules of the live module: the latest state as the JSON of its response models, built from plain rows."""

from typing import Any

from sqlalchemy.orm import Session

from api.live import repository
from api.live.repository import StateRow
from fleet.doors import unpack_doors

Item = dict[str, Any]
# Where the parts of `repository.STATE_COLUMNS` start within them; `tenant_states` has two columns before them.
ONLINE, STATUS_TS, POSITION, CAN = 0, 1, 2, 8
UPDATED_AT = len(repository.STATE_COLUMNS)


def state_at(row: StateRow, at: int) -> Item | None:
    """A `StateOut`'s JSON of a row's `repository.STATE_COLUMNS` and updated_at, starting at `at`; None when they
    are null, an outer join's row of a vehicle that has not reported."""
    if row[at + UPDATED_AT] is None:
        return None
    return {
        "online": row[at + ONLINE],
        "status_ts": row[at + STATUS_TS],
        "position": _position(row, at + POSITION),
        "can": _can(row, at + CAN),
        "updated_at": row[at + UPDATED_AT],
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
