"""Queries of the vehicles module."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import Vehicle
from fleet.registry.repository import in_group


def list_vehicles(session: Session, tenant_id: int, group: str | None = None) -> Sequence[Vehicle]:
    """Vehicles of a tenant (only those in `group` when given), ordered by device id."""
    stmt = select(Vehicle).where(Vehicle.tenant_id == tenant_id)
    if group is not None:
        stmt = stmt.where(in_group(session, group))
    return session.scalars(stmt.order_by(Vehicle.device_id)).all()
