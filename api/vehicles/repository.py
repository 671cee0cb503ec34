"""Queries of the vehicles module."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import Vehicle


def list_vehicles(session: Session, tenant_id: int) -> Sequence[Vehicle]:
    """Vehicles of a tenant, ordered by device id."""
    return session.scalars(select(Vehicle).where(Vehicle.tenant_id == tenant_id).order_by(Vehicle.device_id)).all()
