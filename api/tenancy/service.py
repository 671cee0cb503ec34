"""Bearer token authentication."""

from sqlalchemy.orm import Session

from api.errors import Unauthorized
from fleet.db.models import Tenant
from fleet.tenancy.service import tenant_for_token


def authenticate(session: Session, token: str | None) -> Tenant:
    """The tenant owning `token`; 401 when it is missing or unknown."""
    if not token:
        raise Unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    tenant = tenant_for_token(session, token)
    if tenant is None:
        raise Unauthorized("invalid bearer token")
    return tenant
