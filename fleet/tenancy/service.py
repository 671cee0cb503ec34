"""Rules of tenancy: unique tenant names; named, role-bearing tokens, random and stored only as their hash."""

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, record
from fleet.db.models import ApiToken, Tenant, utcnow
from fleet.errors import Conflict, Invalid, NotFound
from fleet.tenancy import repository
from fleet.tenancy.roles import Role

TOKEN_PREFIX = "flt_"
MAX_NAME_LENGTH = 100
# Token names: what `fleet token revoke` and the audit log show. Never only digits, so a name is never an id.
TOKEN_NAME_REGEX = r"[A-Za-z0-9._-]*[A-Za-z._-][A-Za-z0-9._-]*"
TOKEN_NAME_PATTERN = re.compile(TOKEN_NAME_REGEX)
MAX_TOKEN_NAME_LENGTH = 100
TOKEN_ID_PATTERN = re.compile(r"[0-9]{1,10}")
MAX_TOKEN_ID = 2**31 - 1  # ids are 32-bit integers
INITIAL_TOKEN_NAME = "initial-admin"
MAX_TOKEN_LIFETIME = timedelta(days=3650)
# `last_used_at` is written at most this often per token, so a busy token does not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """SHA-256 hex digest under which a token is stored (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenUse(Protocol):
    """The parts of a stored token that say whether it may be used: a row, or a copy of one."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def last_used_at(self) -> datetime | None: ...


def token_name(token: TokenUse) -> str:
    """The token's name; a token inserted by a release without names (after a rollback) is "token-<id>"."""
    return token.name or f"token-{token.id}"


def token_role(token: ApiToken) -> Role:
    """The token's role (the database allows no other values)."""
    return Role(token.role)


def get_tenant(session: Session, name: str) -> Tenant:
    """The tenant called `name`."""
    tenant = repository.tenant_by_name(session, name)
    if tenant is None:
        raise NotFound(f"no tenant named {name!r}")
    return tenant


def create_tenant(session: Session, name: str, *, actor: Actor = CLI) -> tuple[Tenant, str]:
    """Create a tenant and its first token, an admin token named "initial-admin"; returns the token once."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise Invalid(f"tenant name must be 1 to {MAX_NAME_LENGTH} characters")
    if repository.tenant_by_name(session, name) is not None:
        raise Conflict(f"tenant {name!r} already exists")
    tenant = repository.add_tenant(session, name)
    _, secret = create_token(session, tenant.id, name=INITIAL_TOKEN_NAME, role=Role.ADMIN, actor=actor)
    return tenant, secret


def create_token(
    session: Session,
    tenant_id: int,
    *,
    name: str,
    role: Role,
    expires_in: timedelta | None = None,
    actor: Actor = CLI,
) -> tuple[ApiToken, str]:
    """Create a token of the tenant and return it with its secret, which is shown once: only its hash is stored."""
    if len(name) > MAX_TOKEN_NAME_LENGTH or not TOKEN_NAME_PATTERN.fullmatch(name):
        raise Invalid(f"invalid token name {name[:100]!r}: use 1-100 of A-Z a-z 0-9 . _ -, not only digits")
    if expires_in is not None and not timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME:
        raise Invalid(f"a token expires within 1 second to {MAX_TOKEN_LIFETIME.days} days")
    if repository.token_by_name(session, tenant_id, name) is not None:
        raise Conflict(f"a token named {name!r} already exists (a revoked token keeps its name)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + expires_in if expires_in is not None else None
    token = repository.add_token(session, tenant_id, hash_token(secret), name, Role(role).value, expires_at)
    expiry = expires_at.isoformat().replace("+00:00", "Z") if expires_at else None  # as the API writes timestamps
    detail = {"token_id": token.id, "role": token.role, "expires_at": expiry}
    record(session, tenant_id=tenant_id, actor=actor, action=AuditAction.TOKEN_CREATE, target=name, detail=detail)
    return token, secret


def tokens(session: Session, tenant_id: int) -> Sequence[ApiToken]:
    """Every token of the tenant, revoked and expired ones included, oldest first."""
    return repository.tokens_of(session, tenant_id)


def find_token(session: Session, tenant_id: int, token_id: int) -> ApiToken:
    """The tenant's token `token_id`; NotFound when unknown or another tenant's."""
    token = repository.token_of_tenant(session, tenant_id, token_id) if 1 <= token_id <= MAX_TOKEN_ID else None
    if token is None:
        raise NotFound(f"no token {token_id}")
    return token


def find_token_by_name_or_id(session: Session, tenant_id: int, name_or_id: str) -> ApiToken:
    """The tenant's token called `name_or_id`, or with that id when it is a number (names never are)."""
    if TOKEN_ID_PATTERN.fullmatch(name_or_id):
        return find_token(session, tenant_id, int(name_or_id))
    token = repository.token_by_name(session, tenant_id, name_or_id)
    if token is None:
        raise NotFound(f"no token named {name_or_id[:100]!r}")
    return token


def revoke_token(session: Session, tenant_id: int, token_id: int, *, actor: Actor = CLI) -> ApiToken:
    """Revoke the tenant's token `token_id` from now on; revoking it again changes (and records) nothing."""
    token = find_token(session, tenant_id, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        name = token_name(token)
        record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action=AuditAction.TOKEN_REVOKE,
            target=name,
            detail={"token_id": token.id, "role": token.role},
        )
    return token


def token_for_secret(session: Session, secret: str) -> ApiToken | None:
    """The token whose secret is `secret` (revoked and expired ones included), or None when no tenant has it."""
    return repository.token_by_hash(session, hash_token(secret))


def refusal(token: TokenUse, now: datetime) -> str | None:
    """Why `token` may not be used at `now` (revoked, expired), or None when it may."""
    if token.revoked_at is not None:
        return f"token {token_name(token)!r} was revoked at {token.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
    if token.expires_at is not None and token.expires_at <= now:
        return f"token {token_name(token)!r} expired at {token.expires_at:%Y-%m-%dT%H:%M:%SZ}"
    return None


def use_is_due(token: TokenUse, now: datetime) -> bool:
    """Whether a use of `token` at `now` should be written (at most once per `LAST_USED_RESOLUTION`)."""
    return token.last_used_at is None or token.last_used_at <= now - LAST_USED_RESOLUTION


def record_use(session: Session, token_id: int, now: datetime) -> None:
    """Record a use of the token at `now`, unless one was recorded within `LAST_USED_RESOLUTION` (by anyone)."""
    repository.touch_token(session, token_id, now, now - LAST_USED_RESOLUTION)
