"""Rules of the vehicles module: a vehicle exists only within its tenant (`fleet.registry`)."""

from sqlalchemy.orm import Session

from api.live import service as live
from api.vehicles import repository
from api.vehicles.schemas import VehicleDetail, VehicleList, VehicleOut
from fleet.registry.service import find_vehicle

__all__ = ["find_vehicle", "get_vehicle", "list_vehicles"]


def list_vehicles(session: Session, tenant_id: int, group: str | None = None) -> VehicleList:
    """The tenant's vehicles, or those in one of its groups."""
    vehicles = repository.list_vehicles(session, tenant_id, group)
    return VehicleList(items=[VehicleOut.model_validate(v) for v in vehicles])


def get_vehicle(session: Session, tenant_id: int, device_id: str) -> VehicleDetail:
    """The tenant's vehicle with its latest state."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    summary = VehicleOut.model_validate(vehicle)
    return VehicleDetail(**summary.model_dump(), state=live.state_of(session, vehicle.id))
