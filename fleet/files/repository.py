"""Queries of the file flow: ingest's lookups and the worker's queue."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, tuple_
from sqlalchemy.orm import Session

from fleet.db.models import File, Vehicle
from fleet.files.states import FileState


def files_of(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], File]:
    """(vehicle id, unit file id) -> its row, for the keys that exist; locked for the caller's transaction."""
    found: dict[tuple[int, str], File] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        query = select(File).where(tuple_(File.vehicle_id, File.file_id).in_(chunk)).with_for_update()
        for file in session.scalars(query):
            found[(file.vehicle_id, file.file_id)] = file
    return found


def claim_work(session: Session, limit: int) -> Sequence[File]:
    """Up to `limit` files with an answer due or an upload to check, oldest first, locked (SKIP LOCKED) so
    several workers share the queue."""
    query = (
        select(File)
        .where(or_(File.answer_due, File.state == FileState.UPLOADED))
        .order_by(File.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).all()


def expired(session: Session, now: datetime, limit: int) -> Sequence[File]:
    """Files past their retention and not held, locked (SKIP LOCKED)."""
    query = (
        select(File)
        .where(File.retain_until < now, File.legal_hold.is_(False))
        .order_by(File.retain_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).all()


def abandoned(session: Session, offered_before: datetime, limit: int) -> Sequence[File]:
    """Offers whose last grant (else their receipt) was before `offered_before`, never uploaded, locked (SKIP
    LOCKED): an offer made again after a refusal counts from its new grant."""
    query = (
        select(File)
        .where(File.state == FileState.OFFERED, func.coalesce(File.granted_at, File.received_at) < offered_before)
        .order_by(File.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).all()


def failed_unsettled(session: Session, limit: int) -> Sequence[File]:
    """Files the unit gave up on that have no retention yet, locked (SKIP LOCKED)."""
    query = (
        select(File)
        .where(File.state == FileState.FAILED, File.retain_until.is_(None))
        .order_by(File.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).all()


def remove(session: Session, file_id: int) -> None:
    """Delete the row of a file whose object is gone."""
    session.execute(delete(File).where(File.id == file_id))


def vehicle(session: Session, vehicle_id: int) -> Vehicle:
    """The vehicle a file belongs to."""
    return session.get_one(Vehicle, vehicle_id)


def count_by_state(session: Session) -> dict[str, int]:
    """Files per state, for the worker's gauge."""
    rows = session.execute(select(File.state, func.count()).group_by(File.state))
    return {state: int(count) for state, count in rows}


def files_of_vehicles(session: Session, vehicle_ids: Sequence[int]) -> Sequence[File]:
    """Every file of these vehicles, locked (waiting for a worker's pass on them) for the caller's transaction."""
    query = select(File).where(File.vehicle_id.in_(vehicle_ids)).order_by(File.id).with_for_update()
    return session.scalars(query).all()
