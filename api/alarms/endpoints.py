"""HTTP routes of the alarms module."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.alarms import service
from api.alarms.schemas import AlarmActionIn, AlarmCounts, AlarmDetail, AlarmOut, AlarmPage
from api.deps import OperatorDep, SessionDep, ViewerDep
from api.errors import FORBIDDEN_RESPONSE, NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.events.endpoints import CriteriaDep, CursorQuery, DeviceQuery, LimitQuery

router = APIRouter(prefix="/v1/alarms", tags=["alarms"], responses={**UNAUTHORIZED_RESPONSE})

Responses = dict[int | str, dict[str, Any]]
ALARM_NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No such alarm among yours"}}
AlarmIdPath = Annotated[int, Path(description="The alarm's `id`; one that is not yours is a 404")]
StateQuery = Annotated[
    list[str],
    Query(
        alias="state",
        description="Only alarms in these states (`open`, `acknowledged`, `closed`; repeat it or separate them by "
        "commas), or `all`; without it, those not closed",
    ),
]
LIST_DESCRIPTION = """Your vehicles' alarms, newest first: by default those not closed yet. `since`/`until` bound
`opened_at` (the event's start). Pass `next` as `cursor` with the same filters to go on."""


@router.get("", summary="List alarms", description=LIST_DESCRIPTION, responses={**NOT_FOUND_RESPONSE})
def list_alarms(
    session: SessionDep,
    principal: ViewerDep,
    criteria: CriteriaDep,
    device_id: DeviceQuery = None,
    states: StateQuery = [],  # noqa: B006 (FastAPI copies a query parameter's default)
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> AlarmPage:
    return service.list_alarms(session, principal.tenant_id, device_id, states, criteria, limit, cursor)


@router.get("/counts", summary="Count alarms", responses={**NOT_FOUND_RESPONSE})
def count_alarms(
    session: SessionDep,
    principal: ViewerDep,
    criteria: CriteriaDep,
    device_id: DeviceQuery = None,
    states: StateQuery = [],  # noqa: B006 (FastAPI copies a query parameter's default)
) -> AlarmCounts:
    """How many of your alarms match the filters (those of the list), per type, state and severity."""
    return service.count_alarms(session, principal.tenant_id, device_id, states, criteria)


@router.get("/{id}", summary="Get an alarm", responses={**ALARM_NOT_FOUND})
def get_alarm(session: SessionDep, principal: ViewerDep, id: AlarmIdPath) -> AlarmDetail:
    """One of your alarms, with its event unless later records retracted it."""
    return service.get_alarm(session, principal.tenant_id, id)


@router.post(
    "/{id}/acknowledge",
    summary="Acknowledge an alarm",
    responses={
        **ALARM_NOT_FOUND,
        **FORBIDDEN_RESPONSE,
        409: {"model": ErrorOut, "description": "The alarm is not open: acknowledged or closed already"},
    },
)
def acknowledge_alarm(
    session: SessionDep, principal: OperatorDep, id: AlarmIdPath, body: AlarmActionIn | None = None
) -> AlarmOut:
    """Take an open alarm in hand, with an optional comment; needs the operator role, audited
    (`alarm.acknowledge`), and announced on the live feed."""
    return service.acknowledge(session, principal, id, body)


@router.post(
    "/{id}/close",
    summary="Close an alarm",
    responses={
        **ALARM_NOT_FOUND,
        **FORBIDDEN_RESPONSE,
        409: {"model": ErrorOut, "description": "The alarm is closed already"},
    },
)
def close_alarm(
    session: SessionDep, principal: OperatorDep, id: AlarmIdPath, body: AlarmActionIn | None = None
) -> AlarmOut:
    """Close an alarm, acknowledged or not, with an optional comment; needs the operator role, audited
    (`alarm.close`), and announced on the live feed."""
    return service.close(session, principal, id, body)
