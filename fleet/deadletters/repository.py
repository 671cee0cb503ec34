"""Queries of dead letters, of every tenant (`tenant_id=None`) or of one."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, bindparam, case, func, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fleet.db.models import DeadLetter, Vehicle
from fleet.db.types import UtcDateTime

LETTERS: Table = DeadLetter.__table__  # type: ignore[assignment]


def _visible_to(tenant_id: int) -> ColumnElement[bool]:
    """Letters attributed to the tenant, or naming one of its devices (registered after the letter was written)."""
    own_devices = select(Vehicle.device_id).where(Vehicle.tenant_id == tenant_id)
    return or_(DeadLetter.tenant_id == tenant_id, DeadLetter.device_id.in_(own_devices))


def _of(tenant_id: int | None) -> Select[DeadLetter]:
    """Dead letters of every tenant, or those visible to one."""
    stmt = select(DeadLetter)
    return stmt if tenant_id is None else stmt.where(_visible_to(tenant_id))


def newest(session: Session, tenant_id: int | None, limit: int, before_id: int | None) -> Sequence[DeadLetter]:
    """Up to `limit` dead letters (only ids below `before_id`, if given), newest (highest id) first."""
    stmt = _of(tenant_id)
    if before_id is not None:
        stmt = stmt.where(DeadLetter.id < before_id)
    return session.scalars(stmt.order_by(DeadLetter.id.desc()).limit(limit)).all()


def pending(
    session: Session,
    tenant_id: int | None,
    ids: Sequence[int] | None,
    limit: int | None,
    max_replays: int | None = None,
) -> Sequence[DeadLetter]:
    """Up to `limit` (None: all) dead letters not replayed since they last came in (all, or those among `ids`),
    oldest first; with `max_replays`, only those replayed fewer times than that."""
    stmt = _of(tenant_id).where(DeadLetter.replayed_at.is_(None))
    if ids is not None:
        stmt = stmt.where(DeadLetter.id.in_(ids))
    if max_replays is not None:
        stmt = stmt.where(DeadLetter.replay_count < max_replays)
    return session.scalars(stmt.order_by(DeadLetter.id).limit(limit)).all()


def mark_replayed(session: Session, repeats_seen: Mapping[int, int], now: datetime) -> None:
    """Count a replay of each letter (id -> its `repeat_count` when it was read) and mark it replayed at `now`,
    unless it came in bad again meanwhile (its `repeat_count` moved): then ingest has made it pending again."""
    statement = (
        update(LETTERS)
        .where(LETTERS.c.id == bindparam("letter_id"))
        .values(
            replay_count=LETTERS.c.replay_count + 1,
            replay_requested_at=null(),
            replayed_at=case(
                (LETTERS.c.repeat_count == bindparam("repeats_seen"), bindparam("replayed_at", type_=UtcDateTime)),
                else_=null(),
            ),
        )
    )
    session.execute(
        statement,
        [{"letter_id": i, "repeats_seen": seen, "replayed_at": now} for i, seen in repeats_seen.items()],
    )


def _insert(connection: Connection) -> Any:
    """INSERT of the connection's dialect, with its ON CONFLICT clauses."""
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(LETTERS)


def add_or_repeat(connection: Connection, letters: Sequence[Mapping[str, Any]]) -> None:
    """Insert `letters` (distinct fingerprints); one whose fingerprint exists counts as a repeat of that letter:
    its `repeat_count` grows by the letter's own plus one, `last_seen_at`, reason, detail (and tenant, once known)
    take the new values, and it is pending again (`replayed_at` null), since it is still bad."""
    statement = _insert(connection)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[LETTERS.c.fingerprint],
        set_={
            "repeat_count": LETTERS.c.repeat_count + excluded.repeat_count + 1,
            "last_seen_at": excluded.received_at,
            "reason": excluded.reason,
            "detail": excluded.detail,
            "tenant_id": func.coalesce(excluded.tenant_id, LETTERS.c.tenant_id),
            "replayed_at": null(),
        },
    )
    connection.execute(statement, list(letters))


def add_if_absent(connection: Connection, letters: Sequence[Mapping[str, Any]]) -> set[bytes]:
    """Insert the `letters` (distinct fingerprints) whose fingerprint is new; return the fingerprints inserted."""
    statement = (
        _insert(connection)
        .on_conflict_do_nothing(index_elements=[LETTERS.c.fingerprint])
        .returning(LETTERS.c.fingerprint)
    )
    return set(connection.execute(statement, list(letters)).scalars())


def request_replay(session: Session, ids: Sequence[int], now: datetime) -> None:
    """Ask the dispatcher to publish these letters again."""
    session.execute(update(LETTERS).where(LETTERS.c.id.in_(ids)).values(replay_requested_at=now))


def claim_requested(session: Session, limit: int) -> Sequence[DeadLetter]:
    """Up to `limit` letters whose replay was requested, oldest first, locked (SKIP LOCKED) for the caller."""
    stmt = (
        select(DeadLetter)
        .where(DeadLetter.replay_requested_at.is_not(None))
        .order_by(DeadLetter.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(stmt).all()
