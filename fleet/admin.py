"""Tenants, API tokens and vehicle registration: the admin operations behind the CLI and the API."""

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.contract.topics import DEVICE_ID_PATTERN
from fleet.db.models import ApiToken, Tenant, Vehicle
from fleet.errors import Conflict, Invalid, NotFound

TOKEN_PREFIX = "flt_"


def hash_token(token: str) -> str:
    """SHA-256 hex digest under which a token is stored (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, tenant: Tenant) -> str:
    """Create a new token for `tenant` and return it; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(tenant_id=tenant.id, token_hash=hash_token(token)))
    return token


def get_tenant(session: Session, name: str) -> Tenant:
    """The tenant called `name`."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant


def create_tenant(session: Session, name: str) -> tuple[Tenant, str]:
    """Create a tenant and its first token."""
    if not name.strip() or len(name) > 100:
        raise Invalid("tenant name must be 1 to 100 characters")
    if session.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
        raise Conflict(f"tenant {name!r} already exists")
    tenant = Tenant(name=name)
    session.add(tenant)
    session.flush()
    return tenant, issue_token(session, tenant)


def add_vehicles(
    session: Session, tenant: Tenant, device_ids: Sequence[str], label: str | None = None, plate: str | None = None
) -> list[Vehicle]:
    """Register devices for `tenant`; a device already registered to another tenant is refused."""
    invalid = [d for d in device_ids if not DEVICE_ID_PATTERN.fullmatch(d)]
    if invalid:
        raise Invalid(f"invalid device id {invalid[0]!r}: use 1-64 of A-Z a-z 0-9 _ -")
    existing = {v.device_id: v for v in session.scalars(select(Vehicle).where(Vehicle.device_id.in_(device_ids)))}
    foreign = [d for d, v in existing.items() if v.tenant_id != tenant.id]
    if foreign:
        raise Conflict(f"device {foreign[0]!r} is registered to another tenant")
    vehicles = []
    for device_id in dict.fromkeys(device_ids):
        vehicle = existing.get(device_id) or Vehicle(tenant_id=tenant.id, device_id=device_id)
        if label is not None:
            vehicle.label = label
        if plate is not None:
            vehicle.plate = plate
        session.add(vehicle)
        vehicles.append(vehicle)
    session.flush()
    return vehicles
