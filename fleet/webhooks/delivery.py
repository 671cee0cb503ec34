"""Deliveries: claim the due ones, POST each to its webhook, record the answer with back-off, give up after a while.

A claim is a short transaction of its own that locks due deliveries (`FOR UPDATE SKIP LOCKED`, so workers share
them) and leases them: their `next_attempt_at` moves past the time the worker may take to send them all, and the
transaction commits before any request is made. No transaction or row lock is held while a receiver answers, and a
worker killed after its claim only delays those deliveries until the lease ends: another worker then sends them.
Each answer is recorded in a short transaction of its own right after it arrives. Delivery is therefore at least
once: a worker killed between a receiver's 2xx and that record sends the message again later (receivers
deduplicate by `Fleet-Event-Id`).
"""

import http.client
import json
import random
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session

from fleet.db.models import WebhookDelivery
from fleet.settings import WebhookSettings
from fleet.webhooks import repository, signing
from fleet.webhooks.repository import DEAD, DELIVERED, PENDING

# Beyond the sending itself: time to record the answers, and clocks of workers a little apart.
LEASE_MARGIN_SECONDS = 60.0
JITTER = 0.2
# Enough of an error answer to say what went wrong.
MAX_ERROR_LENGTH = 500
USER_AGENT = "fleet-webhooks/1"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for sending, with what the request needs."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    feed_id: int
    kind: str
    created_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Answer:
    """How a receiver answered: a 2xx, or the status or error of the failure."""

    delivered: bool
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """A delivery's state after an answer, and when it is tried next if it is still pending."""

    state: str
    next_attempt_at: datetime


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx: following it could lead the request anywhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# The standard handlers, proxies from the environment included (an egress proxy is a way to restrict targets).
_OPENER = urllib.request.build_opener(_NoRedirects)


def claim(session: Session, settings: WebhookSettings, now: datetime) -> list[Claimed]:
    """Lock and lease up to a batch of due deliveries in the caller's transaction, which is to commit before any
    of them is sent."""
    rows = repository.claim_due(session, now, settings.batch_size)
    # The worst case: every request of the batch, one after the other, waits for its timeout.
    lease_until = now + timedelta(seconds=settings.timeout_seconds * len(rows) + LEASE_MARGIN_SECONDS)
    claimed = []
    for delivery, webhook in rows:
        delivery.next_attempt_at = lease_until
        claimed.append(
            Claimed(
                delivery_id=delivery.id,
                webhook_id=webhook.id,
                url=webhook.url,
                secret=webhook.secret,
                feed_id=delivery.feed_id,
                kind=delivery.kind,
                created_at=delivery.created_at,
                payload=delivery.payload,
            )
        )
    session.flush()
    return claimed


def body(claimed: Claimed) -> bytes:
    """The JSON body of the request: the feed message's id, kind, time and payload."""
    message = {"id": claimed.feed_id, "kind": claimed.kind, "created_at": _iso(claimed.created_at)}
    return json.dumps(message | {"data": claimed.payload}, separators=(",", ":")).encode()


def send(claimed: Claimed, timeout: float, timestamp: int) -> Answer:
    """POST the delivery to its webhook, signed at `timestamp`; how the receiver answered (never raises)."""
    if urlsplit(claimed.url).scheme not in ("http", "https"):
        return Answer(False, error="not an http(s) URL")
    data = body(claimed)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    headers |= signing.headers(claimed.secret, claimed.feed_id, claimed.kind, data, timestamp)
    request = urllib.request.Request(claimed.url, data=data, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status: int = response.status
    except urllib.error.HTTPError as error:
        with error:
            text = error.read(MAX_ERROR_LENGTH).decode("utf-8", "replace")
        return Answer(False, error.code, f"HTTP {error.code} {error.reason}: {text}"[:MAX_ERROR_LENGTH])
    except (OSError, http.client.HTTPException, ValueError) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        return Answer(False, error=f"{type(reason).__name__}: {reason}"[:MAX_ERROR_LENGTH])
    if 200 <= status < 300:
        return Answer(True, status)
    return Answer(False, status, f"HTTP {status}")


def record(
    session: Session, claimed: Claimed, answer: Answer, settings: WebhookSettings, now: datetime
) -> Recorded | None:
    """Record `answer` in the caller's transaction: delivered, or retried after a back-off, or dead once the
    give-up time has passed; None when the delivery is no longer pending (its webhook deleted, or delivered by a
    worker that took it over)."""
    delivery = repository.lock_pending(session, claimed.delivery_id)
    if delivery is None:
        return None
    delivery.attempts += 1
    delivery.last_status, delivery.last_error = answer.status, answer.error
    if answer.delivered:
        delivery.state, delivery.delivered_at = DELIVERED, now
    else:
        give_up_at = delivery.created_at + timedelta(hours=settings.give_up_hours)
        if now >= give_up_at:
            delivery.state = DEAD
        else:
            # The last attempt is made at the give-up time itself.
            delivery.next_attempt_at = min(now + backoff(delivery.attempts, settings), give_up_at)
    session.flush()
    return Recorded(delivery.state, delivery.next_attempt_at)


def postpone(session: Session, claimed: list[Claimed], until: datetime) -> None:
    """Move still-pending `claimed` deliveries to `until` without an attempt (their receiver just failed)."""
    ids = [c.delivery_id for c in claimed]
    if ids:
        stmt = update(WebhookDelivery).where(WebhookDelivery.id.in_(ids), WebhookDelivery.state == PENDING)
        session.execute(stmt.values(next_attempt_at=until))


def backoff(attempts: int, settings: WebhookSettings) -> timedelta:
    """The wait after the `attempts`-th failure: the initial wait doubled per earlier failure up to the maximum,
    with +-20 % of jitter so that receivers coming back are not hit by every retry at once."""
    # 2**60 times any initial wait is past any maximum.
    wait = min(settings.backoff_initial_seconds * 2 ** min(attempts - 1, 60), settings.backoff_max_seconds)
    return timedelta(seconds=wait * random.uniform(1 - JITTER, 1 + JITTER))


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")
