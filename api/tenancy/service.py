"""Bearer token authentication: the token's principal, or 401; and the role check, or 403."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from fleet.audit.service import Actor
from fleet.db.models import utcnow
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


def authenticate(session: Session, token: str | None, address: str | None) -> tuple[Principal, bool]:
    """The principal of `token` and whether its use is due to be recorded; 401 when missing, unknown or unusable."""
    if not token:
        raise Unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    found = tenancy.token_for_secret(session, token)
    if found is None:
        raise Unauthorized("invalid bearer token")
    now = utcnow()
    if (reason := tenancy.refusal(found, now)) is not None:
        raise Unauthorized(f"{reason}: ask an admin of your tenant for a new token")
    principal = Principal(
        tenant_id=found.tenant_id,
        token_id=found.id,
        token_name=tenancy.token_name(found),
        role=tenancy.token_role(found),
        address=address,
    )
    return principal, tenancy.use_is_due(found, now)


def authorize(principal: Principal, role: Role) -> Principal:
    """`principal` when its role includes `role`; 403 otherwise."""
    if not principal.role.includes(role):
        raise Forbidden(f"this needs the {role} role; token {principal.token_name!r} has the {principal.role} role")
    return principal
