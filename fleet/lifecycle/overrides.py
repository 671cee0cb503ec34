"""Per-tenant retention: a tenant may keep a table longer or shorter than the FLEET_RETENTION_* default."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, record
from fleet.db.models import RetentionOverride
from fleet.errors import Invalid, NotFound
from fleet.lifecycle import repository
from fleet.lifecycle.policy import RETAINED_TABLES

# A hundred years, the bound of the defaults (fleet.settings.RetentionSettings).
MAX_DAYS = 36500


def _retained(table: str) -> str:
    if table not in RETAINED_TABLES:
        raise Invalid(f"{table!r} has no retention; the tables that do: {', '.join(RETAINED_TABLES)}")
    return table


def set_override(
    session: Session, tenant_id: int, table: str, days: int, now: datetime, *, actor: Actor = CLI
) -> RetentionOverride:
    """Keep `table`'s rows of the tenant `days` days (from 1 to MAX_DAYS), with its audit entry."""
    _retained(table)
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days must be from 1 to {MAX_DAYS}, not {days}")
    found = repository.override(session, tenant_id, table)
    if found is None:
        found = RetentionOverride(tenant_id=tenant_id, table_name=table, days=days, updated_at=now)
        session.add(found)
    else:
        found.days, found.updated_at = days, now
    session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=AuditAction.RETENTION_CHANGE,
        target=table,
        detail={"days": days},
    )
    return found


def unset_override(session: Session, tenant_id: int, table: str, *, actor: Actor = CLI) -> None:
    """Go back to the default retention of `table` for the tenant, with its audit entry."""
    found = repository.override(session, tenant_id, _retained(table))
    if found is None:
        raise NotFound(f"the tenant has no retention of its own for {table}")
    session.delete(found)
    session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=AuditAction.RETENTION_CHANGE,
        target=table,
        detail={"days": None},
    )


def overrides(session: Session, tenant_id: int | None = None) -> Sequence[RetentionOverride]:
    """The overrides of one tenant, or of every tenant."""
    return repository.overrides(session, tenant_id)
