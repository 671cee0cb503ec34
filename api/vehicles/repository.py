"""Queries of the vehicles module."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from api.render import utc
from fleet.db.models import Vehicle
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
# Built once, with a bound parameter: a request without a group neither builds it nor derives its cache key.
TENANT_VEHICLES = select(*VEHICLE_COLUMNS).where(Vehicle.tenant_id == bindparam("tenant_id"))


def list_vehicles(session: Session, tenant_id: int, group: str | None = None) -> Sequence[Row[*tuple[Any, ...]]]:
    """VEHICLE_COLUMNS of a tenant's vehicles (only those in `group` when given), ordered by device id."""
    stmt = TENANT_VEHICLES if group is None else TENANT_VEHICLES.where(in_group(session, group))
    return session.execute(stmt.order_by(Vehicle.device_id), {"tenant_id": tenant_id}).all()
