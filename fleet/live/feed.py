"""The live feed: each tenant's messages for `GET /v1/stream` and the webhooks, written with the change they report.

A message is a row of `live_feed`, inserted in the transaction of the change, so a message exists exactly when its
change committed. On PostgreSQL the same transaction sends NOTIFY on CHANNEL with the tenant's id (delivered at
commit), which wakes the API replicas; on SQLite they poll. The worker prunes messages after
`FLEET_LIVE_RETENTION_SECONDS`, once the webhook fan-out has read them.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert

from fleet.db.models import LiveMessage, utcnow

CHANNEL = "fleet_live"


class Kind(StrEnum):
    """What a live message reports."""

    POSITION = "position"
    EVENT = "event"
    ALARM = "alarm"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class Message:
    """One message for a tenant's feed; `payload` is JSON-ready."""

    tenant_id: int
    kind: Kind
    payload: dict[str, Any]


def publish(connection: Connection, messages: Iterable[Message], now: datetime | None = None) -> None:
    """Add `messages` to the feed in the caller's transaction (and notify the listeners at its commit)."""
    created_at = now or utcnow()
    batch = list(messages)
    if not batch:
        return
    rows = [
        {"tenant_id": m.tenant_id, "kind": m.kind.value, "payload": m.payload, "created_at": created_at} for m in batch
    ]
    connection.execute(insert(LiveMessage), rows)
    if connection.dialect.name == "postgresql":
        for tenant_id in sorted({m.tenant_id for m in batch}):
            connection.exec_driver_sql("SELECT pg_notify(%s, %s)", (CHANNEL, str(tenant_id)))
