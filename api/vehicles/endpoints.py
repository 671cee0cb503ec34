"""HTTP routes of the vehicles module."""

from fastapi import APIRouter

from api.deps import SessionDep, ViewerDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE
from api.vehicles import service
from api.vehicles.schemas import VehicleDetail, VehicleList

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], responses={**UNAUTHORIZED_RESPONSE})


@router.get("", summary="List vehicles")
def list_vehicles(session: SessionDep, principal: ViewerDep) -> VehicleList:
    """Your vehicles, ordered by device id."""
    return service.list_vehicles(session, principal.tenant_id)


@router.get("/{device_id}", summary="Get a vehicle", responses={**NOT_FOUND_RESPONSE})
def get_vehicle(session: SessionDep, principal: ViewerDep, device_id: str) -> VehicleDetail:
    """One of your vehicles with its latest known state."""
    return service.get_vehicle(session, principal.tenant_id, device_id)
