"""Rules of dead letters: a tenant sees only its own devices' letters; replay republishes them for ingest."""

from collections.abc import Sequence

from sqlalchemy.orm import Session

from fleet.contract.codec import Reason
from fleet.db.models import DeadLetter, utcnow
from fleet.deadletters import repository
from fleet.errors import Invalid
from fleet.mqtt.publish import publish_and_wait
from fleet.mqtt.url import MqttEndpoint

# Ids are signed 64-bit: a larger one would overflow the database's integer (an error) instead of matching nothing.
MAX_ID = 2**63 - 1


def dead_letters(
    session: Session, *, tenant_id: int | None, limit: int, before_id: int | None = None
) -> Sequence[DeadLetter]:
    """Up to `limit` dead letters of a tenant (None: of every tenant), newest first, ids below `before_id` if given."""
    return repository.newest(session, tenant_id, limit, before_id)


def pending_dead_letters(
    session: Session, *, tenant_id: int | None, ids: Sequence[int] | None = None, limit: int | None = None
) -> Sequence[DeadLetter]:
    """Dead letters of a tenant (None: of every tenant) not replayed yet, all or those among `ids`, oldest first."""
    bad = [i for i in ids or () if not 1 <= i <= MAX_ID]
    if bad:
        raise Invalid(f"invalid dead letter id {bad[0]}: ids are 1 to {MAX_ID}")
    return repository.pending(session, tenant_id, ids, limit)


def replay(session: Session, mqtt: MqttEndpoint, letters: Sequence[DeadLetter]) -> int:
    """Republish `letters` and mark them replayed; the caller commits. Returns how many were published."""
    # A letter whose topic was itself the problem cannot be published again and is left as it is. Ingest stores
    # each record once however often it is replayed (idempotent keys); a record still bad becomes a new letter.
    replayable = [letter for letter in letters if letter.reason != Reason.BAD_TOPIC.value]
    if not replayable:
        return 0
    publish_and_wait(mqtt, [(letter.topic, letter.payload) for letter in replayable])
    now = utcnow()
    for letter in replayable:
        letter.replayed_at = now
    return len(replayable)
