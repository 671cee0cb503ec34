"""Dead letters over HTTP: pages of the tenant's letters, and bounded replay requests (rules in `fleet.deadletters`)."""

from collections.abc import Sequence

from sqlalchemy.orm import Session

from api.deadletters.schemas import DeadLetterList, DeadLetterOut, ReplayOut
from api.tenancy.service import Principal
from fleet.deadletters import service as deadletters

# One request queues at most this many; the caller repeats until `queued` is 0.
MAX_REPLAY = 1000


def dead_letters(session: Session, tenant_id: int, limit: int, before_id: int | None) -> DeadLetterList:
    """A page of the tenant's dead letters, newest first."""
    rows = deadletters.dead_letters(session, tenant_id=tenant_id, limit=limit + 1, before_id=before_id)
    page = rows[:limit]
    return DeadLetterList(
        items=[DeadLetterOut.from_row(r) for r in page],
        next_before_id=page[-1].id if len(rows) > limit else None,
    )


def replay_dead_letters(session: Session, principal: Principal, ids: Sequence[int] | None) -> ReplayOut:
    """Queue the tenant's pending dead letters for the dispatcher to publish again; ingest stores each record once
    however often it arrives."""
    tenant_id = principal.tenant_id
    letters = deadletters.pending_dead_letters(session, tenant_id=tenant_id, ids=ids, limit=MAX_REPLAY)
    queued = deadletters.request_replay(session, letters, tenant_id=tenant_id, actor=principal.actor)
    return ReplayOut(queued=queued, skipped=len(letters) - queued)
