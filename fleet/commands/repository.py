"""Queries of the commands domain."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.commands.states import OPEN, CommandState
from fleet.db.models import Command, CommandTransition


def add(session: Session, command: Command) -> None:
    """Insert a command and get its id."""
    session.add(command)
    session.flush()


def add_transition(session: Session, command_id: int, state: str, at: datetime, detail: str | None) -> None:
    """Record a step of a command's history."""
    session.add(CommandTransition(command_id=command_id, state=state, at=at, detail=detail))


def by_idempotency_key(session: Session, tenant_id: int, key: str) -> Command | None:
    """The tenant's command created with `key`."""
    query = select(Command).where(Command.tenant_id == tenant_id, Command.idempotency_key == key)
    return session.scalars(query).first()


def of_tenant(session: Session, tenant_id: int, command_id: int, *, lock: bool = False) -> Command | None:
    """The tenant's command `command_id`."""
    query = select(Command).where(Command.id == command_id, Command.tenant_id == tenant_id)
    if lock:
        # Locked, and read afresh: what the session holds may predate the lock.
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def by_ids(session: Session, ids: Sequence[int]) -> dict[int, Command]:
    """Commands by id, locked for the caller's transaction."""
    rows = session.scalars(select(Command).where(Command.id.in_(ids)).with_for_update())
    return {command.id: command for command in rows}


def by_outbox_ids(session: Session, outbox_ids: Sequence[int]) -> Sequence[Command]:
    """Queued commands carried by these outbox messages."""
    query = select(Command).where(Command.outbox_id.in_(outbox_ids), Command.state == CommandState.QUEUED)
    return session.scalars(query.with_for_update()).all()


def due_to_expire(session: Session, now: datetime) -> Sequence[Command]:
    """Queued or sent commands past their expiry, skipping rows another transaction holds."""
    query = (
        select(Command)
        .where(Command.state.in_([s.value for s in OPEN]), Command.expires_at <= now)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).all()


def of_vehicle(
    session: Session, vehicle_id: int, limit: int, before_id: int | None = None, state: str | None = None
) -> Sequence[Command]:
    """A vehicle's commands, newest first, `limit` of them below `before_id`."""
    query = select(Command).where(Command.vehicle_id == vehicle_id)
    if before_id is not None:
        query = query.where(Command.id < before_id)
    if state is not None:
        query = query.where(Command.state == state)
    return session.scalars(query.order_by(Command.id.desc()).limit(limit)).all()


def history(session: Session, command_id: int) -> Sequence[CommandTransition]:
    """The steps of a command, in order."""
    query = select(CommandTransition).where(CommandTransition.command_id == command_id)
    return session.scalars(query.order_by(CommandTransition.id)).all()


def count_by_type_and_state(session: Session) -> dict[tuple[str, str], int]:
    """Commands per (type, state), for the gauges."""
    rows = session.execute(select(Command.type, Command.state, func.count()).group_by(Command.type, Command.state))
    return {(command_type, state): int(count) for command_type, state, count in rows}


def count_sent_before(session: Session, before: datetime) -> int:
    """Commands sent before `before` that the unit has not acknowledged."""
    query = select(func.count()).where(Command.state == CommandState.SENT, Command.sent_at < before)
    return int(session.scalar(query) or 0)
