"""Tenants have unique names; tokens are named, role-bearing, random, stored only as their hash, and can end."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.audit.service import Actor
from fleet.db.models import ApiToken, AuditEntry, Tenant, utcnow
from fleet.errors import Conflict, Invalid, NotFound
from fleet.tenancy.roles import Role
from fleet.tenancy.service import (
    INITIAL_TOKEN_NAME,
    TOKEN_PREFIX,
    create_tenant,
    create_token,
    find_token,
    find_token_by_name_or_id,
    get_tenant,
    hash_token,
    record_use,
    refusal,
    revoke_token,
    token_for_secret,
    token_name,
    tokens,
    use_is_due,
)


def audit_log(session: Session) -> list[tuple[int | None, str, str, str | None]]:
    """(tenant, actor, action, target) of every entry, oldest first."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(e.tenant_id, e.actor, e.action, e.target) for e in rows]


def test_a_new_tenant_gets_an_admin_token_stored_only_as_its_hash(session: Session) -> None:
    tenant, secret = create_tenant(session, "acme")

    [token] = tokens(session, tenant.id)
    assert secret.startswith(TOKEN_PREFIX)
    assert (token.name, token.role, token.token_hash) == (INITIAL_TOKEN_NAME, "admin", hash_token(secret))
    assert (token.expires_at, token.revoked_at, token.last_used_at) == (None, None, None)
    assert token_for_secret(session, secret) is token
    assert get_tenant(session, "acme") is tenant
    assert audit_log(session) == [(tenant.id, "cli", "token.create", INITIAL_TOKEN_NAME)]


def test_tokens_have_a_name_a_role_and_maybe_an_expiry(session: Session, acme: Tenant) -> None:
    [initial] = tokens(session, acme.id)
    actor = Actor("ops-admin", token_id=initial.id, address="192.0.2.1")

    token, secret = create_token(
        session, acme.id, name="wall.display_2", role=Role.VIEWER, expires_in=timedelta(days=7), actor=actor
    )

    assert (token.name, token.role) == ("wall.display_2", "viewer")
    assert token.expires_at is not None and abs(token.expires_at - utcnow() - timedelta(days=7)) < timedelta(minutes=1)
    assert token_for_secret(session, secret) is token
    assert token_for_secret(session, TOKEN_PREFIX + "not-issued") is None
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    assert (entry.actor, entry.token_id, entry.address) == ("ops-admin", initial.id, "192.0.2.1")
    assert entry.target == "wall.display_2"
    assert entry.detail["role"] == "viewer" and entry.detail["token_id"] == token.id


@pytest.mark.parametrize("name", ["", "has space", "x" * 101, "123", "ünï", "a/b"])
def test_token_names_are_1_to_100_plain_characters_not_only_digits(session: Session, acme: Tenant, name: str) -> None:
    with pytest.raises(Invalid, match="invalid token name"):
        create_token(session, acme.id, name=name, role=Role.VIEWER)


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_a_lifetime_is_positive_and_at_most_ten_years(session: Session, acme: Tenant, days: int) -> None:
    with pytest.raises(Invalid, match="expires"):
        create_token(session, acme.id, name="t", role=Role.VIEWER, expires_in=timedelta(days=days))


def test_token_names_are_unique_within_a_tenant_even_after_revocation(session: Session, acme: Tenant) -> None:
    other, _ = create_tenant(session, "other")
    token, _ = create_token(session, acme.id, name="ci", role=Role.OPERATOR)
    revoke_token(session, acme.id, token.id)

    with pytest.raises(Conflict, match="'ci' already exists"):
        create_token(session, acme.id, name="ci", role=Role.OPERATOR)
    assert create_token(session, other.id, name="ci", role=Role.OPERATOR)[0].tenant_id == other.id


def test_tokens_are_found_by_name_or_id_within_their_tenant_only(session: Session, acme: Tenant) -> None:
    other, _ = create_tenant(session, "other")
    mine, _ = create_token(session, acme.id, name="ci", role=Role.VIEWER)
    theirs, _ = create_token(session, other.id, name="theirs", role=Role.VIEWER)

    assert find_token_by_name_or_id(session, acme.id, "ci") is mine
    assert find_token_by_name_or_id(session, acme.id, str(mine.id)) is mine
    for ref in (str(theirs.id), "theirs", "99999999999", "nobody"):
        with pytest.raises(NotFound):
            find_token_by_name_or_id(session, acme.id, ref)
    with pytest.raises(NotFound, match=f"no token {theirs.id}"):
        revoke_token(session, acme.id, theirs.id)
    with pytest.raises(NotFound):
        find_token(session, acme.id, 2**40)
    assert theirs.revoked_at is None


def test_revocation_and_expiry_refuse_a_token(session: Session, acme: Tenant) -> None:
    now = utcnow()
    token, _ = create_token(session, acme.id, name="ci", role=Role.VIEWER, expires_in=timedelta(hours=1))

    assert refusal(token, now) is None
    assert refusal(token, now + timedelta(hours=2)) == f"token 'ci' expired at {token.expires_at:%Y-%m-%dT%H:%M:%SZ}"
    revoked = revoke_token(session, acme.id, token.id)
    first = revoked.revoked_at
    assert first is not None and refusal(token, now) == f"token 'ci' was revoked at {first:%Y-%m-%dT%H:%M:%SZ}"
    assert revoke_token(session, acme.id, token.id).revoked_at == first  # again: no change
    assert [a for _, _, a, t in audit_log(session) if t == "ci"] == ["token.create", "token.revoke"]


def test_use_is_recorded_at_most_once_a_minute(session: Session, acme: Tenant) -> None:
    token, _ = create_token(session, acme.id, name="ci", role=Role.VIEWER)
    now = utcnow()

    assert use_is_due(token, now)
    record_use(session, token.id, now)
    session.refresh(token)
    assert token.last_used_at == now
    assert not use_is_due(token, now + timedelta(seconds=59))
    record_use(session, token.id, now + timedelta(seconds=30))  # a racing request: not written again
    session.refresh(token)
    assert token.last_used_at == now
    assert use_is_due(token, now + timedelta(seconds=60))
    record_use(session, token.id, now + timedelta(seconds=61))
    session.refresh(token)
    assert token.last_used_at == now + timedelta(seconds=61)


def test_a_token_without_a_name_reads_as_token_id(session: Session, acme: Tenant) -> None:
    # What the previous release inserts after a rollback: no name, the server's default role.
    session.add(ApiToken(tenant_id=acme.id, token_hash="0" * 64))
    session.flush()
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == "0" * 64)).one()
    session.refresh(token)

    assert (token_name(token), token.role) == (f"token-{token.id}", "admin")


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
    assert session.scalars(select(AuditEntry)).all() == []
