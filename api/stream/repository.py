"""Queries of the live stream: a tenant's feed messages after an id, and where a resuming client picks up."""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.db.models import LiveMessage


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One message of the feed as the stream sends it."""

    id: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a client resuming from an id continues: after `after` (None: with the live messages only), and
    whether messages it missed were pruned (`gap`)."""

    after: int | None
    gap: bool


def newest_id(session: Session, tenant_id: int) -> int:
    """The tenant's newest message id, 0 when it has none."""
    return int(session.scalar(select(func.max(LiveMessage.id)).where(LiveMessage.tenant_id == tenant_id)) or 0)


def after(
    session: Session,
    tenant_id: int,
    after_id: int,
    limit: int,
    up_to: int | None = None,
    kinds: Collection[str] | None = None,
) -> list[FeedRow]:
    """The tenant's messages with ids above `after_id` (and at most `up_to`), of `kinds`, oldest first."""
    query = select(LiveMessage.id, LiveMessage.kind, LiveMessage.payload).where(
        LiveMessage.tenant_id == tenant_id, LiveMessage.id > after_id
    )
    if up_to is not None:
        query = query.where(LiveMessage.id <= up_to)
    if kinds is not None:
        query = query.where(LiveMessage.kind.in_(kinds))
    rows = session.execute(query.order_by(LiveMessage.id).limit(limit))
    return [FeedRow(row.id, row.kind, row.payload) for row in rows]


def resume(session: Session, tenant_id: int, last_event_id: int) -> Resume:
    """Where a client that last got `last_event_id` continues.

    The worker deletes the oldest messages first, so while the feed still holds the client's last message nothing
    after it is gone; once that one is gone too, later ones may be, and the client is told. An id the feed never
    reached (another database's) cannot be resumed from: a gap, then the live messages.
    """
    held = session.scalar(
        select(LiveMessage.id).where(LiveMessage.tenant_id == tenant_id, LiveMessage.id == last_event_id)
    )
    if held is not None:
        return Resume(last_event_id, gap=False)
    if last_event_id > int(session.scalar(select(func.max(LiveMessage.id))) or 0):
        return Resume(None, gap=True)
    oldest = session.scalar(select(func.min(LiveMessage.id)).where(LiveMessage.tenant_id == tenant_id))
    return Resume(last_event_id, gap=oldest is None or oldest > last_event_id)
