"""Rules of the registry: a device belongs to one tenant, and exists for no other."""

from collections.abc import Sequence

from sqlalchemy.orm import Session

from fleet.contract.topics import DEVICE_ID_PATTERN
from fleet.db.models import Tenant, Vehicle
from fleet.errors import Conflict, Invalid, NotFound
from fleet.registry import repository


def add_vehicles(
    session: Session, tenant: Tenant, device_ids: Sequence[str], label: str | None = None, plate: str | None = None
) -> list[Vehicle]:
    """Register devices for `tenant` (again: updates label and plate); one registered to another tenant is refused."""
    invalid = [d for d in device_ids if not DEVICE_ID_PATTERN.fullmatch(d)]
    if invalid:
        raise Invalid(f"invalid device id {invalid[0]!r}: use 1-64 of A-Z a-z 0-9 _ -")
    existing = {v.device_id: v for v in repository.vehicles_by_device_ids(session, device_ids)}
    foreign = [d for d, v in existing.items() if v.tenant_id != tenant.id]
    if foreign:
        raise Conflict(f"device {foreign[0]!r} is registered to another tenant")
    vehicles = []
    for device_id in dict.fromkeys(device_ids):
        vehicle = existing.get(device_id) or repository.add_vehicle(session, tenant.id, device_id)
        if label is not None:
            vehicle.label = label
        if plate is not None:
            vehicle.plate = plate
        vehicles.append(vehicle)
    session.flush()
    return vehicles


def find_vehicle(session: Session, tenant_id: int, device_id: str) -> Vehicle:
    """The tenant's vehicle `device_id`; NotFound when unknown or another tenant's, so existence never leaks."""
    # A string that cannot be a device id (NUL bytes, 10k characters...) never reaches the database.
    vehicle = (
        repository.vehicle_of_tenant(session, tenant_id, device_id) if DEVICE_ID_PATTERN.fullmatch(device_id) else None
    )
    if vehicle is None:
        raise NotFound(f"no vehicle {device_id[:64]!r}")
    return vehicle
