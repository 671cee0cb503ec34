"""When a day is closed, which days are due for the archive, and how far behind it is."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from fleet.archive import repository
from fleet.archive.layout import ARCHIVED_TABLES, ArchivedTable

VERIFIED = "verified"
EXPORTED = "exported"
STALE = "stale"


def closes_at(day: date, grace_hours: float) -> datetime:
    """When `day` (UTC) is closed: its end plus the grace for store-and-forward data."""
    return datetime.combine(day + timedelta(days=1), time(), UTC) + timedelta(hours=grace_hours)


def last_closed_day(now: datetime, grace_hours: float) -> date:
    """The newest day closed at `now`."""
    return (now - timedelta(hours=grace_hours)).astimezone(UTC).date() - timedelta(days=1)


def due_days(session: Session, table: ArchivedTable, now: datetime, grace_hours: float) -> Iterator[date]:
    """The closed days of `table` with rows in the database and no verified archive, oldest first.

    Candidates are the daily partitions on PostgreSQL, else every day from the oldest row on; each is probed for a
    row (EXISTS) only when not verified, so a pass over an archived table costs one query.
    """
    last = last_closed_day(now, grace_hours)
    verified = set(repository.days_in_states(session, table, {VERIFIED}))
    if repository.uses_partitions(session, table):
        candidates = [day for day in repository.partition_days(session, table) if day <= last]
    else:
        first = repository.first_day(session, table)
        candidates = [] if first is None else [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for day in candidates:
        if day not in verified and repository.has_rows(session, table, day):
            yield day


def days_to_verify(session: Session, table: ArchivedTable) -> list[date]:
    """The days of `table` exported and not verified (or found stale), oldest first."""
    return repository.days_in_states(session, table, {EXPORTED, STALE})


def lag_seconds(session: Session, now: datetime, grace_hours: float) -> float:
    """Seconds since the oldest closed day with rows and no verified archive closed, over every table; 0 if none."""
    oldest = [next(due_days(session, table, now, grace_hours), None) for table in ARCHIVED_TABLES.values()]
    days = [day for day in oldest if day is not None]
    if not days:
        return 0.0
    return max(0.0, (now - closes_at(min(days), grace_hours)).total_seconds())
