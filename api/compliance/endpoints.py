"""HTTP routes of the compliance module."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.compliance import service
from api.compliance.schemas import PeriodsIn, PeriodsOut, TachographCompliance, TachographStatus
from api.deps import AdminDep, FilesSettingsDep, SessionDep, ViewerDep
from api.errors import FORBIDDEN_RESPONSE, UNAUTHORIZED_RESPONSE

router = APIRouter(prefix="/v1/compliance", tags=["compliance"], responses={**UNAUTHORIZED_RESPONSE})


@router.get("/tachograph", summary="Tachograph downloads due")
def tachograph(
    session: SessionDep,
    principal: ViewerDep,
    settings: FilesSettingsDep,
    status: Annotated[TachographStatus | None, Query(description="Only entries of this status")] = None,
) -> TachographCompliance:
    """When each vehicle unit (exempt vehicles left out) and driver card was last downloaded, and is next due."""
    return service.tachograph(session, principal.tenant_id, settings, status)


@router.put("/tachograph/periods", summary="Set the tachograph periods", responses={**FORBIDDEN_RESPONSE})
def set_periods(session: SessionDep, principal: AdminDep, settings: FilesSettingsDep, body: PeriodsIn) -> PeriodsOut:
    """Your country's download periods (EU: vehicle unit 90 days, driver card 28); needs the admin role, audited."""
    return service.set_periods(session, principal, settings, body)
