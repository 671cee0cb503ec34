"""Rules of the vehicles module: a vehicle exists only within its tenant."""

from sqlalchemy.orm import Session

from api.live import service as live
from api.vehicles import repository
from api.vehicles.schemas import VehicleDetail, VehicleList, VehicleOut
from fleet.contract.topics import DEVICE_ID_PATTERN
from fleet.db.models import Vehicle
from fleet.errors import NotFound


def list_vehicles(session: Session, tenant_id: int) -> VehicleList:
    """The tenant's vehicles."""
    return VehicleList(items=[VehicleOut.model_validate(v) for v in repository.list_vehicles(session, tenant_id)])


def find_vehicle(session: Session, tenant_id: int, device_id: str) -> Vehicle:
    """The tenant's vehicle `device_id`; 404 when unknown or another tenant's, so existence never leaks."""
    # A string that cannot be a device id (NUL bytes, 10k characters...) never reaches the database.
    vehicle = repository.get_vehicle(session, tenant_id, device_id) if DEVICE_ID_PATTERN.fullmatch(device_id) else None
    if vehicle is None:
        raise NotFound(f"no vehicle {device_id[:64]!r}")
    return vehicle


def get_vehicle(session: Session, tenant_id: int, device_id: str) -> VehicleDetail:
    """The tenant's vehicle with its latest state."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    summary = VehicleOut.model_validate(vehicle)
    return VehicleDetail(**summary.model_dump(), state=live.state_of(session, vehicle.id))
