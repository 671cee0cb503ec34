"""The ingest loop: collect a batch, write it in one transaction, acknowledge its messages after commit."""

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from fleet.contract.codec import DecodeLimits, Reason
from fleet.contract.topics import uplink_subscription
from fleet.db.engine import make_engine
from fleet.db.errors import DatabaseFault, classify
from fleet.health import HealthServer
from fleet.heap import freeze_long_lived
from fleet.settings import IngestSettings, SharedSettings
from ingest import metrics
from ingest.batch import Rows, build_rows, decode_all, device_ids, message_dead_letter
from ingest.messages import InboundMessage
from ingest.mqtt_consumer import MqttConsumer
from ingest.store import Store, WriteCounts

logger = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0
QUEUE_POLL_SECONDS = 0.2
# On shutdown, batches already received are stored for at most this long; what is left stays unacknowledged and
# the broker redelivers it. Well inside the 30 s termination grace period, also on a slow machine.
FLUSH_BUDGET_SECONDS = 8.0


class SchemaMismatch(RuntimeError):
    """The database refuses ingest's statements as a schema fault: nothing more can be stored until it is fixed."""


class IngestService:
    """Consumes uplink messages and stores them; nothing is acknowledged before it is committed."""

    def __init__(self, shared: SharedSettings, settings: IngestSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(shared.database_url)
        self.store = Store(self.engine, settings.detection, settings.live_position_interval_seconds)
        self.limits = DecodeLimits(
            max_payload_bytes=settings.max_payload_bytes,
            max_future=timedelta(seconds=settings.max_future_seconds),
            max_age=timedelta(hours=settings.max_record_age_hours),
        )
        self._queue: queue.SimpleQueue[InboundMessage] = queue.SimpleQueue()
        self._pending_since: deque[float] = deque()
        self._database_ready = False
        self._schema_problem: str | None = None
        protocol_v5 = settings.mqtt_protocol != "3.1.1"
        self.consumer = MqttConsumer(
            shared.mqtt_endpoint(),
            settings.client_id,
            # MQTT 3.1.1 brokers (the embedded one) may not know $share: subscribe directly there.
            uplink_subscription(settings.share_group if protocol_v5 else ""),
            self._receive,
            protocol_v5=protocol_v5,
            session_expiry_seconds=settings.session_expiry_seconds,
            # Twice the batch, so the broker sends the next batch while this one is written.
            receive_maximum=2 * settings.batch_max_messages,
        )
        self.health = HealthServer(settings.http_host, settings.http_port, self.not_ready_reason, name="ingest-http")
        metrics.PENDING.set_function(lambda: len(self._pending_since))
        metrics.OLDEST_PENDING_AGE.set_function(self._oldest_pending_age)

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then flush what was received and disconnect."""
        self.health.start()
        self._check_database()
        # Everything alive now (modules, schemas, metadata) lives as long as the process.
        freeze_long_lived()
        self.consumer.start()
        logger.info("ingest %s running; health and metrics on port %s", self.settings.client_id, self.health.port)
        try:
            while not stop.is_set():
                batch = self._collect(stop)
                if batch:
                    self._commit(batch, stop)
            self._flush_received()
        finally:
            self.consumer.stop()
            self.health.stop()
            logger.info("ingest %s stopped", self.settings.client_id)

    def not_ready_reason(self) -> str | None:
        """Why this instance should not get traffic, or None when it is ready."""
        if self._schema_problem:
            return self._schema_problem
        if not self.consumer.connected:
            return "not connected to the MQTT broker"
        if not self.consumer.subscribed:
            return self.consumer.subscription_problem or "waiting for the broker to grant the uplink subscription"
        if not self._database_ready:
            return "database unreachable"
        return None

    def _receive(self, message: InboundMessage) -> None:
        self._pending_since.append(message.received_monotonic)
        self._queue.put(message)

    def _oldest_pending_age(self) -> float:
        try:
            return max(0.0, time.monotonic() - self._pending_since[0])
        except IndexError:
            return 0.0

    def _set_database_ready(self, ready: bool) -> None:
        self._database_ready = ready
        metrics.DATABASE_READY.set(1 if ready else 0)

    def _check_database(self) -> None:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            self._set_database_ready(True)
        except Exception as error:
            if classify(error) is not DatabaseFault.UNAVAILABLE:
                raise
            logger.warning("database unreachable at start: %s", error)
            self._set_database_ready(False)

    def _collect(self, stop: threading.Event) -> list[InboundMessage]:
        """Up to batch_max_messages, waiting at most batch_max_seconds after the first one."""
        try:
            batch = [self._queue.get(timeout=QUEUE_POLL_SECONDS)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.settings.batch_max_seconds
        while len(batch) < self.settings.batch_max_messages and not stop.is_set():
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get_nowait() if remaining <= 0 else self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _flush_received(self) -> None:
        """On shutdown: store and acknowledge what was already received, if the database allows."""
        never = threading.Event()
        # Only what is queued now: each acknowledgement lets the broker send more, which would keep a backlog
        # drain going past the grace period. Later messages stay unacknowledged and come back to the next session.
        remaining = self._queue.qsize()
        deadline = time.monotonic() + FLUSH_BUDGET_SECONDS
        while remaining > 0 and self._database_ready:
            if time.monotonic() >= deadline:
                logger.info("shutdown budget spent: %d received messages left for the broker to redeliver", remaining)
                return
            batch: list[InboundMessage] = []
            while len(batch) < min(remaining, self.settings.batch_max_messages):
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return
            remaining -= len(batch)
            self._commit(batch, never, give_up_when_unavailable=True)

    def _commit(
        self, batch: list[InboundMessage], stop: threading.Event, give_up_when_unavailable: bool = False
    ) -> None:
        """Write the batch until it commits; isolate messages the database refuses; stop on a schema fault."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                self._write(batch)
                return
            except Exception as error:
                fault = self._judge(error)
                if fault is DatabaseFault.DATA:
                    metrics.WRITE_ERRORS.labels("data").inc()
                    logger.exception("batch of %d messages refused; writing them one by one", len(batch))
                    if self._write_one_by_one(batch):
                        return
                if stop.is_set() or give_up_when_unavailable:
                    logger.warning("stopping with %d messages unacknowledged: the broker redelivers them", len(batch))
                    return
                logger.warning("database unavailable, retrying in %.1fs: %s", delay, error)
                stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _judge(self, error: Exception) -> DatabaseFault:
        """Classify a failed write; a schema fault ends the service (nothing of this batch is acknowledged)."""
        fault = classify(error)
        if fault is DatabaseFault.SCHEMA:
            metrics.WRITE_ERRORS.labels("schema").inc()
            self._set_database_ready(False)
            self._schema_problem = (
                f"the database refuses ingest's statements ({str(error).splitlines()[0][:300]}): is it migrated to "
                "this version (`fleet migrate`), and may ingest's user write its tables? Nothing was acknowledged."
            )
            logger.critical("%s", self._schema_problem)
            raise SchemaMismatch(self._schema_problem) from error
        if fault is DatabaseFault.UNAVAILABLE:
            metrics.WRITE_ERRORS.labels("database").inc()
            self._set_database_ready(False)
        return fault

    def _write_one_by_one(self, batch: list[InboundMessage]) -> bool:
        """Write each message alone, dead-lettering the ones refused for their data; False if the database went.

        On False, `batch` keeps only the messages not yet stored, for the caller's retry loop.
        """
        for index, message in enumerate(batch):
            try:
                self._write([message])
                continue
            except Exception as error:
                if self._judge(error) is not DatabaseFault.DATA:
                    del batch[:index]
                    return False
                logger.exception("message on %.200s refused by the database; dead-lettered", message.topic)
                detail = f"database refused the message: {error}"[:2000]
            try:
                self._dead_letter_alone(message, detail)
            except Exception as error:
                self._judge(error)
                del batch[:index]
                return False
        return True

    def _dead_letter_alone(self, message: InboundMessage, detail: str) -> None:
        rows = Rows()
        row = message_dead_letter(message, Reason.STORE_ERROR, detail)
        with self.engine.begin() as connection:
            # Attributed to the device's tenant, so the operator sees it in the API as well.
            device = (
                self.store.resolve_devices(connection, [row.device_id]).get(row.device_id) if row.device_id else None
            )
            rows.dead_letter(row, device.tenant_id if device else None)
            self.store.write(connection, rows)
        self._acknowledge([message])
        metrics.DEAD_LETTERS.labels(Reason.STORE_ERROR.value).inc()

    def _write(self, batch: Sequence[InboundMessage]) -> None:
        started = time.perf_counter()
        now = datetime.now(UTC)
        decoded = decode_all(batch, now, self.limits)
        with self.engine.begin() as connection:
            devices = self.store.resolve_devices(connection, device_ids(decoded))
            rows = build_rows(batch, decoded, devices, now)
            counts, created_partitions = self.store.write(connection, rows)
        self.store.remember_partitions(created_partitions)
        self._set_database_ready(True)
        self._acknowledge(batch)
        metrics.WRITE_DURATION.observe(time.perf_counter() - started)
        metrics.BATCH_MESSAGES.observe(len(batch))
        _count(rows, counts)

    def _acknowledge(self, batch: Sequence[InboundMessage]) -> None:
        self.consumer.ack(batch)
        for _ in batch:
            try:
                self._pending_since.popleft()
            except IndexError:
                break


def _count(rows: Rows, counts: WriteCounts) -> None:
    """Update the message, record and dead-letter counters after a commit."""
    for (stream, result), n in rows.message_results.items():
        metrics.MESSAGES.labels(stream, result).inc(n)
    refused = Counter(r.topic.rsplit("/", 1)[-1] for r in counts.refused_reports)
    for stream, offered in rows.records_offered.items():
        stored = min(counts.stored.get(stream, 0), offered)
        conflicts = min(counts.conflicts.get(stream, 0), offered - stored)
        metrics.RECORDS.labels(stream, "stored").inc(stored)
        metrics.RECORDS.labels(stream, "duplicate").inc(max(0, offered - stored - conflicts - refused[stream]))
        if conflicts:
            metrics.RECORDS.labels(stream, "conflict").inc(conflicts)
    for suffix, n in rows.downlink_ignored.items():
        metrics.DOWNLINK_IGNORED.labels(suffix).inc(n)
    for stream, n in rows.unknown_fields.items():
        if n:
            metrics.UNKNOWN_FIELDS.labels(stream).inc(n)
    rejected_by_stream = Counter(d.stream for d in rows.dead_letters)
    rejected_by_stream.update(refused)
    for stream, n in rejected_by_stream.items():
        metrics.RECORDS.labels(stream, "rejected").inc(n)
    recorded = Counter(d.reason.value for d in rows.dead_letters)
    recorded.update(r.reason for r in counts.refused_reports)
    recorded.subtract(counts.retained_repeats)
    for reason, n in recorded.items():
        if n:
            metrics.DEAD_LETTERS.labels(reason).inc(n)
    for reason, n in counts.retained_repeats.items():
        metrics.RETAINED_REPEATS.labels(reason).inc(n)
    for (event_type, source), n in counts.events.items():
        metrics.EVENTS.labels(event_type, source).inc(n)
    metrics.DETECTION_RECOMPUTED.inc(counts.recomputed)
    for seconds in counts.command_delivery_seconds:
        metrics.COMMAND_DELIVERY.observe(seconds)
