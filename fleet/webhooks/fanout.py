"""The fan-out: each live-feed message becomes a pending delivery to every active webhook of its tenant it matches.

One transaction reads the messages after the `cursors` row "webhooks" in id order, adds the deliveries and moves
the cursor, so a message is fanned out exactly once (a repeat would be ignored by the (webhook, feed id) key).

Ids are drawn when a row is inserted but become visible when its transaction commits, so a lower id can appear
after a higher one: reading past a gap could skip a message whose transaction is still open. The cursor therefore
passes a message only when its id follows the cursor's directly (nothing can still appear in between), or when it
was written more than SETTLE ago, by which time a transaction open over the gap has committed or rolled back
(transactions writing the feed take well under a second; the margin also covers clocks of hosts a little apart).
Gaps left by rolled-back transactions thus delay the webhooks by SETTLE at most, and nothing is skipped.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fleet.contract.events import SEVERITIES
from fleet.db.models import LiveMessage, Webhook
from fleet.live.feed import Kind
from fleet.webhooks import repository
from fleet.webhooks.repository import PENDING

CURSOR = "webhooks"
SETTLE = timedelta(seconds=10)
# The filters on type and severity apply to the messages that have them.
FILTERED_KINDS = frozenset({Kind.EVENT.value, Kind.ALARM.value})


@dataclass(frozen=True, slots=True)
class FanOut:
    """What a round did: messages passed and deliveries added."""

    read: int
    added: int


def matches(webhook: Webhook, message: LiveMessage) -> bool:
    """Whether `webhook` wants `message`: its tenant's, of its kinds, written after it, and for an event or alarm of
    its types (if it names any) and at least its severity."""
    if message.tenant_id != webhook.tenant_id or message.kind not in webhook.kinds:
        return False
    if message.created_at < webhook.created_at:
        return False
    if message.kind not in FILTERED_KINDS:
        return True
    if webhook.event_types and message.payload.get("type") not in webhook.event_types:
        return False
    return _rank(message.payload.get("severity")) >= _rank(webhook.min_severity)


def fan_out(session: Session, now: datetime, limit: int, settle: timedelta = SETTLE) -> FanOut:
    """Fan out up to `limit` messages after the cursor in the caller's transaction; none while another worker's
    transaction holds the cursor."""
    position = repository.lock_cursor(session, CURSOR)
    if position is None:
        return FanOut(0, 0)
    passed: list[LiveMessage] = []
    for message in repository.feed_after(session, position, limit):
        if message.id != position + 1 and message.created_at > now - settle:
            break
        passed.append(message)
        position = message.id
    if not passed:
        return FanOut(0, 0)
    webhooks = repository.active_of_tenants(session, {m.tenant_id for m in passed})
    rows = [_delivery(webhook, message) for message in passed for webhook in webhooks if matches(webhook, message)]
    repository.add_deliveries(session, rows)
    repository.move_cursor(session, CURSOR, position, now)
    return FanOut(len(passed), len(rows))


def _delivery(webhook: Webhook, message: LiveMessage) -> dict[str, Any]:
    # The message's own time: the body's `created_at`, and where the give-up clock starts.
    return {
        "webhook_id": webhook.id, "tenant_id": webhook.tenant_id, "feed_id": message.id, "kind": message.kind,
        "payload": message.payload, "state": PENDING, "attempts": 0, "next_attempt_at": message.created_at,
        "created_at": message.created_at,
    }  # fmt: skip


def _rank(severity: object) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
