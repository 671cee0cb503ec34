"""The worker loop: every poll, answer file offers and check uploads; every lifecycle interval, apply retention;
the files and commands gauges every few seconds.

Each step is one transaction with its rows locked `FOR UPDATE SKIP LOCKED`, so several workers share the work and
a killed worker leaves its rows to the next pass unchanged (its transaction never committed). The worker talks to
the database and the blob store only: what it tells units goes through the outbox, which the dispatcher sends.
"""

import logging
import os
import threading
import time
from datetime import timedelta

from sqlalchemy import Engine

from fleet.blobs.factory import make_blob_store
from fleet.blobs.store import BlobStore
from fleet.commands import repository as command_repository
from fleet.commands.states import CommandState
from fleet.contract.commands import PARAMS
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import utcnow
from fleet.db.readiness import DatabaseReadiness, SchemaMismatch
from fleet.events import silence
from fleet.files import repository, tachograph, transfer
from fleet.files.lifecycle import run_lifecycle
from fleet.files.states import FileState
from fleet.health import HealthServer
from fleet.settings import (
    ArchiveSettings,
    BlobSettings,
    FilesSettings,
    LiveSettings,
    SharedSettings,
    WebhookSettings,
    WorkerSettings,
)
from worker import alarms, metrics, vehicles
from worker.archive import ArchiveStep
from worker.live import LivePruner
from worker.partitions import PartitionsStep
from worker.retention import RetentionStep
from worker.webhooks import WebhookStep

logger = logging.getLogger(__name__)

RETRY_MAX_SECONDS = 10.0
# The files and commands gauges are refreshed at most this often (grouped counts).
GAUGES_EVERY_SECONDS = 10.0
# Vehicles silent while online are looked for this often (the rule's `after_s` is at least 10 s).
SILENCE_EVERY_SECONDS = 5.0
# A command the broker took this long ago without an ack from the unit counts as stuck in sent.
STUCK_AFTER = timedelta(minutes=5)


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
        self.database = DatabaseReadiness("worker", metrics.DATABASE_READY)
        self._lifecycle_at = 0.0
        self._gauges_at = 0.0
        self._silence_at = 0.0
        self.webhooks = WebhookStep(self.sessions, WebhookSettings())
        self.live = LivePruner(self.sessions, LiveSettings().retention_seconds)
        self.archive = ArchiveStep(self.sessions, self.store, ArchiveSettings())
        self.partitions = PartitionsStep(self.engine, settings.partitions_ahead_days)
        self.retention = RetentionStep(self.engine)
        self.silent_after = timedelta(seconds=settings.silent_after_seconds)

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
                    self.database.failed(error)
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
        self.partitions.run_when_due()
        self.retention.run_when_due()
        self.webhooks.run()
        self.live.prune_when_due()
        self.archive.run_when_due()
        self._sweep_silence()
        self._refresh_gauges()
        self.database.succeeded()
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

    def _sweep_silence(self) -> None:
        """Open and end the `silent` events of vehicles online but quiet (fleet.events.silence), every few seconds."""
        if time.monotonic() - self._silence_at < SILENCE_EVERY_SECONDS:
            return
        with self.sessions() as session:
            silence.sweep(session, utcnow())
            session.commit()
        self._silence_at = time.monotonic()

    def not_ready_reason(self) -> str | None:
        """Why this worker cannot work, or None when it is ready."""
        if self.database.schema_problem:
            return self.database.schema_problem
        if not self.database.ready:
            return "database unreachable"
        return None

    def _refresh_gauges(self) -> None:
        if time.monotonic() - self._gauges_at < GAUGES_EVERY_SECONDS:
            return
        with self.sessions() as session:
            files = repository.count_by_state(session)
            commands = command_repository.count_by_type_and_state(session)
            stuck = command_repository.count_sent_before(session, utcnow() - STUCK_AFTER)
            alarms.refresh_gauges(session, utcnow())
            vehicles.refresh_gauge(session, utcnow(), self.silent_after)
            overdue = tachograph.overdue_counts(
                session.connection(), self.files.tachograph_vu_days, self.files.tachograph_card_days, utcnow()
            )
        for kind, count in overdue.items():
            metrics.TACHOGRAPH_OVERDUE.labels(kind).set(count)
        for state in FileState:
            metrics.FILES_BY_STATE.labels(state.value).set(files.get(state.value, 0))
        for command_type in PARAMS:
            for command_state in CommandState:
                count = commands.get((command_type, command_state.value), 0)
                metrics.COMMANDS.labels(command_type, command_state.value).set(count)
        metrics.COMMANDS_STUCK_SENT.set(stuck)
        self._gauges_at = time.monotonic()
