"""Rules of the dead letters module: a tenant sees and replays only the dead letters of its own devices."""

from collections.abc import Sequence

from sqlalchemy.orm import Session

from api.deadletters import repository
from api.deadletters.schemas import DeadLetterList, DeadLetterOut, ReplayOut
from fleet.errors import Unavailable
from fleet.replay import replay

# One request republishes at most this many; the caller repeats until `replayed` is 0.
MAX_REPLAY = 1000


def dead_letters(session: Session, tenant_id: int, limit: int, before_id: int | None) -> DeadLetterList:
    """A page of the tenant's dead letters, newest first."""
    rows = repository.dead_letters(session, tenant_id, limit + 1, before_id)
    page = rows[:limit]
    return DeadLetterList(
        items=[DeadLetterOut.from_row(r) for r in page],
        next_before_id=page[-1].id if len(rows) > limit else None,
    )


def replay_dead_letters(session: Session, tenant_id: int, mqtt_url: str | None, ids: Sequence[int] | None) -> ReplayOut:
    """Publish the tenant's pending dead letters again; ingest stores each record once however often."""
    if not mqtt_url:
        raise Unavailable("replay needs the MQTT broker (FLEET_MQTT_URL)")
    letters = repository.pending_dead_letters(session, tenant_id, ids, MAX_REPLAY)
    replayed = replay(session, mqtt_url, letters)
    return ReplayOut(replayed=replayed, skipped=len(letters) - replayed)
