"""The worker's archive step: every FLEET_ARCHIVE_INTERVAL_SECONDS, export and verify the closed days due
(`fleet.archive.runner`), count what it wrote and what failed, and refresh the lag gauge.

A failure never leaves the step: the store away stops the pass (tried again next interval), and anything else is
logged and counted, so the worker's other steps go on. A pass spends at most BUDGET_SECONDS (past it, the day
under way is finished) and a backlog (a new deployment with months of history) goes on at the next worker pass,
so file grants and webhooks are not held up behind it.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from fleet.archive import runner
from fleet.archive.days import lag_seconds
from fleet.archive.results import DayResult, Outcome
from fleet.blobs.store import BlobStore
from fleet.db.models import utcnow
from fleet.settings import ArchiveSettings
from worker import metrics

logger = logging.getLogger(__name__)

# Time a worker pass gives the archive before it goes on with its other steps.
BUDGET_SECONDS = 20.0


class ArchiveStep:
    """The archive pass, at most once per interval (`run_when_due` from every worker pass)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: BlobStore,
        settings: ArchiveSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings
        self.clock = clock
        self._ran_at = -settings.interval_seconds
        self._backlog = False

    def run_when_due(self) -> None:
        """Run a pass when an interval has passed or the last left a backlog (if enabled); refresh the lag gauge."""
        if not self._backlog and time.monotonic() - self._ran_at < self.settings.interval_seconds:
            return
        self._ran_at = started = time.monotonic()
        self._backlog = False
        try:
            if self.settings.enabled:
                for result in runner.run(self.sessions, self.store, self.settings, self.clock()):
                    self.count(result)
                    if time.monotonic() - started > BUDGET_SECONDS:
                        self._backlog = True
                        break
            with self.sessions() as session:
                lag = lag_seconds(session, self.clock(), self.settings.grace_hours)
            metrics.ARCHIVE_LAG.set(lag)
            if lag > self.settings.lag_alert_hours * 3600:
                logger.warning(
                    "the archive is %.1f h behind (alert above %s h)", lag / 3600, self.settings.lag_alert_hours
                )
        except Exception:
            metrics.ARCHIVE_FAILURES.labels("error").inc()
            logger.exception("archive pass failed; trying again in %.0f s", self.settings.interval_seconds)

    @staticmethod
    def count(result: DayResult) -> None:
        """Add a day's result to the metrics."""
        metrics.ARCHIVE_ROWS.labels(result.table).inc(result.written_rows)
        metrics.ARCHIVE_BYTES.labels(result.table).inc(result.written_bytes)
        if result.outcome is Outcome.STORE_UNAVAILABLE:
            metrics.ARCHIVE_FAILURES.labels("store_unavailable").inc()
        elif result.failed:
            metrics.ARCHIVE_FAILURES.labels("mismatch").inc()
