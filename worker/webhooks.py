"""The worker's webhook step, once per pass: fan the new live-feed messages out, then send the due deliveries.

Each fan-out round, each claim and each answer is a transaction of its own (`fleet.webhooks.delivery` says why).
Webhooks are sent to in parallel, a few at a time, so a slow receiver holds up only its own deliveries; a webhook's
deliveries go one after the other in feed order, and after a failure the rest of its batch waits for the failed
one's next attempt instead of each waiting for the same receiver's timeout.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import utcnow
from fleet.settings import WebhookSettings
from fleet.webhooks import delivery, fanout, repository
from fleet.webhooks.delivery import Claimed
from fleet.webhooks.repository import DEAD, PENDING
from worker import metrics

logger = logging.getLogger(__name__)

# Messages per fan-out transaction, and rounds per pass: up to 20,000 messages a pass before the deliveries.
FANOUT_ROWS = 1000
FANOUT_ROUNDS = 20
# Receivers sent to at once.
PARALLEL_WEBHOOKS = 8
# No request starts later than this into the sending, so a pass with slow receivers still ends within the 30 s
# termination grace period (this plus the longest timeout, 20 s); what is left is due again at once.
SEND_BUDGET_SECONDS = 10.0
# The pending gauge counts rows: at most this often.
GAUGE_EVERY_SECONDS = 10.0


class WebhookStep:
    """Fan-out and deliveries, for the worker loop (`run` once per pass)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: WebhookSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self._gauge_at = -GAUGE_EVERY_SECONDS
        self._send_until = 0.0

    def run(self) -> None:
        """Fan out, then send one batch of due deliveries and record the answers."""
        self.fan_out()
        with self.sessions() as session:
            claimed = delivery.claim(session, self.settings, self.clock())
            session.commit()
        by_webhook: dict[int, list[Claimed]] = defaultdict(list)
        for item in sorted(claimed, key=lambda c: c.feed_id):
            by_webhook[item.webhook_id].append(item)
        self._send_until = time.monotonic() + SEND_BUDGET_SECONDS
        if by_webhook:
            with ThreadPoolExecutor(min(PARALLEL_WEBHOOKS, len(by_webhook)), "webhook") as pool:
                list(pool.map(self._send_in_order, by_webhook.values()))
        if time.monotonic() - self._gauge_at >= GAUGE_EVERY_SECONDS:
            with self.sessions() as session:
                metrics.WEBHOOK_PENDING.set(repository.count_pending(session))
            self._gauge_at = time.monotonic()

    def fan_out(self) -> None:
        """Fan out the feed's new messages, a round per transaction, until caught up (or the rounds are used)."""
        for _ in range(FANOUT_ROUNDS):
            with self.sessions() as session:
                done = fanout.fan_out(session, self.clock(), FANOUT_ROWS)
                session.commit()
            if done.read < FANOUT_ROWS:
                return

    def _send_in_order(self, batch: list[Claimed]) -> None:
        for index, item in enumerate(batch):
            if time.monotonic() > self._send_until:
                self._postpone(batch[index:], self.clock())
                return
            answer = delivery.send(item, self.settings.timeout_seconds, int(time.time()))
            with self.sessions() as session:
                recorded = delivery.record(session, item, answer, self.settings, self.clock())
                session.commit()
            if recorded is None:
                continue
            result = "failed" if recorded.state == PENDING else recorded.state
            metrics.WEBHOOK_DELIVERIES.labels(result).inc()
            if answer.delivered:
                continue
            logger.info("webhook %s: delivery %s failed: %s", item.webhook_id, item.delivery_id, answer.error)
            self._postpone(batch[index + 1 :], self.clock() if recorded.state == DEAD else recorded.next_attempt_at)
            return

    def _postpone(self, rest: list[Claimed], until: datetime) -> None:
        with self.sessions() as session:
            delivery.postpone(session, rest, until)
            session.commit()
