"""HTTP routes of the CAN module."""

from fastapi import APIRouter, Request, Response

from api.can import service
from api.can.schemas import CanPage, CanSampleOut
from api.deps import ExportSlotsDep, SessionDep, SessionFactoryDep, ViewerDep, WindowDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE
from api.render import json_response
from api.timeseries.export import (
    EXPORT_DESCRIPTION,
    ExportFormat,
    FormatParam,
    export_response,
    export_responses,
    negotiate,
    refuse_paging,
)
from api.timeseries.window import WINDOW_DESCRIPTION

COLUMNS = tuple(CanSampleOut.model_fields)

router = APIRouter(prefix="/v1/vehicles", tags=["telemetry"], responses={**UNAUTHORIZED_RESPONSE})


@router.get(
    "/{device_id}/can",
    summary="CAN samples of a vehicle",
    description="Bus-FMS values of one of your vehicles. " + WINDOW_DESCRIPTION + EXPORT_DESCRIPTION,
    response_model=CanPage,
    responses={**NOT_FOUND_RESPONSE, **export_responses(CanSampleOut)},
)
def can_samples(
    request: Request,
    session: SessionDep,
    sessions: SessionFactoryDep,
    exports: ExportSlotsDep,
    principal: ViewerDep,
    device_id: str,
    window: WindowDep,
    output: FormatParam = None,
) -> Response:
    """CAN samples of a vehicle in a time window, paginated, or all of them exported."""
    kind = negotiate(output, request.headers.get("accept"))
    if kind is ExportFormat.JSON:
        return json_response(service.can_samples(session, principal.tenant_id, device_id, window))
    refuse_paging(request.query_params)
    return export_response(
        exports,
        kind,
        COLUMNS,
        f"{device_id}-can",
        lambda: service.export(session, sessions, principal.tenant_id, device_id, window),
    )
