"""HTTP routes of the vehicles module."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ReadSessionsDep, ViewerDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE
from api.render import json_response
from api.vehicles import service
from api.vehicles.schemas import GROUP_NAME_DESCRIPTION, VehicleDetail, VehicleList
from fleet.registry.service import GROUP_NAME_REGEX, MAX_GROUP_LENGTH

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], responses={**UNAUTHORIZED_RESPONSE})


@router.get("", summary="List vehicles", response_model=VehicleList)
def list_vehicles(
    reads: ReadSessionsDep,
    principal: ViewerDep,
    group: Annotated[
        str | None,
        Query(
            max_length=MAX_GROUP_LENGTH,
            pattern=f"^{GROUP_NAME_REGEX}$",
            description=f"Only the vehicles in this group ({GROUP_NAME_DESCRIPTION})",
        ),
    ] = None,
) -> Response:
    """Your vehicles, ordered by device id: all of them, or those in one group."""
    with reads() as session:
        return json_response(service.list_vehicles(session, principal.tenant_id, group))


@router.get("/{device_id}", summary="Get a vehicle", response_model=VehicleDetail, responses={**NOT_FOUND_RESPONSE})
def get_vehicle(reads: ReadSessionsDep, principal: ViewerDep, device_id: str) -> Response:
    """One of your vehicles with its latest known state."""
    with reads() as session:
        return json_response(service.get_vehicle(session, principal.tenant_id, device_id))
