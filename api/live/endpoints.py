"""HTTP routes of the live module."""

from fastapi import APIRouter

from api.deps import SessionDep, ViewerDep
from api.errors import UNAUTHORIZED_RESPONSE
from api.live import service
from api.live.schemas import LiveList

router = APIRouter(prefix="/v1/live", tags=["live"], responses={**UNAUTHORIZED_RESPONSE})


@router.get("", summary="Live state of the fleet")
def live(session: SessionDep, principal: ViewerDep) -> LiveList:
    """Latest position, CAN values and connection state of each of your vehicles that has reported anything."""
    return service.live(session, principal.tenant_id)
