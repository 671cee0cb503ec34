"""The live feed: each tenant's messages for `GET /v1/stream` and the webhooks, written with the change they report.

A message is a row of `live_feed`, inserted in the transaction of the change, so a message exists exactly when its
change committed. On PostgreSQL the same transaction sends NOTIFY on CHANNEL with the tenant's id (delivered at
commit), which wakes the API replicas; on SQLite they poll. The worker prunes messages after
`FLEET_LIVE_RETENTION_SECONDS`, once the webhook fan-out has read them.
"""

import json
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


# On PostgreSQL a batch of messages is one statement with arrays bound in binary: an executemany of a few hundred
# rows costs several times as much, and a text array literal escapes each quote of the payloads. WITH ORDINALITY
# keeps the ids in the order of the messages.
INSERT_MESSAGES = (
    "INSERT INTO live_feed (tenant_id, kind, payload, created_at) "
    "SELECT m.tenant_id, m.kind, m.payload, %b FROM unnest(%b::int[], %b::text[], %b::json[]) "
    "WITH ORDINALITY AS m(tenant_id, kind, payload, n) ORDER BY m.n"
)
NOTIFY_TENANTS = "SELECT pg_notify(%s, t::text) FROM unnest(%b::int[]) AS t ORDER BY t"


def publish(connection: Connection, messages: Iterable[Message], now: datetime | None = None) -> None:
    """Add `messages` to the feed in the caller's transaction (and notify the listeners at its commit)."""
    created_at = now or utcnow()
    batch = list(messages)
    if not batch:
        return
    if connection.dialect.name != "postgresql":
        rows = [
            {"tenant_id": m.tenant_id, "kind": m.kind.value, "payload": m.payload, "created_at": created_at}
            for m in batch
        ]
        connection.execute(insert(LiveMessage), rows)
        return
    columns = [m.tenant_id for m in batch], [m.kind.value for m in batch], [json.dumps(m.payload) for m in batch]
    connection.exec_driver_sql(INSERT_MESSAGES, (created_at, *columns))
    connection.exec_driver_sql(NOTIFY_TENANTS, (CHANNEL, sorted(set(columns[0]))))
