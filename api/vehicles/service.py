"""Rules of the vehicles module: a vehicle exists only within its tenant (`fleet.registry`)."""

from typing import Any

from sqlalchemy.orm import Session

from api.live import service as live
from api.vehicles import repository
from api.vehicles.schemas import VehicleOut
from fleet.registry.service import is_device_id, unknown_vehicle

__all__ = ["get_vehicle", "list_vehicles"]

# In the order the response model writes them, which `repository.VEHICLE_COLUMNS` follows.
FIELDS = tuple(VehicleOut.model_fields)


def list_vehicles(session: Session, tenant_id: int, group: str | None = None) -> dict[str, Any]:
    """The tenant's vehicles, or those in one of its groups, as a `VehicleList`'s JSON."""
    rows = repository.list_vehicles(session, tenant_id, group)
    return {"items": [dict(zip(FIELDS, row, strict=True)) for row in rows]}


def get_vehicle(session: Session, tenant_id: int, device_id: str) -> dict[str, Any]:
    """The tenant's vehicle with its latest state, as a `VehicleDetail`'s JSON."""
    row = repository.vehicle_of_tenant(session, tenant_id, device_id) if is_device_id(device_id) else None
    if row is None:
        raise unknown_vehicle(device_id)
    detail = dict(zip(FIELDS, row[: len(FIELDS)], strict=True))
    detail["state"] = live.state_at(row, len(FIELDS))
    return detail
