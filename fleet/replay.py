"""Replay dead letters: publish their payload again on their topic, so ingest stores them the usual way."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.contract.codec import Reason
from fleet.db.models import DeadLetter, utcnow
from fleet.mqtt.publish import publish_and_wait


def pending_dead_letters(session: Session, ids: Sequence[int] | None = None) -> list[DeadLetter]:
    """Dead letters not replayed yet (all of them, or those among `ids`), oldest first."""
    query = select(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    if ids is not None:
        query = query.where(DeadLetter.id.in_(ids))
    return list(session.scalars(query.order_by(DeadLetter.id)))


def replay(session: Session, mqtt_url: str, letters: Sequence[DeadLetter]) -> int:
    """Republish `letters` and mark them replayed; the caller commits. Returns how many were published.

    A letter whose topic was itself the problem cannot be published again and is left as it is. Ingest
    stores each record once however often it is replayed (idempotent keys); a record that is still bad
    becomes a new dead letter.
    """
    replayable = [letter for letter in letters if letter.reason != Reason.BAD_TOPIC.value]
    if not replayable:
        return 0
    publish_and_wait(mqtt_url, [(letter.topic, letter.payload) for letter in replayable])
    now = utcnow()
    for letter in replayable:
        letter.replayed_at = now
    return len(replayable)
