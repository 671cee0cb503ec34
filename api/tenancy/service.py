"""Bearer token authentication: the token's principal, or 401; and the role check, or 403."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from api.tenancy.cache import KnownToken
from fleet.audit.service import Actor
from fleet.tenancy import service as tenancy
from fleet.tenancy.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: the tenant, token and role of its bearer token, and the client's address."""

    tenant_id: int
    token_id: int
    token_name: str
    role: Role
    address: str | None = None

    @property
    def actor(self) -> Actor:
        """The principal as the audit log names it."""
        return Actor(name=self.token_name, token_id=self.token_id, address=self.address)


def read_token(session: Session, secret: str) -> KnownToken | None:
    """The stored token whose secret is `secret` (revoked and expired ones included), or None."""
    found = tenancy.token_for_secret(session, secret)
    return KnownToken.of(found) if found is not None else None


def authenticate(token: KnownToken | None, address: str | None, now: datetime) -> tuple[Principal, bool]:
    """The principal of a presented token (None: no tenant has it) and whether its use is due to be recorded; 401
    when unknown or unusable at `now`."""
    if token is None:
        raise Unauthorized("invalid bearer token")
    if (reason := tenancy.refusal(token, now)) is not None:
        raise Unauthorized(f"{reason}: ask an admin of your tenant for a new token")
    principal = Principal(
        tenant_id=token.tenant_id, token_id=token.id, token_name=token.name, role=token.role, address=address
    )
    return principal, tenancy.use_is_due(token, now)


def authorize(principal: Principal, role: Role) -> Principal:
    """`principal` when its role includes `role`; 403 otherwise."""
    if not principal.role.includes(role):
        raise Forbidden(f"this needs the {role} role; token {principal.token_name!r} has the {principal.role} role")
    return principal
