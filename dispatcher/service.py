"""The dispatcher loop: expire, claim a batch, publish it vehicle by vehicle, mark what the broker acknowledged.

One pass, in one transaction on PostgreSQL:

1. claim up to `batch_size` due messages of online vehicles (`fleet.outbox.service.claim`: each vehicle's first due
   message with `FOR UPDATE SKIP LOCKED`, then the ones after it), so other dispatchers skip these vehicles;
2. publish in rounds: the first message of every claimed vehicle, wait for the PUBACKs, then the second, ... A
   vehicle whose message was not acknowledged sends nothing more in this pass, so its messages never overtake;
3. mark the acknowledged messages sent (and the commands they carry), count an attempt on the others (still
   pending), expire what has passed its `expires_at` (also a claimed message whose time ran out before its turn,
   and commands not delivered in time), and commit.

At least once: a crash after a PUBACK and before the commit leaves the message pending, and it is sent again; the
unit drops the repeat by its message id. On SQLite (one dispatcher, `fleet up`) the claim's read transaction ends
before publishing, since SQLite cannot turn a read transaction into a write once ingest has committed meanwhile.

Dead letters whose replay was requested (through the API, which never publishes inside a request) go in the same
pass: published on their original uplink topics, marked replayed once the broker acknowledged them.

It sleeps `poll_interval_seconds` between passes, or less: a full batch, a notification (`OutboxListener`, on
PostgreSQL) or a reconnection to the broker starts the next pass at once.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dispatcher import metrics
from dispatcher.mqtt_publisher import DownlinkClient, Outgoing
from dispatcher.wakeup import OutboxListener
from fleet.commands import service as commands
from fleet.contract.topics import TopicError
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import utcnow
from fleet.db.readiness import DatabaseReadiness, SchemaMismatch
from fleet.deadletters import service as deadletters
from fleet.health import HealthServer
from fleet.outbox import service as outbox
from fleet.outbox.service import Claimed
from fleet.settings import DispatcherSettings, SharedSettings

logger = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0
# How often a sleeping dispatcher looks at its stop event.
STOP_CHECK_SECONDS = 0.2
# The backlog gauges are refreshed at most this often (two indexed queries).
GAUGES_EVERY_SECONDS = 1.0


@dataclass(slots=True)
class PassResult:
    """What one pass did."""

    claimed: int = 0
    sent: int = 0
    replayed: int = 0
    failed: int = 0
    expired: int = 0


def default_client_id() -> str:
    """Host name (the pod's) plus a random part: replicas, and `fleet up` beside a dispatcher, never collide."""
    return f"fleet-dispatcher-{socket.gethostname()[:30]}-{uuid.uuid4().hex[:6]}"


class DispatcherService:
    """Publishes the downlink outbox; nothing is marked sent before the broker acknowledged it."""

    def __init__(self, shared: SharedSettings, settings: DispatcherSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(shared.database_url)
        self.sessions = make_session_factory(self.engine)
        self._release_before_publish = self.engine.dialect.name == "sqlite"
        self._wake = threading.Event()
        self.client = DownlinkClient(
            shared.mqtt_endpoint(),
            default_client_id(),
            protocol_v5=settings.mqtt_protocol != "3.1.1",
            on_connected=self._wake.set,
        )
        self.listener = (
            OutboxListener(shared.database_url, self._wake) if self.engine.dialect.name == "postgresql" else None
        )
        self.health = HealthServer(
            settings.http_host, settings.http_port, self.not_ready_reason, name="dispatcher-http"
        )
        self.database = DatabaseReadiness("dispatcher", metrics.DATABASE_READY, "Nothing was marked sent.")
        self._gauges_at = 0.0

    def run(self, stop: threading.Event) -> None:
        """Dispatch until `stop` is set; a pass under way finishes first (bounded by the ack timeout)."""
        self.health.start()
        self.client.start()
        if self.listener:
            self.listener.start()
        logger.info("dispatcher running (pid %s); health and metrics on port %s", os.getpid(), self.health.port)
        delay = RETRY_FIRST_SECONDS
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    result = self.dispatch_once()
                except SchemaMismatch:
                    raise
                except Exception as error:
                    self.database.failed(error)
                    logger.warning("dispatch pass failed, retrying in %.1fs: %s", delay, error)
                    stop.wait(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
                    continue
                delay = RETRY_FIRST_SECONDS
                if result.claimed < self.settings.batch_size or result.failed:
                    self._sleep(stop)
        finally:
            if self.listener:
                self.listener.stop()
            self.client.stop()
            self.health.stop()
            logger.info("dispatcher stopped")

    def not_ready_reason(self) -> str | None:
        """Why this instance cannot dispatch, or None when it is ready."""
        if self.database.schema_problem:
            return self.database.schema_problem
        if not self.client.connected:
            return self.client.refusal or "not connected to the MQTT broker"
        if not self.database.ready:
            return "database unreachable"
        return None

    def dispatch_once(self) -> PassResult:
        """One pass: expire, then claim, publish and mark one batch (nothing is claimed while the broker is away)."""
        result = PassResult()
        with self.sessions() as session:
            result.expired += outbox.mark_expired(session)
            commands.expire(session, utcnow())
            session.commit()
            if self.client.connected:
                self._send_batch(session, result)
            if self.client.connected:
                self._replay_batch(session, result)
        self.database.succeeded()
        metrics.MESSAGES.labels("sent").inc(result.sent)
        metrics.MESSAGES.labels("failed").inc(result.failed)
        metrics.MESSAGES.labels("expired").inc(result.expired)
        self._refresh_gauges()
        return result

    def _send_batch(self, session: Session, result: PassResult) -> None:
        claimed = outbox.claim(session, self.settings.batch_size)
        result.claimed = len(claimed)
        if not claimed:
            session.commit()
            return
        if self._release_before_publish:
            session.commit()
        sent, failures = self._publish(claimed)
        now = utcnow()
        outbox.mark_sent(session, sent, now)
        commands.mark_sent(session, sent, now)
        for error, ids in failures.items():
            outbox.record_failure(session, ids, error)
        # Also the claimed messages whose time ran out before their turn: they were not published.
        result.expired += outbox.mark_expired(session)
        commands.expire(session, now)
        session.commit()
        result.sent = len(sent)
        result.failed = sum(len(ids) for ids in failures.values())
        if failures:
            logger.warning(
                "%d downlink messages not acknowledged, kept pending: %s", result.failed, next(iter(failures))
            )

    def _replay_batch(self, session: Session, result: PassResult) -> None:
        """Publish dead letters whose replay was requested, on their original uplink topics, and mark them."""
        letters = deadletters.claim_replays(session, self.settings.batch_size)
        if not letters:
            session.commit()
            return
        repeats_seen = {letter.id: letter.repeat_count for letter in letters}
        outgoing = [Outgoing(letter.id, letter.topic, bytes(letter.payload), None) for letter in letters]
        if self._release_before_publish:
            session.commit()
        errors = self.client.publish(outgoing, self.settings.ack_timeout_seconds)
        published = [letter for letter in letters if letter.id in errors and errors[letter.id] is None]
        deadletters.mark_replayed(session, published, repeats_seen)
        session.commit()
        result.replayed = len(published)
        metrics.REPLAYED.labels("published").inc(len(published))
        metrics.REPLAYED.labels("failed").inc(len(letters) - len(published))
        if len(published) < len(letters):
            logger.warning("%d dead-letter replays not acknowledged, kept requested", len(letters) - len(published))

    def _publish(self, claimed: list[Claimed]) -> tuple[list[int], dict[str, list[int]]]:
        """Publish in rounds, one message per vehicle each, in id order; returns the acknowledged ids and, by
        error, the ids that failed. A vehicle stops at its first failure; a message out of time is skipped."""
        queues: dict[int, deque[Claimed]] = {}
        for message in claimed:
            queues.setdefault(message.vehicle_id, deque()).append(message)
        vehicles = {message.id: message.vehicle_id for message in claimed}
        sent: list[int] = []
        failures: dict[str, list[int]] = {}
        while queues and self.client.connected:
            now = utcnow()
            round_: list[Outgoing] = []
            for vehicle_id, queue in list(queues.items()):
                while queue:
                    message = queue.popleft()
                    expiry = outbox.message_expiry_seconds(message.expires_at, now)
                    if expiry == 0:
                        continue
                    try:
                        round_.append(Outgoing(message.id, message.topic, message.payload, expiry))
                    except TopicError as bad_topic:
                        # A row not written by enqueue: it holds back its vehicle until it expires, nothing else.
                        failures.setdefault(f"cannot be published: {bad_topic}", []).append(message.id)
                        queue.clear()
                    break
                if not queue:
                    del queues[vehicle_id]
            if not round_:
                break
            for message_id, error in self.client.publish(round_, self.settings.ack_timeout_seconds).items():
                if error is None:
                    sent.append(message_id)
                else:
                    failures.setdefault(error, []).append(message_id)
                    queues.pop(vehicles[message_id], None)
        return sent, failures

    def _sleep(self, stop: threading.Event) -> None:
        """Until the poll interval passed, a notification or reconnection woke us, or `stop` is set."""
        deadline = time.monotonic() + self.settings.poll_interval_seconds
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._wake.wait(min(remaining, STOP_CHECK_SECONDS)):
                return

    def _refresh_gauges(self) -> None:
        if time.monotonic() - self._gauges_at < GAUGES_EVERY_SECONDS:
            return
        with self.sessions() as session:
            backlog = outbox.backlog(session)
        metrics.PENDING.set(backlog.pending)
        metrics.OLDEST_PENDING_AGE.set(backlog.oldest_due_age_seconds)
        self._gauges_at = time.monotonic()
