"""HTTP routes of the positions module."""

from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import BlobStoreDep, ExportSlotsDep, ReadSessionsDep, SessionFactoryDep, ViewerDep, WindowDep
from api.errors import NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.positions import service
from api.positions.schemas import PositionOut, PositionPage
from api.render import JSON_MEDIA_TYPE
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

ARCHIVE_DESCRIPTION = (
    " Days older than the positions' retention are read from the archive (the page says `archived: true`) in the "
    "same shape; when object storage cannot be read the answer is 503 naming the day and the command that restores "
    "it into the database."
)

ARCHIVE_UNAVAILABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "The window reaches into the archive, which cannot be read now"}
}
COLUMNS = tuple(PositionOut.model_fields)

router = APIRouter(prefix="/v1/vehicles", tags=["telemetry"], responses={**UNAUTHORIZED_RESPONSE})


@router.get(
    "/{device_id}/positions",
    summary="Positions of a vehicle",
    description="GNSS fixes of one of your vehicles. " + WINDOW_DESCRIPTION + ARCHIVE_DESCRIPTION + EXPORT_DESCRIPTION,
    response_model=PositionPage,
    responses={**NOT_FOUND_RESPONSE, **ARCHIVE_UNAVAILABLE_RESPONSE, **export_responses(PositionOut)},
)
def positions(
    request: Request,
    reads: ReadSessionsDep,
    sessions: SessionFactoryDep,
    store: BlobStoreDep,
    exports: ExportSlotsDep,
    principal: ViewerDep,
    device_id: str,
    window: WindowDep,
    output: FormatParam = None,
) -> Response:
    """Positions of a vehicle in a time window, paginated, or all of them exported; past retention, read from the
    archive."""
    kind = negotiate(output, request.headers.get("accept"))
    with reads() as session:
        if kind is ExportFormat.JSON:
            return Response(
                service.positions(session, store, principal.tenant_id, device_id, window), media_type=JSON_MEDIA_TYPE
            )
        refuse_paging(request.query_params)
        return export_response(
            exports,
            kind,
            COLUMNS,
            f"{device_id}-positions",
            lambda: service.export(session, sessions, store, principal.tenant_id, device_id, window),
        )
