"""Queries of dead letters, of every tenant (`tenant_id=None`) or of one."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from fleet.db.models import DeadLetter, Vehicle


def _visible_to(tenant_id: int) -> ColumnElement[bool]:
    """Letters attributed to the tenant, or naming one of its devices (registered after the letter was written)."""
    own_devices = select(Vehicle.device_id).where(Vehicle.tenant_id == tenant_id)
    return or_(DeadLetter.tenant_id == tenant_id, DeadLetter.device_id.in_(own_devices))


def _of(tenant_id: int | None) -> Select[DeadLetter]:
    """Dead letters of every tenant, or those visible to one."""
    stmt = select(DeadLetter)
    return stmt if tenant_id is None else stmt.where(_visible_to(tenant_id))


def newest(session: Session, tenant_id: int | None, limit: int, before_id: int | None) -> Sequence[DeadLetter]:
    """Up to `limit` dead letters (only ids below `before_id`, if given), newest (highest id) first."""
    stmt = _of(tenant_id)
    if before_id is not None:
        stmt = stmt.where(DeadLetter.id < before_id)
    return session.scalars(stmt.order_by(DeadLetter.id.desc()).limit(limit)).all()


def pending(
    session: Session, tenant_id: int | None, ids: Sequence[int] | None, limit: int | None
) -> Sequence[DeadLetter]:
    """Up to `limit` (None: all) dead letters not replayed yet (all, or those among `ids`), oldest first."""
    stmt = _of(tenant_id).where(DeadLetter.replayed_at.is_(None))
    if ids is not None:
        stmt = stmt.where(DeadLetter.id.in_(ids))
    return session.scalars(stmt.order_by(DeadLetter.id).limit(limit)).all()
