"""Rules of the dead letters module: a tenant sees only the dead letters attributed to it."""

from sqlalchemy.orm import Session

from api.deadletters import repository
from api.deadletters.schemas import DeadLetterList, DeadLetterOut


def dead_letters(session: Session, tenant_id: int, limit: int, before_id: int | None) -> DeadLetterList:
    """A page of the tenant's dead letters, newest first."""
    rows = repository.dead_letters(session, tenant_id, limit + 1, before_id)
    page = rows[:limit]
    return DeadLetterList(
        items=[DeadLetterOut.from_row(r) for r in page],
        next_before_id=page[-1].id if len(rows) > limit else None,
    )
