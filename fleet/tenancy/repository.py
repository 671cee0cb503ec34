"""Queries of tenancy: tenants by name or by token, and the rows a new tenant or token adds."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import ApiToken, Tenant


def tenant_by_name(session: Session, name: str) -> Tenant | None:
    """The tenant called `name`."""
    return session.scalar(select(Tenant).where(Tenant.name == name))


def tenant_by_token_hash(session: Session, token_hash: str) -> Tenant | None:
    """The tenant holding the token stored under `token_hash`."""
    stmt = select(Tenant).join(ApiToken, ApiToken.tenant_id == Tenant.id).where(ApiToken.token_hash == token_hash)
    return session.scalar(stmt)


def add_tenant(session: Session, name: str) -> Tenant:
    """Insert a tenant, flushed so it has an id."""
    tenant = Tenant(name=name)
    session.add(tenant)
    session.flush()
    return tenant


def add_token(session: Session, tenant_id: int, token_hash: str) -> None:
    """Insert a token of a tenant, stored as its hash."""
    session.add(ApiToken(tenant_id=tenant_id, token_hash=token_hash))
