"""Queries of the tenancy module."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import ApiToken, Tenant


def tenant_by_token_hash(session: Session, token_hash: str) -> Tenant | None:
    """The tenant holding the token stored under `token_hash`."""
    stmt = select(Tenant).join(ApiToken, ApiToken.tenant_id == Tenant.id).where(ApiToken.token_hash == token_hash)
    return session.scalar(stmt)
