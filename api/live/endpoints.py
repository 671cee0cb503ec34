"""HTTP routes of the live module."""

from fastapi import APIRouter, Response

from api.deps import LiveCacheDep, SessionDep, ViewerDep
from api.errors import UNAUTHORIZED_RESPONSE
from api.live import service
from api.live.schemas import LiveList
from api.render import JSON_MEDIA_TYPE, dumps

router = APIRouter(prefix="/v1/live", tags=["live"], responses={**UNAUTHORIZED_RESPONSE})


@router.get(
    "",
    summary="Live state of the fleet",
    description="Latest position, CAN values and connection state of each of your vehicles that has reported "
    "anything. The answer may be up to FLEET_API_LIVE_CACHE_SECONDS (1 s) old: the same one serves every poll of "
    "that second; `/v1/stream` pushes each change.",
    response_model=LiveList,
)
def live(session: SessionDep, cache: LiveCacheDep, principal: ViewerDep) -> Response:
    """Latest position, CAN values and connection state of each of your vehicles that has reported anything."""
    body = cache.answer(principal.tenant_id, lambda: dumps(service.live(session, principal.tenant_id)))
    return Response(body, media_type=JSON_MEDIA_TYPE)
