"""HTTP routes of the vehicles module."""

from fastapi import APIRouter

from api.deps import SessionDep, TenantDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE
from api.vehicles import service
from api.vehicles.schemas import VehicleDetail, VehicleList

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], responses={**UNAUTHORIZED_RESPONSE})


@router.get("", summary="List vehicles")
def list_vehicles(session: SessionDep, tenant: TenantDep) -> VehicleList:
    """Your vehicles, ordered by device id."""
    return service.list_vehicles(session, tenant.id)


@router.get("/{device_id}", summary="Get a vehicle", responses={**NOT_FOUND_RESPONSE})
def get_vehicle(session: SessionDep, tenant: TenantDep, device_id: str) -> VehicleDetail:
    """One of your vehicles with its latest known state."""
    return service.get_vehicle(session, tenant.id, device_id)
