"""Queries of tenancy: tenants by name, tokens by hash, name or id, and the rows a new tenant or token adds."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from fleet.db.models import ApiToken, Tenant


def tenant_by_name(session: Session, name: str) -> Tenant | None:
    """The tenant called `name`."""
    return session.scalar(select(Tenant).where(Tenant.name == name))


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    """The token stored under `token_hash`, of any tenant."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def tokens_of(session: Session, tenant_id: int) -> Sequence[ApiToken]:
    """Every token of a tenant, revoked and expired ones included, oldest first."""
    return session.scalars(select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.id)).all()


def token_of_tenant(session: Session, tenant_id: int, token_id: int) -> ApiToken | None:
    """The tenant's token with id `token_id`."""
    return session.scalar(select(ApiToken).where(ApiToken.tenant_id == tenant_id, ApiToken.id == token_id))


def token_by_name(session: Session, tenant_id: int, name: str) -> ApiToken | None:
    """The tenant's token called `name`."""
    return session.scalar(select(ApiToken).where(ApiToken.tenant_id == tenant_id, ApiToken.name == name))


def add_tenant(session: Session, name: str) -> Tenant:
    """Insert a tenant, flushed so it has an id."""
    tenant = Tenant(name=name)
    session.add(tenant)
    session.flush()
    return tenant


def add_token(
    session: Session, tenant_id: int, token_hash: str, name: str, role: str, expires_at: datetime | None
) -> ApiToken:
    """Insert a token of a tenant, stored as its hash; flushed so it has an id."""
    token = ApiToken(tenant_id=tenant_id, token_hash=token_hash, name=name, role=role, expires_at=expires_at)
    session.add(token)
    session.flush()
    return token


def touch_token(session: Session, token_id: int, now: datetime, unless_after: datetime) -> None:
    """Set the token's `last_used_at` to `now` unless it is already later than `unless_after`."""
    stmt = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= unless_after),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)
