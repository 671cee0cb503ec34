"""The worker's retention step: every FLEET_RETENTION_INTERVAL_SECONDS, a sweep over the retained tables.

A sweep goes through each table's days before its cutoffs (fleet.lifecycle.retention), one transaction each: a
day the archive alone keeps is passed by without reading it; the others are counted with their partition locked,
then dropped, their rows deleted, or the mismatch rolled back and the day marked stale. Alarms and dead letters go
in batches of BATCH_ROWS rows per transaction. A pass of the worker spends at most BUDGET_SECONDS on it and the
sweep resumes at the next pass, so file grants are not held up. On PostgreSQL a session advisory lock keeps two
workers (or a worker and `fleet retention run`) from sweeping at once. The blob store plays no part: retention
reads only the archive's records in the database, so a store that is down changes nothing here.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fleet.archive.layout import ARCHIVED_TABLES
from fleet.db.engine import make_session_factory
from fleet.db.models import utcnow
from fleet.errors import Conflict
from fleet.lifecycle import retention
from fleet.lifecycle.policy import RETAINED_TABLES, Cutoffs
from fleet.lifecycle.retention import Action, Context, Decision, Reason
from fleet.settings import ArchiveSettings, IngestSettings, RetentionSettings
from worker import metrics

logger = logging.getLogger(__name__)

# Time a worker pass gives the sweep before it goes on with file work; the sweep resumes at the next pass.
BUDGET_SECONDS = 20.0
# Alarms or dead letters deleted per transaction: row locks held for well under a second.
BATCH_ROWS = 5000
LOCK_NAME = "fleet-retention"


@dataclass
class SweepResult:
    """What a sweep did: the decisions carried out or found, in order."""

    done: list[Decision] = field(default_factory=list)

    @property
    def kept(self) -> Counter[tuple[str, str]]:
        """(table, reason) -> days kept past their cutoff."""
        return Counter((d.table, d.reason) for d in self.done if d.action is Action.KEEP and d.reason in _PAST)


_PAST = frozenset(reason.value for reason in retention.PAST_CUTOFF)


class RetentionStep:
    """Sweeps the retained tables when due (`run_when_due`), or at once (`run`, for `fleet retention run`)."""

    def __init__(
        self,
        engine: Engine,
        settings: RetentionSettings | None = None,
        archive_enabled: bool | None = None,
        late_data: timedelta | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.settings = settings or RetentionSettings()
        self.archive_enabled = ArchiveSettings().enabled if archive_enabled is None else archive_enabled
        self.late_data = late_data or timedelta(hours=IngestSettings().max_record_age_hours)
        self.clock = clock
        self._sweep: Generator[Decision, None, None] | None = None
        self._result = SweepResult()
        self._swept_at = -self.settings.interval_seconds
        self._told_archive_off = False

    def run_when_due(self) -> None:
        """Go on with the sweep under way, or start one when FLEET_RETENTION_INTERVAL_SECONDS have passed."""
        if not self.settings.enabled:
            return
        if self._sweep is None:
            if time.monotonic() - self._swept_at < self.settings.interval_seconds:
                return
            self._sweep, self._result = self._decisions(), SweepResult()
        deadline = time.monotonic() + BUDGET_SECONDS
        try:
            for decision in self._sweep:
                self._result.done.append(decision)
                if time.monotonic() > deadline:
                    return
        except BaseException:
            # Not again at the next pass: the worker's back-off is for the file work, retention waits its interval.
            self._sweep, self._swept_at = None, time.monotonic()
            raise
        self._sweep, self._swept_at = None, time.monotonic()
        self._set_kept(self._result)

    def plan(self) -> list[Decision]:
        """What a sweep would do now, changing nothing (`fleet retention run --dry-run`)."""
        now = self.clock()
        with self.sessions() as session:
            return retention.plan_all(session, self.settings, self._context(now), now.date())

    def run(self) -> SweepResult:
        """A whole sweep now; Conflict when another one holds the lock."""
        result = SweepResult()
        sweep = self._decisions(wait=False)
        result.done.extend(sweep)
        self._set_kept(result)
        return result

    def _decisions(self, wait: bool = True) -> Generator[Decision, None, None]:
        with self._sweep_lock() as locked:
            if not locked:
                if not wait:
                    raise Conflict("another retention run is under way (a worker or `fleet retention run`)")
                logger.info(
                    "retention: another worker is sweeping; trying again in %ss", self.settings.interval_seconds
                )
                return
            if not self.archive_enabled and not self._told_archive_off:
                logger.warning(
                    "retention: FLEET_ARCHIVE_ENABLED is false, so no day of %s is dropped or deleted "
                    "(only closed alarms and dead letters go)",
                    ", ".join(ARCHIVED_TABLES),
                )
                self._told_archive_off = True
            for table in RETAINED_TABLES:
                yield from self._table(table)

    def _table(self, table: str) -> Iterator[Decision]:
        now = self.clock()
        context = self._context(now)
        with self.sessions() as session:
            cutoffs = retention.table_cutoffs(session, self.settings, table, now.date())
            days = retention.candidates(session, table, cutoffs) if table in ARCHIVED_TABLES else []
        if table not in ARCHIVED_TABLES:
            yield from self._expire(table, cutoffs)
        for candidate in days:
            with self.sessions() as session:
                kept = retention.settled(session, candidate, cutoffs, context)
            yield kept if kept is not None else self._apply(table, candidate.day, cutoffs, context)

    def _apply(self, table: str, day: date, cutoffs: Cutoffs, context: Context) -> Decision:
        try:
            with self.sessions() as session:
                done = retention.apply_day(session, table, day, cutoffs, context, self.clock())
                session.commit()
        except retention.ArchiveMismatch as mismatch:
            with self.sessions() as session:
                retention.mark_stale(session, mismatch.decision, self.clock())
                session.commit()
            metrics.RETENTION_MARKED_STALE.labels(table).inc()
            logger.warning(
                "retention: %s %s holds rows its verified archive does not (%s): kept and marked stale, "
                "the archive exports the day again",
                table,
                day,
                mismatch.decision.reason,
            )
            found = mismatch.decision
            return Decision(table, day, Action.KEEP, Reason.ARCHIVE_STALE, found.tenants, found.rows)
        except OperationalError as error:
            if not retention.is_lock_timeout(error):
                raise
            logger.info("retention: %s %s is busy, left for the next sweep", table, day)
            return Decision(table, day, Action.KEEP, Reason.BUSY)
        if done.action is Action.DROP:
            metrics.RETENTION_DROPPED.labels(table).inc()
        if done.action in (Action.DROP, Action.DELETE):
            metrics.RETENTION_ROWS.labels(table).inc(done.rows or 0)
            logger.info(
                "retention: %s %s: %s %s row(s) of %s tenant(s)",
                table,
                day,
                "dropped the partition with" if done.action is Action.DROP else "deleted",
                done.rows,
                len(done.tenants),
            )
        return done

    def _expire(self, table: str, cutoffs: Cutoffs) -> Iterator[Decision]:
        """Delete rows of a table that is not archived past their cutoff, a batch per transaction and per decision."""
        while True:
            with self.sessions() as session:
                deleted = retention.delete_expired(session, table, cutoffs, BATCH_ROWS)
                session.commit()
            if not deleted:
                return
            metrics.RETENTION_ROWS.labels(table).inc(deleted)
            logger.info("retention: deleted %s %s past their cutoff", deleted, table.replace("_", " "))
            yield retention.expiry(table, cutoffs, deleted)
            if deleted < BATCH_ROWS:
                return

    def _context(self, now: datetime) -> Context:
        return Context(self.archive_enabled, now - self.late_data)

    @contextmanager
    def _sweep_lock(self) -> Iterator[bool]:
        if self.engine.dialect.name != "postgresql":
            yield True
            return
        # A connection of its own, outside any transaction: a session lock held for the sweep leaves no
        # transaction open (which would hold back vacuum) between the days.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            locked = bool(connection.scalar(text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": LOCK_NAME}))
            try:
                yield locked
            finally:
                if locked:
                    connection.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": LOCK_NAME})

    def _set_kept(self, result: SweepResult) -> None:
        kept = result.kept
        for table in ARCHIVED_TABLES:
            for reason in retention.PAST_CUTOFF:
                metrics.RETENTION_KEPT.labels(table, reason.name.lower()).set(kept[(table, reason.value)])
