"""Queries of the outbox: add, claim (a vehicle's first due message, then the ones after it), mark, expire, count.

Due: pending, `not_before` reached, `expires_at` not reached. Claims lock rows with `FOR NO KEY UPDATE`, which
SQLAlchemy leaves out on SQLite: there one dispatcher runs and nothing needs locking. Not `FOR UPDATE`: that would
also block the foreign-key checks of rows referring to a claimed message (a command updated twice in one of
ingest's transactions is checked again), so ingest would wait for the broker's acknowledgement of the dispatcher.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from fleet.db.models import OutboxMessage, Vehicle, VehicleState

OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
# The PostgreSQL notification channel `enqueue` notifies on (delivered at commit, never on a rollback).
NOTIFY_CHANNEL = "fleet_outbox"
PENDING = "pending"


def _due(message: type[OutboxMessage], now: datetime) -> ColumnElement[bool]:
    return and_(message.state == PENDING, message.not_before <= now, message.expires_at > now)


def add(session: Session, message: OutboxMessage) -> None:
    """Insert `message` in the caller's transaction (flushed: its id is known)."""
    session.add(message)
    session.flush()


def notify(session: Session) -> None:
    """On PostgreSQL, tell the listening dispatchers there is a new message once the caller's transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))


def claim_heads(session: Session, now: datetime, limit: int) -> Sequence[tuple[OutboxMessage, str]]:
    """Lock the first due message of up to `limit` online vehicles, oldest first, skipping locked rows; each with
    its vehicle's device id.

    A vehicle whose first due message another transaction holds (another dispatcher publishing it) is skipped
    whole: holding a vehicle's first message is what lets a dispatcher send the ones after it, in order.
    """
    earlier = aliased(OutboxMessage)
    stmt = (
        select(OutboxMessage, Vehicle.device_id)
        .join(Vehicle, Vehicle.id == OutboxMessage.vehicle_id)
        .join(VehicleState, VehicleState.vehicle_id == OutboxMessage.vehicle_id)
        .where(_due(OutboxMessage, now), VehicleState.online.is_(True))
        .where(
            ~exists().where(
                earlier.vehicle_id == OutboxMessage.vehicle_id, _due(earlier, now), earlier.id < OutboxMessage.id
            )
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(of=OutboxMessage, skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    return [(message, device_id) for message, device_id in session.execute(stmt)]


def claim_followers(
    session: Session, heads: Sequence[OutboxMessage], now: datetime, limit: int
) -> Sequence[OutboxMessage]:
    """Lock up to `limit` more due messages of the vehicles whose first due message is among `heads`, oldest first.

    Without SKIP LOCKED: only a short transaction (a cancel) can hold one of them, since no other dispatcher holds
    these vehicles; waiting for it keeps each vehicle's messages in order.
    """
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.vehicle_id.in_({head.vehicle_id for head in heads}),
            OutboxMessage.id.not_in([head.id for head in heads]),
            _due(OutboxMessage, now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(of=OutboxMessage, key_share=True)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).all()


def mark_sent(session: Session, ids: Sequence[int], now: datetime) -> None:
    """Record one acknowledged attempt of each message: sent at `now`."""
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(ids))
        .values(state="sent", sent_at=now, attempts=OUTBOX.c.attempts + 1, last_error=None)
    )


def record_failure(session: Session, ids: Sequence[int], error: str) -> None:
    """Record one failed attempt of each message; it stays pending."""
    session.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids)).values(attempts=OUTBOX.c.attempts + 1, last_error=error))


def expire(session: Session, now: datetime) -> int:
    """Mark pending messages whose `expires_at` passed as expired; rows another transaction holds are left for
    later. Returns how many."""
    overdue = (
        select(OUTBOX.c.id)
        .where(OUTBOX.c.state == PENDING, OUTBOX.c.expires_at <= now)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = session.execute(update(OUTBOX).where(OUTBOX.c.id.in_(overdue)).values(state="expired"))
    return int(result.rowcount)  # type: ignore[attr-defined]


def of_tenant(session: Session, tenant_id: int, message_id: int, *, lock: bool) -> OutboxMessage | None:
    """The tenant's message `message_id`; with `lock`, locked for update unless another transaction holds it (then
    None, as for a message that does not exist)."""
    stmt = select(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.tenant_id == tenant_id)
    if lock:
        stmt = stmt.with_for_update(skip_locked=True).execution_options(populate_existing=True)
    return session.scalar(stmt)


def pending_count(session: Session) -> int:
    """Pending messages, held ones (vehicle offline, `not_before` ahead) included."""
    return int(session.scalar(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.state == PENDING)) or 0)


def oldest_deliverable(session: Session, now: datetime) -> datetime | None:
    """When the oldest message that could be sent now (due, vehicle online) became due."""
    stmt = (
        select(func.min(OutboxMessage.not_before))
        .join(VehicleState, VehicleState.vehicle_id == OutboxMessage.vehicle_id)
        .where(_due(OutboxMessage, now), VehicleState.online.is_(True))
    )
    return session.scalar(stmt)
