"""Rules of the audit log: every admin action is recorded in the transaction that does it, by the domain service."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from fleet.audit import repository
from fleet.db.models import AuditEntry

# Ids are signed 64-bit, as dead letters' are.
MAX_ID = 2**63 - 1
# Longest target and client address kept (token names are up to 100 characters, device ids up to 64, an IPv6
# address up to 45): longer values are cut rather than refused, so recording never fails an action.
MAX_TARGET_LENGTH = 200
MAX_ADDRESS_LENGTH = 64


class AuditAction(StrEnum):
    """The actions the log records: admin actions, every command and every download of a file."""

    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    VEHICLE_CREATE = "vehicle.create"
    VEHICLE_UPDATE = "vehicle.update"
    VEHICLE_DELETE = "vehicle.delete"
    CREDENTIALS_ISSUE = "vehicle.credentials.issue"
    CREDENTIALS_REVOKE = "vehicle.credentials.revoke"
    DEADLETTERS_REPLAY = "deadletters.replay"
    FILE_DOWNLOADED = "file.download"
    FILE_LEGAL_HOLD = "file.legal_hold"
    TACHOGRAPH_PERIODS = "tenant.tachograph_periods"
    COMMAND_CREATE = "command.create"
    COMMAND_CANCEL = "command.cancel"
    ALARM_ACKNOWLEDGE = "alarm.acknowledge"
    ALARM_CLOSE = "alarm.close"
    RULES_UPDATE = "tenant.event_rules"
    GEOFENCE_CHANGE = "geofence.change"
    WEBHOOK_CHANGE = "webhook.change"
    RETENTION_CHANGE = "tenant.retention"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an API token (its id and name) and the client's address, or the CLI."""

    name: str
    token_id: int | None = None
    address: str | None = None


# Actions of the `fleet` command: no token, no client address.
CLI = Actor(name="cli")


def record(
    session: Session,
    *,
    tenant_id: int | None,
    actor: Actor,
    action: AuditAction,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record an action in the caller's transaction (`tenant_id` None: an action across tenants, by the CLI)."""
    return repository.add_entry(
        session,
        tenant_id=tenant_id,
        token_id=actor.token_id,
        actor=actor.name,
        action=action.value,
        target=target[:MAX_TARGET_LENGTH] if target is not None else None,
        address=actor.address[:MAX_ADDRESS_LENGTH] if actor.address is not None else None,
        detail=detail or {},
    )


def entries(
    session: Session, *, tenant_id: int, limit: int, before_id: int | None = None, action: AuditAction | None = None
) -> Sequence[AuditEntry]:
    """Up to `limit` entries of a tenant, newest first: ids below `before_id`, of one `action`, if given."""
    return repository.newest(session, tenant_id, limit, before_id, action.value if action else None)
