"""Pruning of the live feed: messages older than FLEET_LIVE_RETENTION_SECONDS go, once the webhook fan-out read them.

The feed is what `GET /v1/stream` resumes from (Last-Event-ID) and what the webhook fan-out reads; it is kept minutes,
not days. While a `webhooks` cursor exists, only messages at or below its position are deleted, so a fan-out that
fell behind loses nothing; without one, age alone decides.
"""

import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import Cursor, LiveMessage, utcnow
from worker import metrics

WEBHOOKS_CURSOR = "webhooks"
# A pass deletes about this many seconds of messages: cheap enough to run from the worker's poll loop.
PRUNE_EVERY_SECONDS = 30.0


def prune(session: Session, retention: timedelta, now: datetime) -> int:
    """Delete the feed's messages older than `retention` that the webhook fan-out has read; returns how many."""
    query = delete(LiveMessage).where(LiveMessage.created_at < now - retention)
    read_up_to = session.scalar(select(Cursor.position).where(Cursor.name == WEBHOOKS_CURSOR))
    if read_up_to is not None:
        query = query.where(LiveMessage.id <= read_up_to)
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


class LivePruner:
    """Prunes the feed at most every PRUNE_EVERY_SECONDS, counting what it deleted."""

    def __init__(self, sessions: sessionmaker[Session], retention_seconds: float) -> None:
        self._sessions = sessions
        self._retention = timedelta(seconds=retention_seconds)
        self._pruned_at = 0.0

    def prune_when_due(self) -> None:
        """Prune in a transaction of its own if the last pass is PRUNE_EVERY_SECONDS old."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        with self._sessions() as session:
            deleted = prune(session, self._retention, utcnow())
            session.commit()
        metrics.LIVE_PRUNED.inc(deleted)
        self._pruned_at = time.monotonic()
