"""HTTP routes of the geofences module."""

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.deps import AdminDep, SessionDep, ViewerDep
from api.errors import FORBIDDEN_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.geofences import service
from api.geofences.schemas import GeofenceIn, GeofenceList, GeofenceOut

router = APIRouter(prefix="/v1/geofences", tags=["geofences"], responses={**UNAUTHORIZED_RESPONSE})

GeofenceIdPath = Annotated[int, Path(description="The geofence's `id`; one that is not yours is a 404")]


@router.get("", summary="List geofences")
def list_geofences(session: SessionDep, principal: ViewerDep) -> GeofenceList:
    """Your geofences, by name."""
    return service.list_geofences(session, principal.tenant_id)


@router.post(
    "",
    summary="Add a geofence",
    status_code=status.HTTP_201_CREATED,
    responses={**FORBIDDEN_RESPONSE, 409: {"model": ErrorOut, "description": "You have a geofence of that name"}},
)
def create_geofence(session: SessionDep, principal: AdminDep, body: GeofenceIn) -> GeofenceOut:
    """Add a geofence: a vehicle inside it has a `geofence` event from entering to leaving, of its severity
    (warning and critical ones open alarms). Needs the admin role, audited (`geofence.change`)."""
    return service.create_geofence(session, principal, body)


@router.delete(
    "/{id}",
    summary="Delete a geofence",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**FORBIDDEN_RESPONSE, 404: {"model": ErrorOut, "description": "No such geofence among yours"}},
)
def delete_geofence(session: SessionDep, principal: AdminDep, id: GeofenceIdPath) -> Response:
    """Delete one of your geofences; needs the admin role, audited (`geofence.change`)."""
    service.delete_geofence(session, principal, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
