"""Queries of the registry: vehicles by device id, and the row a new registration adds."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import Vehicle


def vehicles_by_device_ids(session: Session, device_ids: Sequence[str]) -> Sequence[Vehicle]:
    """Vehicles of any tenant whose device id is among `device_ids`."""
    return session.scalars(select(Vehicle).where(Vehicle.device_id.in_(device_ids))).all()


def vehicle_of_tenant(session: Session, tenant_id: int, device_id: str) -> Vehicle | None:
    """The tenant's vehicle with `device_id`."""
    return session.scalar(select(Vehicle).where(Vehicle.tenant_id == tenant_id, Vehicle.device_id == device_id))


def add_vehicle(session: Session, tenant_id: int, device_id: str) -> Vehicle:
    """Add a vehicle of a tenant to the session (inserted at the next flush)."""
    vehicle = Vehicle(tenant_id=tenant_id, device_id=device_id)
    session.add(vehicle)
    return vehicle
