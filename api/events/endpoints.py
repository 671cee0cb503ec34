"""HTTP routes of the events module; `CriteriaDep` (types, minimum severity, start bounds) serves the alarms too."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from api.deps import SessionDep, ViewerDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.events import service
from api.events.schemas import EventCounts, EventOut, EventPage
from api.events.service import Criteria
from api.files.endpoints import Timestamp
from api.timeseries.window import MAX_CURSOR_LENGTH
from fleet.contract.events import Severity

router = APIRouter(tags=["events"], responses={**UNAUTHORIZED_RESPONSE})

Responses = dict[int | str, dict[str, Any]]
EVENT_NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No such event among yours"}}
# A page holds small rows: an event's data is a few fields.
MAX_LIMIT = 500
EventIdPath = Annotated[int, Path(description="The event's `id`; one that is not yours is a 404")]
DeviceQuery = Annotated[str | None, Query(description="Only this vehicle's (its device id; not yours: 404)")]
SourceQuery = Annotated[
    Literal["unit", "detector"] | None, Query(description="Only those its unit reported, or detected")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
CursorQuery = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next` of the previous page")]


def criteria_params(
    types: Annotated[
        list[str],
        Query(alias="type", description="Only these types: repeat it, or separate them by commas (at most 50)"),
    ] = [],  # noqa: B006 (FastAPI copies a query parameter's default)
    severity: Annotated[Severity | None, Query(description="Only this severity and those above it")] = None,
    since: Annotated[Timestamp | None, Query(description="Started at or after (RFC 3339 with offset)")] = None,
    until: Annotated[Timestamp | None, Query(description="Started before (RFC 3339 with offset)")] = None,
) -> Criteria:
    """The filters events and alarms share, as given (the service checks them)."""
    return Criteria(types, severity, since, until)


CriteriaDep = Annotated[Criteria, Depends(criteria_params)]


@router.get("/v1/events", summary="List events", responses={**NOT_FOUND_RESPONSE})
def list_events(
    session: SessionDep,
    principal: ViewerDep,
    criteria: CriteriaDep,
    device_id: DeviceQuery = None,
    source: SourceQuery = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> EventPage:
    """Your vehicles' events, newest start first; pass `next` as `cursor` with the same filters to go on."""
    return service.list_events(session, principal.tenant_id, device_id, source, criteria, limit, cursor)


@router.get("/v1/events/counts", summary="Count events", responses={**NOT_FOUND_RESPONSE})
def count_events(
    session: SessionDep,
    principal: ViewerDep,
    criteria: CriteriaDep,
    device_id: DeviceQuery = None,
    source: SourceQuery = None,
) -> EventCounts:
    """How many of your vehicles' events match the filters (those of the list), per type and per severity."""
    return service.count_events(session, principal.tenant_id, device_id, source, criteria)


@router.get("/v1/events/{id}", summary="Get an event", responses={**EVENT_NOT_FOUND})
def get_event(session: SessionDep, principal: ViewerDep, id: EventIdPath) -> EventOut:
    """One of your vehicles' events."""
    return service.get_event(session, principal.tenant_id, id)


@router.get("/v1/vehicles/{device_id}/events", summary="List a vehicle's events", responses={**NOT_FOUND_RESPONSE})
def vehicle_events(
    session: SessionDep,
    principal: ViewerDep,
    criteria: CriteriaDep,
    device_id: str,
    source: SourceQuery = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> EventPage:
    """The events of one of your vehicles, newest start first, filtered as `GET /v1/events`."""
    return service.list_events(session, principal.tenant_id, device_id, source, criteria, limit, cursor)
