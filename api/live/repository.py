"""Queries of the live module: plain rows of the latest state, timestamps as naive UTC (`api.render.utc`)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from api.render import BINARY_ROWS, utc
from fleet.db.models import Vehicle, VehicleState

# The columns of vehicle_state an answer shows, in the order `api.live.service` reads them.
STATE_COLUMNS = (
    VehicleState.online,
    utc(VehicleState.status_ts),
    utc(VehicleState.pos_ts),
    VehicleState.pos_seq,
    VehicleState.lat,
    VehicleState.lon,
    VehicleState.speed_kmh,
    VehicleState.heading_deg,
    utc(VehicleState.can_ts),
    VehicleState.fuel_level_pct,
    VehicleState.distance_total_km,
    VehicleState.passenger_count,
    VehicleState.battery_soc_pct,
    VehicleState.doors_open_mask,
    VehicleState.door_count,
)
# Built once, with bound parameters: a request neither builds the statement nor derives its cache key.
TENANT_STATES = (
    select(Vehicle.device_id, Vehicle.label, *STATE_COLUMNS)
    .join(VehicleState, VehicleState.vehicle_id == Vehicle.id)
    .where(Vehicle.tenant_id == bindparam("tenant_id"))
    .order_by(Vehicle.device_id)
)

StateRow = Row[*tuple[Any, ...]]


# On the session's connection, past the ORM's execute (`api.vehicles.repository` says why).
def tenant_states(session: Session, tenant_id: int) -> Sequence[StateRow]:
    """(device id, label, STATE_COLUMNS...) of the tenant's vehicles that have a state, ordered by device id."""
    return session.connection().execute(TENANT_STATES, {"tenant_id": tenant_id}, execution_options=BINARY_ROWS).all()
