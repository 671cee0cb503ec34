"""Queries of the rules module."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import EventRule


def overrides(session: Session, tenant_id: int, detector: str | None = None) -> Sequence[EventRule]:
    """The tenant's overrides (of one detector, if given): its own and its groups'."""
    query = select(EventRule).where(EventRule.tenant_id == tenant_id)
    if detector is not None:
        query = query.where(EventRule.detector == detector)
    return session.scalars(query).all()


def override(session: Session, tenant_id: int, detector: str, group: str) -> EventRule | None:
    """The tenant's override of `detector` for `group` (NO_GROUP: the tenant's own), locked for the transaction."""
    query = select(EventRule).where(
        EventRule.tenant_id == tenant_id, EventRule.detector == detector, EventRule.group_name == group
    )
    return session.scalars(query.with_for_update()).first()
