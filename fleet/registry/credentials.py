"""Broker credentials of the vehicles' units: issued at registration, rotated, revoked.

The secret is random, shown once, and kept only as the broker's own salted hash, so the broker's
configuration can be rebuilt from the database (`fleet broker bootstrap`). The broker learns each change at
once through a `CredentialBroker` (Mosquitto's dynamic-security plugin); when it cannot, the change fails and
the caller's transaction rolls back, so database and broker never disagree about who may connect.
"""

import secrets
from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, record
from fleet.db.models import Vehicle, utcnow
from fleet.mqtt.dynsec import PasswordHash, hash_password
from fleet.registry import repository

# 192 random bits, URL-safe: easy to paste into a unit's configuration, impossible to guess.
SECRET_BYTES = 24


class CredentialBroker(Protocol):
    """The broker's side of credentials."""

    def provision_vehicles(self, passwords: Mapping[str, str]) -> None:
        """Let each device connect with its password (and only as itself)."""

    def revoke_vehicles(self, device_ids: Sequence[str]) -> None:
        """Refuse these devices from now on and disconnect them."""


def issue_credentials(
    session: Session, broker: CredentialBroker, vehicles: Sequence[Vehicle], *, actor: Actor = CLI
) -> dict[str, str]:
    """New secrets for `vehicles` (replacing any earlier ones); device id -> secret, to be shown once."""
    passwords = {vehicle.device_id: secrets.token_urlsafe(SECRET_BYTES) for vehicle in vehicles}
    existing = repository.credentials_of(session, [vehicle.id for vehicle in vehicles])
    now = utcnow()
    for vehicle in vehicles:
        secret_hash = hash_password(passwords[vehicle.device_id]).encoded()
        credential = existing.get(vehicle.id) or repository.add_credential(session, vehicle.id, secret_hash)
        credential.secret_hash, credential.issued_at, credential.revoked_at = secret_hash, now, None
        record(
            session,
            tenant_id=vehicle.tenant_id,
            actor=actor,
            action=AuditAction.CREDENTIALS_ISSUE,
            target=vehicle.device_id,
            detail={"rotated": vehicle.id in existing},
        )
    session.flush()
    broker.provision_vehicles(passwords)
    return passwords


def revoke_credentials(
    session: Session, broker: CredentialBroker, vehicles: Sequence[Vehicle], *, actor: Actor = CLI
) -> None:
    """Refuse these vehicles' units on the broker from now on."""
    existing = repository.credentials_of(session, [vehicle.id for vehicle in vehicles])
    now = utcnow()
    for credential in existing.values():
        credential.revoked_at = now
    for vehicle in vehicles:
        record(
            session,
            tenant_id=vehicle.tenant_id,
            actor=actor,
            action=AuditAction.CREDENTIALS_REVOKE,
            target=vehicle.device_id,
        )
    session.flush()
    broker.revoke_vehicles([vehicle.device_id for vehicle in vehicles])


def active_credentials(session: Session) -> dict[str, PasswordHash]:
    """Device id -> stored hash of every credential not revoked: what a rebuilt broker must know."""
    return {device_id: PasswordHash.decode(h) for device_id, h in repository.active_credentials(session)}
