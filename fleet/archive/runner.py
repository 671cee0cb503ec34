"""The archive passes the worker and `fleet archive` run: export then verify each day due, or verify only.

Each day's export, and then its verification, is a transaction of its own, committed here (the pass is the
boundary, as a batch is ingest's), under the day's advisory lock: two workers never archive the same day at once,
and a day done stays done when a later one fails. When the blob store is unavailable the pass stops at that day,
which stays as it was: the next pass tries again.
"""

import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from fleet.archive import days, repository
from fleet.archive.export import export_day
from fleet.archive.layout import ARCHIVED_TABLES, ArchivedTable
from fleet.archive.results import DayResult, Outcome
from fleet.archive.verify import verify_day
from fleet.blobs.store import BlobStore
from fleet.errors import Invalid, Unavailable
from fleet.settings import ArchiveSettings

logger = logging.getLogger(__name__)


def run_day(
    sessions: sessionmaker[Session], store: BlobStore, table: ArchivedTable, day: date, batch_rows: int, now: datetime
) -> DayResult:
    """Export (table, day) and commit, then verify it and commit: no write transaction (SQLite has one writer)
    stays open while the store is read back."""
    with sessions() as session:
        if not repository.try_lock(session, table, day):
            return DayResult(table.name, day, Outcome.BUSY)
        if repository.archive_day(session, table, day) is None and not repository.has_rows(session, table, day):
            return DayResult(table.name, day, Outcome.EMPTY)
        try:
            export = export_day(session, store, table, day, batch_rows, now)
        except Unavailable as error:
            return DayResult(table.name, day, Outcome.STORE_UNAVAILABLE, detail=str(error))
        session.commit()
    result = verify_one(sessions, store, table, day, now)
    return replace(result, written_rows=export.written_rows, written_bytes=export.written_bytes)


def verify_one(
    sessions: sessionmaker[Session], store: BlobStore, table: ArchivedTable, day: date, now: datetime
) -> DayResult:
    """Verify (table, day) in a transaction of its own, under the day's lock."""
    with sessions() as session:
        if not repository.try_lock(session, table, day):
            return DayResult(table.name, day, Outcome.BUSY)
        try:
            result = verify_day(session, store, table, day, now)
        except Unavailable as error:
            return DayResult(table.name, day, Outcome.STORE_UNAVAILABLE, detail=str(error))
        session.commit()
    return result


def _tables(names: Iterable[str] | None) -> list[ArchivedTable]:
    return list(ARCHIVED_TABLES.values()) if names is None else [ARCHIVED_TABLES[name] for name in names]


def _log(result: DayResult) -> None:
    if result.outcome is Outcome.STORE_UNAVAILABLE:
        logger.warning("archive of %s on %s stopped: %s", result.table, result.day, result.detail)
    elif result.outcome is Outcome.VERIFIED:
        logger.info("archived %s on %s: %s parts, %s rows", result.table, result.day, result.parts, result.rows)


def run(
    sessions: sessionmaker[Session],
    store: BlobStore,
    settings: ArchiveSettings,
    now: datetime,
    *,
    day: date | None = None,
    tables: Iterable[str] | None = None,
) -> Iterator[DayResult]:
    """Export and verify `day` (it must be closed), or every day due, table by table; a result per day."""
    if day is not None and now < days.closes_at(day, settings.grace_hours):
        raise Invalid(f"{day} is not closed before {days.closes_at(day, settings.grace_hours):%Y-%m-%d %H:%M}Z")
    for table in _tables(tables):
        if day is None:
            with sessions() as session:
                due = list(days.due_days(session, table, now, settings.grace_hours))
        else:
            due = [day]
        for each in due:
            result = run_day(sessions, store, table, each, settings.batch_rows, now)
            _log(result)
            yield result
            if result.outcome is Outcome.STORE_UNAVAILABLE:
                return


def verify(
    sessions: sessionmaker[Session],
    store: BlobStore,
    now: datetime,
    *,
    day: date | None = None,
    tables: Iterable[str] | None = None,
) -> Iterator[DayResult]:
    """Verify `day`, or every day exported and not verified, table by table; a result per day."""
    for table in _tables(tables):
        if day is None:
            with sessions() as session:
                due = days.days_to_verify(session, table)
        else:
            due = [day]
        for each in due:
            result = verify_one(sessions, store, table, each, now)
            _log(result)
            yield result
            if result.outcome is Outcome.STORE_UNAVAILABLE:
                return
