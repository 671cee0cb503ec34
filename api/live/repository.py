"""Queries of the live module."""

from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from fleet.db.models import Vehicle, VehicleState


def state_of(session: Session, vehicle_id: int) -> VehicleState | None:
    """The state row of a vehicle."""
    return session.get(VehicleState, vehicle_id)


def tenant_states(session: Session, tenant_id: int) -> Sequence[Row[str, str | None, VehicleState]]:
    """(device id, label, state) of the tenant's vehicles that have a state, ordered by device id."""
    stmt = (
        select(Vehicle.device_id, Vehicle.label, VehicleState)
        .join(VehicleState, VehicleState.vehicle_id == Vehicle.id)
        .where(Vehicle.tenant_id == tenant_id)
        .order_by(Vehicle.device_id)
    )
    return session.execute(stmt).all()
