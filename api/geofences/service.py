"""Geofences over HTTP: the tenant's list, and an admin's additions and deletions (audited `geofence.change`)."""

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.geofences import repository
from api.geofences.schemas import GeofenceIn, GeofenceList, GeofenceOut
from api.tenancy.service import Principal
from fleet.audit.service import AuditAction, record
from fleet.db.models import Geofence, utcnow
from fleet.errors import Conflict, NotFound

# Geofence ids are 32-bit: a larger one is no geofence of anyone's, and never reaches the database.
MAX_ID = 2**31 - 1


def list_geofences(session: Session, tenant_id: int) -> GeofenceList:
    """The tenant's geofences, by name."""
    return GeofenceList(items=[GeofenceOut.model_validate(g) for g in repository.geofences(session, tenant_id)])


def create_geofence(session: Session, principal: Principal, body: GeofenceIn) -> GeofenceOut:
    """Add a geofence to the tenant; 409 when it has one of that name."""
    if repository.by_name(session, principal.tenant_id, body.name) is not None:
        raise Conflict(f"a geofence named {body.name!r} exists")
    geofence = Geofence(
        tenant_id=principal.tenant_id,
        name=body.name,
        kind=body.kind,
        polygon=[list(point) for point in body.polygon],
        severity=body.resolved_severity(),
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(geofence)
    except IntegrityError:
        # Another request added one of the name after this one looked.
        raise Conflict(f"a geofence named {body.name!r} exists") from None
    _audit(session, principal, geofence, "created", {"polygon_points": len(geofence.polygon)})
    return GeofenceOut.model_validate(geofence)


def delete_geofence(session: Session, principal: Principal, geofence_id: int) -> None:
    """Remove one of the tenant's geofences; 404 for another tenant's or an impossible id."""
    found = repository.of_tenant(session, principal.tenant_id, geofence_id) if 1 <= geofence_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"no geofence {str(geofence_id)[:20]}")
    _audit(session, principal, found, "deleted", {})
    session.delete(found)
    session.flush()


def _audit(session: Session, principal: Principal, geofence: Geofence, change: str, extra: dict[str, Any]) -> None:
    detail = {"change": change, "name": geofence.name, "kind": geofence.kind, "severity": geofence.severity, **extra}
    record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        action=AuditAction.GEOFENCE_CHANGE,
        target=str(geofence.id),
        detail=detail,
    )
