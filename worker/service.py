"""The worker loop: every poll, answer file offers and check uploads; every lifecycle interval, apply retention.

Each step is one transaction with its rows locked `FOR UPDATE SKIP LOCKED`, so several workers share the work and
a killed worker leaves its rows to the next pass unchanged (its transaction never committed). The worker talks to
the database and the blob store only: what it tells units goes through the outbox, which the dispatcher sends.
"""

import logging
import os
import threading
import time

from sqlalchemy import Engine

from fleet.blobs.factory import make_blob_store
from fleet.blobs.store import BlobStore
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.errors import DatabaseFault, classify
from fleet.db.models import utcnow
from fleet.files import repository, transfer
from fleet.files.lifecycle import run_lifecycle
from fleet.files.states import FileState
from fleet.health import HealthServer
from fleet.settings import BlobSettings, FilesSettings, SharedSettings, WorkerSettings
from worker import metrics

logger = logging.getLogger(__name__)

RETRY_MAX_SECONDS = 10.0
# The files-per-state gauge is refreshed at most this often (one grouped count).
GAUGES_EVERY_SECONDS = 10.0


class SchemaMismatch(RuntimeError):
    """The database refuses the worker's statements as a schema fault (not migrated)."""


class WorkerService:
    """Runs the periodic work until stopped."""

    def __init__(
        self,
        shared: SharedSettings,
        settings: WorkerSettings,
        files: FilesSettings | None = None,
        blobs: BlobSettings | None = None,
        store: BlobStore | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.files = files or FilesSettings()
        blobs = blobs or BlobSettings()
        self.store = store or make_blob_store(shared, blobs, local_base_url=blobs.blob_base_url)
        self.engine = engine or make_engine(shared.database_url)
        self.sessions = make_session_factory(self.engine)
        self.health = HealthServer(settings.http_host, settings.http_port, self.not_ready_reason, name="worker-http")
        self._database_ready = False
        self._schema_problem: str | None = None
        self._lifecycle_at = 0.0
        self._gauges_at = 0.0

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; the step under way finishes first."""
        self.health.start()
        logger.info("worker running (pid %s); health and metrics on port %s", os.getpid(), self.health.port)
        delay = self.settings.poll_interval_seconds
        try:
            while not stop.is_set():
                try:
                    busy = self.run_once()
                except SchemaMismatch:
                    raise
                except Exception as error:
                    self._judge(error)
                    metrics.PASS_FAILURES.inc()
                    logger.warning("worker pass failed, retrying in %.1fs: %s", delay, error)
                    stop.wait(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
                    continue
                delay = self.settings.poll_interval_seconds
                if not busy:
                    stop.wait(self.settings.poll_interval_seconds)
        finally:
            self.health.stop()
            logger.info("worker stopped")

    def run_once(self) -> bool:
        """One pass of file work, and the lifecycle when it is due; True when a full batch was handled."""
        with self.sessions() as session:
            counts = transfer.process(session, self.store, self.files, self.settings.batch_size, utcnow())
            session.commit()
        for result in ("granted", "refused", "verified", "rejected"):
            metrics.FILES.labels(result).inc(getattr(counts, result))
        metrics.FILES.labels("store_unavailable").inc(counts.unavailable)
        if time.monotonic() - self._lifecycle_at >= self.settings.lifecycle_interval_seconds:
            self.run_lifecycle()
        self._refresh_gauges()
        self._set_database_ready(True)
        handled = counts.granted + counts.refused + counts.verified + counts.rejected
        return handled >= self.settings.batch_size

    def run_lifecycle(self) -> None:
        """Delete expired files and give up stale offers, a batch per transaction, until none is left."""
        while True:
            with self.sessions() as session:
                counts = run_lifecycle(session, self.store, self.files, self.settings.batch_size, utcnow())
                session.commit()
            metrics.FILES.labels("deleted").inc(counts.deleted)
            metrics.FILES.labels("abandoned").inc(counts.abandoned)
            metrics.FILES.labels("store_unavailable").inc(counts.unavailable)
            if counts.deleted + counts.abandoned < self.settings.batch_size:
                break
        self._lifecycle_at = time.monotonic()

    def not_ready_reason(self) -> str | None:
        """Why this worker cannot work, or None when it is ready."""
        if self._schema_problem:
            return self._schema_problem
        if not self._database_ready:
            return "database unreachable"
        return None

    def _refresh_gauges(self) -> None:
        if time.monotonic() - self._gauges_at < GAUGES_EVERY_SECONDS:
            return
        with self.sessions() as session:
            counts = repository.count_by_state(session)
        for state in FileState:
            metrics.FILES_BY_STATE.labels(state.value).set(counts.get(state.value, 0))
        self._gauges_at = time.monotonic()

    def _judge(self, error: Exception) -> None:
        """Note a failed pass: not ready while the database is away; a schema fault ends the worker."""
        fault = classify(error)
        if fault is DatabaseFault.SCHEMA:
            self._set_database_ready(False)
            self._schema_problem = (
                f"the database refuses the worker's statements ({str(error).splitlines()[0][:300]}): is it "
                "migrated to this version (`fleet migrate`)?"
            )
            logger.critical("%s", self._schema_problem)
            raise SchemaMismatch(self._schema_problem) from error
        if fault is DatabaseFault.UNAVAILABLE:
            self._set_database_ready(False)

    def _set_database_ready(self, ready: bool) -> None:
        self._database_ready = ready
        metrics.DATABASE_READY.set(1 if ready else 0)
