"""The audit log over HTTP: pages of the tenant's entries (rules and queries in `fleet.audit`)."""

from sqlalchemy.orm import Session

from api.audit.schemas import AuditEntryOut, AuditPage
from fleet.audit import service as audit
from fleet.audit.service import AuditAction


def entries(
    session: Session, tenant_id: int, limit: int, before_id: int | None, action: AuditAction | None
) -> AuditPage:
    """A page of the tenant's audit entries, newest first."""
    rows = audit.entries(session, tenant_id=tenant_id, limit=limit + 1, before_id=before_id, action=action)
    page = rows[:limit]
    return AuditPage(
        items=[AuditEntryOut.model_validate(row) for row in page],
        next_before_id=page[-1].id if len(rows) > limit else None,
    )
