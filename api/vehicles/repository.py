"""Queries of the vehicles module."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from api.live.repository import STATE_COLUMNS
from api.render import utc
from fleet.db.models import Vehicle, VehicleState
from fleet.registry.repository import in_group

# A `VehicleOut`'s columns in its field order, created_at as naive UTC (`api.render.utc`).
VEHICLE_COLUMNS = (
    Vehicle.device_id,
    Vehicle.label,
    Vehicle.plate,
    Vehicle.tachograph_required,
    Vehicle.groups,
    utc(Vehicle.created_at).label("created_at"),
)
# Built once, with a bound parameter: a request without a group neither builds it nor derives its cache key. These
# queries run on the session's connection, past the ORM's execute (its compile state and autoflush were a tenth of
# the vehicle list's CPU): the GET requests that read them have nothing to flush.
TENANT_VEHICLES = (
    select(*VEHICLE_COLUMNS).where(Vehicle.tenant_id == bindparam("tenant_id")).order_by(Vehicle.device_id)
)
# One of them by device id with its latest state (`api.live.repository.STATE_COLUMNS`, then updated_at), null
# before it has reported: one statement, not one for each.
TENANT_VEHICLE = (
    select(*VEHICLE_COLUMNS, *STATE_COLUMNS, utc(VehicleState.updated_at))
    .outerjoin(VehicleState, VehicleState.vehicle_id == Vehicle.id)
    .where(Vehicle.tenant_id == bindparam("tenant_id"), Vehicle.device_id == bindparam("device_id"))
)


def list_vehicles(session: Session, tenant_id: int, group: str | None = None) -> Sequence[Row[*tuple[Any, ...]]]:
    """VEHICLE_COLUMNS of a tenant's vehicles (only those in `group` when given), ordered by device id."""
    stmt = TENANT_VEHICLES if group is None else TENANT_VEHICLES.where(in_group(session, group))
    return session.connection().execute(stmt, {"tenant_id": tenant_id}).all()


def vehicle_of_tenant(session: Session, tenant_id: int, device_id: str) -> Row[*tuple[Any, ...]] | None:
    """VEHICLE_COLUMNS and the state columns of the tenant's vehicle `device_id` (TENANT_VEHICLE)."""
    return session.connection().execute(TENANT_VEHICLE, {"tenant_id": tenant_id, "device_id": device_id}).first()
