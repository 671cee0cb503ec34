"""Tenants have unique names; tokens are random, stored only as their hash, and lead back to their tenant."""

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import ApiToken, Tenant
from fleet.errors import Conflict, Invalid, NotFound
from fleet.tenancy.service import TOKEN_PREFIX, create_tenant, get_tenant, hash_token, issue_token, tenant_for_token


@pytest.fixture
def session(sqlite_url: str) -> Iterator[Session]:
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


def test_a_new_tenant_gets_a_token_stored_only_as_its_hash(session: Session) -> None:
    tenant, token = create_tenant(session, "acme")

    assert token.startswith(TOKEN_PREFIX)
    assert session.scalars(select(ApiToken.token_hash).where(ApiToken.tenant_id == tenant.id)).all() == [
        hash_token(token)
    ]
    assert tenant_for_token(session, token) is tenant
    assert get_tenant(session, "acme") is tenant


def test_every_issued_token_leads_to_its_tenant(session: Session) -> None:
    acme, first = create_tenant(session, "acme")
    other, _ = create_tenant(session, "other")

    second = issue_token(session, acme)

    assert second != first
    assert tenant_for_token(session, first) is acme
    assert tenant_for_token(session, second) is acme
    assert tenant_for_token(session, TOKEN_PREFIX + "not-issued") is None
    assert other is not acme


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_tenant_names_are_1_to_100_characters(session: Session, name: str) -> None:
    with pytest.raises(Invalid):
        create_tenant(session, name)
    assert create_tenant(session, "x" * 100)[0].name == "x" * 100


def test_tenant_names_are_unique(session: Session) -> None:
    create_tenant(session, "acme")

    with pytest.raises(Conflict, match="already exists"):
        create_tenant(session, "acme")


def test_an_unknown_tenant_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="nobody"):
        get_tenant(session, "nobody")


def test_the_caller_commits(session: Session) -> None:
    create_tenant(session, "acme")

    session.rollback()

    assert session.scalars(select(Tenant)).all() == []
