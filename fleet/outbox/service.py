"""Rules of the outbox: what may be queued for a unit, which messages a dispatcher may send now, and in what order.

- `enqueue` writes a message in the caller's transaction (an API request's, with the command it belongs to) and
  never publishes: only the dispatcher publishes downlink. On PostgreSQL it also notifies the dispatchers, which
  PostgreSQL delivers at commit and drops on a rollback.
- A message is sent while it is *due* (pending, `not_before` reached, `expires_at` not reached) and its vehicle is
  online (`vehicle_state.online`, which ingest keeps from the unit's retained status). Until then it is held; once
  `expires_at` passes it is expired and never sent.
- Each vehicle's due messages go in id order: `claim` takes a vehicle only with its first due message, locked with
  `FOR UPDATE SKIP LOCKED`, so several dispatchers never hold one vehicle (or one row) at once.
- At least once: the dispatcher marks a message sent only after the broker acknowledged it; a crash in between sends
  it again. The unit drops a repeat by the message id (the MQTT v5 user property `MESSAGE_ID_PROPERTY`).
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from fleet.contract.topics import DOWNLINK_SUFFIXES, TopicError, downlink_topic
from fleet.db.models import OutboxMessage, Vehicle, utcnow
from fleet.errors import Conflict, Invalid, NotFound
from fleet.outbox import repository

# Well under the broker's largest packet (1 MiB in the shipped mosquitto.conf) and the size ingest accepts uplink.
MAX_PAYLOAD_BYTES = 256 * 1024
# A message waits at most this long for its vehicle: a downlink older than a month is stale, and every pending row
# costs the dispatcher's claim a little.
MAX_LIFETIME = timedelta(days=30)
# Longest text kept in `last_error`.
MAX_ERROR_LENGTH = 2000
# Ids are signed 64-bit: a larger one would overflow the database's integer instead of matching nothing.
MAX_ID = 2**63 - 1
# The MQTT v5 user property carrying the message's outbox id, by which a unit drops a message it received before.
MESSAGE_ID_PROPERTY = "fleet-message-id"


class OutboxState(StrEnum):
    """Where a message is: waiting, acknowledged by the broker, expired before it could be sent, or cancelled."""

    PENDING = "pending"
    SENT = "sent"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a dispatcher holds: its row is locked until the dispatcher's transaction ends."""

    id: int
    vehicle_id: int
    device_id: str
    suffix: str
    payload: bytes
    expires_at: datetime

    @property
    def topic(self) -> str:
        """Where it is published: fleet/v1/{device_id}/{suffix}."""
        return downlink_topic(self.device_id, self.suffix)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Pending messages (held ones included), and how long the oldest sendable one has been due."""

    pending: int
    oldest_due_age_seconds: float


def enqueue(
    session: Session,
    vehicle: Vehicle,
    suffix: str,
    payload: bytes | Mapping[str, Any],
    expires_at: datetime,
    *,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Queue `payload` for `vehicle`'s unit on fleet/v1/{device_id}/{suffix}, in the caller's transaction.

    `payload` is bytes, or a mapping sent as compact UTF-8 JSON. The message is sent once the vehicle is online and
    `not_before` (default now) has come, and never after `expires_at` (timezone-aware, within MAX_LIFETIME).
    """
    try:
        downlink_topic(vehicle.device_id, suffix)
    except TopicError as error:
        raise Invalid(f"{error}: downlink suffixes are {', '.join(DOWNLINK_SUFFIXES)}") from None
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise Invalid(f"a downlink payload is at most {MAX_PAYLOAD_BYTES} bytes, not {len(body)}")
    now = utcnow()
    start = now if not_before is None else not_before
    for name, value in (("expires_at", expires_at), ("not_before", start)):
        if value.tzinfo is None:
            raise Invalid(f"{name} must carry a time zone")
    if expires_at <= max(now, start):
        raise Invalid("expires_at must be after now and after not_before")
    if expires_at - now > MAX_LIFETIME:
        raise Invalid(f"expires_at is at most {MAX_LIFETIME.days} days ahead")
    message = OutboxMessage(
        tenant_id=vehicle.tenant_id,
        vehicle_id=vehicle.id,
        suffix=suffix,
        payload=body,
        created_at=now,
        not_before=start,
        expires_at=expires_at,
        state=OutboxState.PENDING.value,
        attempts=0,
    )
    repository.add(session, message)
    repository.notify(session)
    return message


def claim(session: Session, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Lock up to `limit` due messages of online vehicles for the caller's transaction, in id order.

    Vehicles whose first due message another transaction holds are skipped whole (`FOR UPDATE SKIP LOCKED` on
    PostgreSQL), so each vehicle's messages stay in order however many dispatchers run. On SQLite nothing is locked:
    one dispatcher runs there.
    """
    now = now or utcnow()
    heads = repository.claim_heads(session, now, limit)
    if not heads:
        return []
    devices = {message.vehicle_id: device_id for message, device_id in heads}
    followers = repository.claim_followers(session, [message for message, _ in heads], now, limit - len(heads))
    messages = sorted([*(message for message, _ in heads), *followers], key=lambda message: message.id)
    return [
        Claimed(m.id, m.vehicle_id, devices[m.vehicle_id], m.suffix, bytes(m.payload), m.expires_at) for m in messages
    ]


def message_expiry_seconds(expires_at: datetime, now: datetime) -> int:
    """The MQTT v5 Message Expiry Interval of a message published at `now`: the seconds it has left, rounded up
    (0: none left, do not publish)."""
    return max(0, math.ceil((expires_at - now).total_seconds()))


def mark_sent(session: Session, ids: Sequence[int], now: datetime | None = None) -> None:
    """The broker acknowledged these messages: sent (one more attempt each)."""
    if ids:
        repository.mark_sent(session, ids, now or utcnow())


def record_failure(session: Session, ids: Sequence[int], error: str) -> None:
    """Publishing these messages failed (no acknowledgement, refused): one more attempt each, still pending."""
    if ids:
        repository.record_failure(session, ids, error[:MAX_ERROR_LENGTH])


def mark_expired(session: Session, now: datetime | None = None) -> int:
    """Expire pending messages whose `expires_at` has passed (they are never sent); returns how many.

    Rows another transaction holds are left for a later call, so this never waits for a dispatcher's publish.
    """
    return repository.expire(session, now or utcnow())


def cancel(session: Session, tenant_id: int, message_id: int) -> OutboxMessage:
    """Cancel the tenant's pending message `message_id` in the caller's transaction: it will not be sent.

    NotFound for an unknown id or another tenant's message; Conflict when it was sent, expired or cancelled
    already, or a dispatcher is publishing it right now (it is sent, or pending again, a moment later).
    """
    if not 1 <= message_id <= MAX_ID:
        raise NotFound(f"no downlink message {message_id}")
    message = repository.of_tenant(session, tenant_id, message_id, lock=True)
    if message is None:
        if repository.of_tenant(session, tenant_id, message_id, lock=False) is None:
            raise NotFound(f"no downlink message {message_id}")
        raise Conflict(f"downlink message {message_id} is being published right now")
    if message.state != OutboxState.PENDING:
        raise Conflict(f"downlink message {message_id} is {message.state} already")
    message.state = OutboxState.CANCELLED.value
    session.flush()
    return message


def backlog(session: Session, now: datetime | None = None) -> Backlog:
    """The pending count and the age of the oldest message that could be sent now (0 when none waits)."""
    now = now or utcnow()
    oldest = repository.oldest_deliverable(session, now)
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    return Backlog(repository.pending_count(session), age)
