"""Rules of tenancy: unique tenant names, random tokens stored only as their hash."""

import hashlib
import secrets

from sqlalchemy.orm import Session

from fleet.db.models import Tenant
from fleet.errors import Conflict, Invalid, NotFound
from fleet.tenancy import repository

TOKEN_PREFIX = "flt_"
MAX_NAME_LENGTH = 100


def hash_token(token: str) -> str:
    """SHA-256 hex digest under which a token is stored (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, tenant: Tenant) -> str:
    """Create a new token for `tenant` and return it; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    repository.add_token(session, tenant.id, hash_token(token))
    return token


def get_tenant(session: Session, name: str) -> Tenant:
    """The tenant called `name`."""
    tenant = repository.tenant_by_name(session, name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant


def create_tenant(session: Session, name: str) -> tuple[Tenant, str]:
    """Create a tenant and its first token."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise Invalid(f"tenant name must be 1 to {MAX_NAME_LENGTH} characters")
    if repository.tenant_by_name(session, name) is not None:
        raise Conflict(f"tenant {name!r} already exists")
    tenant = repository.add_tenant(session, name)
    return tenant, issue_token(session, tenant)


def tenant_for_token(session: Session, token: str) -> Tenant | None:
    """The tenant owning `token`, or None when no tenant does."""
    return repository.tenant_by_token_hash(session, hash_token(token))
