"""HTTP routes of the dead letters module."""

from typing import Annotated

from fastapi import APIRouter, Body, Query

from api.deadletters import service
from api.deadletters.schemas import DeadLetterList, ReplayIn, ReplayOut
from api.deps import OperatorDep, SessionDep, ViewerDep
from api.errors import FORBIDDEN_RESPONSE, UNAUTHORIZED_RESPONSE
from fleet.deadletters.service import MAX_ID

router = APIRouter(prefix="/v1/deadletters", tags=["dead letters"], responses={**UNAUTHORIZED_RESPONSE})

# Payloads may be up to ingest's 256 KiB each: this keeps a page within tens of megabytes.
MAX_LIMIT = 200


@router.get("", summary="List dead letters")
def dead_letters(
    session: SessionDep,
    principal: ViewerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only ids below this: `next_before_id` of the previous page")
    ] = None,
) -> DeadLetterList:
    """Messages and records from your vehicles that ingest could not store, with the reason; newest first."""
    return service.dead_letters(session, principal.tenant_id, limit, before_id)


@router.post("/replay", summary="Replay dead letters", status_code=202, responses={**FORBIDDEN_RESPONSE})
def replay_dead_letters(
    session: SessionDep, principal: OperatorDep, body: Annotated[ReplayIn | None, Body()] = None
) -> ReplayOut:
    """Queue pending dead letters of your vehicles to be published again, e.g. after registering the device they
    came from; the dispatcher publishes them within about a second (`replayed_at` then shows on each letter).

    Needs the operator role; recorded in the audit log.
    """
    return service.replay_dead_letters(session, principal, body.ids if body else None)
