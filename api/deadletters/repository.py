"""Queries of the dead letters module."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import DeadLetter


def dead_letters(session: Session, tenant_id: int, limit: int, before_id: int | None) -> Sequence[DeadLetter]:
    """Up to `limit` dead letters of a tenant, newest (highest id) first."""
    stmt = select(DeadLetter).where(DeadLetter.tenant_id == tenant_id)
    if before_id is not None:
        stmt = stmt.where(DeadLetter.id < before_id)
    return session.scalars(stmt.order_by(DeadLetter.id.desc()).limit(limit)).all()
