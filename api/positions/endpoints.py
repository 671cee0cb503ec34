"""HTTP routes of the positions module."""

from typing import Any

from fastapi import APIRouter

from api.deps import BlobStoreDep, SessionDep, ViewerDep, WindowDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.positions import service
from api.positions.schemas import PositionPage
from api.timeseries.window import WINDOW_DESCRIPTION

ARCHIVE_DESCRIPTION = (
    " Days older than the positions' retention are read from the archive (the page says `archived: true`) in the "
    "same shape; when object storage cannot be read the answer is 503 naming the day and the command that restores "
    "it into the database."
)

ARCHIVE_UNAVAILABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "The window reaches into the archive, which cannot be read now"}
}

router = APIRouter(prefix="/v1/vehicles", tags=["telemetry"], responses={**UNAUTHORIZED_RESPONSE})


@router.get(
    "/{device_id}/positions",
    summary="Positions of a vehicle",
    description="GNSS fixes of one of your vehicles. " + WINDOW_DESCRIPTION + ARCHIVE_DESCRIPTION,
    responses={**NOT_FOUND_RESPONSE, **ARCHIVE_UNAVAILABLE_RESPONSE},
)
def positions(
    session: SessionDep, store: BlobStoreDep, principal: ViewerDep, device_id: str, window: WindowDep
) -> PositionPage:
    """Positions of a vehicle in a time window, paginated; past retention, read from the archive."""
    return service.positions(session, store, principal.tenant_id, device_id, window)
