"""HTTP routes of the live module."""

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import LiveCacheDep, ReadSessionsDep, ViewerDep
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
async def live(reads: ReadSessionsDep, cache: LiveCacheDep, principal: ViewerDep) -> Response:
    """Latest position, CAN values and connection state of each of your vehicles that has reported anything."""
    tenant_id = principal.tenant_id
    # A kept answer is sent from the event loop; only making one (a query) needs a worker thread.
    body = cache.fresh(tenant_id)
    if body is None:
        body = await run_in_threadpool(cache.answer, tenant_id, lambda: _answer(reads, tenant_id))
    return Response(body, media_type=JSON_MEDIA_TYPE)


def _answer(reads: sessionmaker[Session], tenant_id: int) -> bytes:
    """The tenant's answer as JSON, read in a session of its own."""
    with reads() as session:
        return dumps(service.live(session, tenant_id))
