"""Bearer token authentication."""

from sqlalchemy.orm import Session

from api.errors import Unauthorized
from api.tenancy import repository
from fleet.admin import hash_token
from fleet.db.models import Tenant


def authenticate(session: Session, token: str | None) -> Tenant:
    """The tenant owning `token`; 401 when it is missing or unknown."""
    if not token:
        raise Unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    tenant = repository.tenant_by_token_hash(session, hash_token(token))
    if tenant is None:
        raise Unauthorized("invalid bearer token")
    return tenant
