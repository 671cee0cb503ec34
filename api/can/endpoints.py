"""HTTP routes of the CAN module."""

from fastapi import APIRouter

from api.can import service
from api.can.schemas import CanPage
from api.deps import SessionDep, ViewerDep, WindowDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE
from api.timeseries.window import WINDOW_DESCRIPTION

router = APIRouter(prefix="/v1/vehicles", tags=["telemetry"], responses={**UNAUTHORIZED_RESPONSE})


@router.get(
    "/{device_id}/can",
    summary="CAN samples of a vehicle",
    description="Bus-FMS values of one of your vehicles. " + WINDOW_DESCRIPTION,
    responses={**NOT_FOUND_RESPONSE},
)
def can_samples(session: SessionDep, principal: ViewerDep, device_id: str, window: WindowDep) -> CanPage:
    """CAN samples of a vehicle in a time window, paginated."""
    return service.can_samples(session, principal.tenant_id, device_id, window)
