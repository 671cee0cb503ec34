"""Queries of the dead letters module."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from fleet.db.models import DeadLetter, Vehicle


def _visible_to(tenant_id: int) -> ColumnElement[bool]:
    """Letters attributed to the tenant, or naming one of its devices (registered after the letter was written)."""
    own_devices = select(Vehicle.device_id).where(Vehicle.tenant_id == tenant_id)
    return or_(DeadLetter.tenant_id == tenant_id, DeadLetter.device_id.in_(own_devices))


def dead_letters(session: Session, tenant_id: int, limit: int, before_id: int | None) -> Sequence[DeadLetter]:
    """Up to `limit` dead letters of a tenant, newest (highest id) first."""
    stmt = select(DeadLetter).where(_visible_to(tenant_id))
    if before_id is not None:
        stmt = stmt.where(DeadLetter.id < before_id)
    return session.scalars(stmt.order_by(DeadLetter.id.desc()).limit(limit)).all()


def pending_dead_letters(
    session: Session, tenant_id: int, ids: Sequence[int] | None, limit: int
) -> Sequence[DeadLetter]:
    """Up to `limit` of the tenant's dead letters not replayed yet (all, or those among `ids`), oldest first."""
    stmt = select(DeadLetter).where(_visible_to(tenant_id), DeadLetter.replayed_at.is_(None))
    if ids is not None:
        stmt = stmt.where(DeadLetter.id.in_(ids))
    return session.scalars(stmt.order_by(DeadLetter.id).limit(limit)).all()
