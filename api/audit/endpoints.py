"""HTTP routes of the audit module."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.audit import service
from api.audit.schemas import AuditPage
from api.deps import AdminDep, SessionDep
from api.errors import FORBIDDEN_RESPONSE, UNAUTHORIZED_RESPONSE
from fleet.audit.service import MAX_ID, AuditAction

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses={**UNAUTHORIZED_RESPONSE, **FORBIDDEN_RESPONSE})

MAX_LIMIT = 500


@router.get("", summary="Audit log")
def audit_log(
    session: SessionDep,
    principal: AdminDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only ids below this: `next_before_id` of the previous page")
    ] = None,
    action: Annotated[AuditAction | None, Query(description="Only entries of this action")] = None,
) -> AuditPage:
    """Admin actions on your tenant (tokens, vehicles, replays), newest first: who, from where, what, when."""
    return service.entries(session, principal.tenant_id, limit, before_id, action)
