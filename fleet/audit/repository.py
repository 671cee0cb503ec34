"""Queries of the audit log."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import AuditEntry


def add_entry(
    session: Session,
    *,
    tenant_id: int | None,
    token_id: int | None,
    actor: str,
    action: str,
    target: str | None,
    address: str | None,
    detail: dict[str, Any],
) -> AuditEntry:
    """Add an entry to the session (inserted with the caller's transaction)."""
    entry = AuditEntry(
        tenant_id=tenant_id,
        token_id=token_id,
        actor=actor,
        action=action,
        target=target,
        address=address,
        detail=detail,
    )
    session.add(entry)
    return entry


def newest(
    session: Session, tenant_id: int, limit: int, before_id: int | None, action: str | None
) -> Sequence[AuditEntry]:
    """Up to `limit` entries of a tenant (ids below `before_id`, of one action, if given), newest first."""
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    return session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)).all()
