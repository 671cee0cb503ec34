"""Queries of the geofences module."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import Geofence


def geofences(session: Session, tenant_id: int) -> Sequence[Geofence]:
    """The tenant's geofences, by name."""
    return session.scalars(select(Geofence).where(Geofence.tenant_id == tenant_id).order_by(Geofence.name)).all()


def by_name(session: Session, tenant_id: int, name: str) -> Geofence | None:
    """The tenant's geofence called `name`."""
    return session.scalars(select(Geofence).where(Geofence.tenant_id == tenant_id, Geofence.name == name)).first()


def of_tenant(session: Session, tenant_id: int, geofence_id: int) -> Geofence | None:
    """The tenant's geofence `geofence_id`."""
    query = select(Geofence).where(Geofence.tenant_id == tenant_id, Geofence.id == geofence_id)
    return session.scalars(query).first()
