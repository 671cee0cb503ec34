"""HTTP routes of the positions module."""

from fastapi import APIRouter

from api.deps import SessionDep, ViewerDep, WindowDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE
from api.positions import service
from api.positions.schemas import PositionPage
from api.timeseries.window import WINDOW_DESCRIPTION

router = APIRouter(prefix="/v1/vehicles", tags=["telemetry"], responses={**UNAUTHORIZED_RESPONSE})


@router.get(
    "/{device_id}/positions",
    summary="Positions of a vehicle",
    description="GNSS fixes of one of your vehicles. " + WINDOW_DESCRIPTION,
    responses={**NOT_FOUND_RESPONSE},
)
def positions(session: SessionDep, principal: ViewerDep, device_id: str, window: WindowDep) -> PositionPage:
    """Positions of a vehicle in a time window, paginated."""
    return service.positions(session, principal.tenant_id, device_id, window)
