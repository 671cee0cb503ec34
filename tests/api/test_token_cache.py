"""Bearer tokens remembered per API process (`api.tenancy.cache`): for how long, and what is still checked on every
request."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.tenancy.cache import MAX_TOKENS, KnownToken, TokenCache
from fleet.db.models import ApiToken
from fleet.tenancy.roles import Role
from fleet.tenancy.service import revoke_token
from tests.api.conftest import SeededTenant, add_token, bearer, make_app

pytestmark = pytest.mark.integration

SECONDS = 60.0


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def known(token_id: int = 1, last_used_at: datetime | None = None) -> KnownToken:
    """A token as the cache keeps it."""
    return KnownToken(
        id=token_id, tenant_id=1, name=f"t{token_id}", role=Role.VIEWER, revoked_at=None, expires_at=None,
        last_used_at=last_used_at,
    )  # fmt: skip


def test_a_token_serves_for_its_seconds_then_is_read_again() -> None:
    clock = Clock()
    cache = TokenCache(SECONDS, clock)
    cache.put("a", known())

    clock.now += SECONDS - 0.1
    kept = cache.get("a")
    clock.now += 0.1
    gone = cache.get("a")

    assert kept == known()
    assert gone is None


def test_zero_seconds_remembers_nothing() -> None:
    cache = TokenCache(0)
    cache.put("a", known())

    assert cache.get("a") is None


def test_a_recorded_use_is_remembered_and_a_forgotten_token_is_gone() -> None:
    cache = TokenCache(SECONDS, Clock())
    at = datetime(2026, 12, 7, tzinfo=UTC)
    cache.put("a", known(1))
    cache.put("b", known(2))

    cache.used("a", at)
    cache.forget(2)

    assert cache.get("a") == known(1, last_used_at=at)
    assert cache.get("b") is None


def test_the_cache_never_holds_more_than_its_bound() -> None:
    cache = TokenCache(SECONDS, Clock())
    for n in range(MAX_TOKENS + 5):
        cache.put(str(n), known(n))

    assert cache.get(str(MAX_TOKENS + 4)) is not None
    assert cache.get("0") is None


@pytest.fixture
def clock() -> Clock:
    """The clock of the app's token cache."""
    return Clock()


@pytest.fixture
def cached(pg_url: str, clock: Clock) -> Iterator[TestClient]:
    """A client of an app whose token cache keeps tokens SECONDS on `clock`."""
    app = make_app(pg_url, token_cache_seconds=SECONDS)
    with TestClient(app) as client:
        app.state.token_cache = TokenCache(SECONDS, clock)
        yield client


def test_a_token_revoked_elsewhere_is_refused_once_its_time_is_up(
    cached: TestClient, clock: Clock, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    token_id, secret = add_token(pg_sessions, tenant.id, Role.VIEWER, "wall")
    assert cached.get("/v1/vehicles", headers=bearer(secret)).status_code == 200
    with pg_sessions() as session:  # as `fleet tenant token revoke` or another API process does
        revoke_token(session, tenant.id, token_id)
        session.commit()

    still = cached.get("/v1/vehicles", headers=bearer(secret))
    clock.now += SECONDS
    refused = cached.get("/v1/vehicles", headers=bearer(secret))

    assert still.status_code == 200
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


def test_a_token_revoked_through_this_process_is_refused_at_once(
    cached: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    token_id, secret = add_token(pg_sessions, tenant.id, Role.VIEWER, "kiosk")
    assert cached.get("/v1/vehicles", headers=bearer(secret)).status_code == 200

    assert cached.delete(f"/v1/admin/tokens/{token_id}", headers=tenant.headers).status_code == 200
    refused = cached.get("/v1/vehicles", headers=bearer(secret))

    assert refused.status_code == 401


def test_a_remembered_token_still_expires_on_time(
    cached: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    token_id, secret = add_token(pg_sessions, tenant.id, Role.VIEWER, "short-lived")
    with pg_sessions() as session:
        session.get_one(ApiToken, token_id).expires_at = datetime.now(UTC) + timedelta(seconds=1)
        session.commit()
    assert cached.get("/v1/vehicles", headers=bearer(secret)).status_code == 200

    time.sleep(1.1)
    refused = cached.get("/v1/vehicles", headers=bearer(secret))

    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


def test_a_remembered_token_records_its_use_once_a_minute(
    cached: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    token_id, secret = add_token(pg_sessions, tenant.id, Role.VIEWER, "poller")

    def last_used() -> datetime | None:
        with pg_sessions() as session:
            return session.get_one(ApiToken, token_id).last_used_at

    cached.get("/v1/vehicles", headers=bearer(secret))
    first = last_used()
    for _ in range(3):
        cached.get("/v1/vehicles", headers=bearer(secret))

    assert first is not None
    assert last_used() == first
