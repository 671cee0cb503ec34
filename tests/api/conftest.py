"""Fixtures of the API tests: a client on the session's PostgreSQL and seeded tenants."""

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from fleet.blobs.keys import file_key
from fleet.blobs.store import BlobStore
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import ApiToken, CanSample, File, Position
from fleet.db.partitions import ensure_partitions
from fleet.files.states import FileState
from fleet.registry.service import add_vehicles
from fleet.settings import ApiSettings, SharedSettings
from fleet.tenancy.roles import Role
from fleet.tenancy.service import create_tenant, create_token, revoke_token

BASE_TS = datetime(2026, 3, 1, tzinfo=UTC)
# Nothing listens on port 1: a replay with something to publish answers 503.
UNREACHABLE_BROKER = "mqtt://127.0.0.1:1"


def iso(ts: datetime) -> str:
    """RFC 3339 with a Z."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(ts: str) -> datetime:
    """A returned timestamp, asserting it is UTC."""
    value = datetime.fromisoformat(ts)
    assert value.utcoffset() == timedelta(0)
    return value


@dataclass
class SeededTenant:
    """A tenant with a token and vehicles, as the tests see it."""

    id: int
    name: str
    token: str
    vehicle_ids: dict[str, int] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header of the tenant's token."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def device_ids(self) -> list[str]:
        """Device ids of the tenant's vehicles, sorted."""
        return sorted(self.vehicle_ids)


def make_app(
    database_url: str,
    mqtt_url: str = UNREACHABLE_BROKER,
    blob_store: BlobStore | None = None,
    token_cache_seconds: float = 0,
) -> FastAPI:
    """An app on `database_url` whose replay publishes to `mqtt_url` (files in `blob_store`, else the settings').

    Tokens are read on every request unless `token_cache_seconds` says otherwise: the tests change them in the
    database and expect the next request to see it (tests/api/test_token_cache.py covers the cache).
    """
    shared = SharedSettings(database_url=database_url, mqtt_url=mqtt_url)
    return create_app(shared, ApiSettings(token_cache_seconds=token_cache_seconds), blob_store=blob_store)


def seed_tenant(sessions: sessionmaker[Session], name: str, device_ids: Iterable[str]) -> SeededTenant:
    """Create a tenant with its token and vehicles."""
    with sessions() as session:
        tenant, token = create_tenant(session, name)
        vehicles = add_vehicles(session, tenant, list(device_ids))
        session.commit()
        return SeededTenant(tenant.id, name, token, {v.device_id: v.id for v in vehicles})


def bearer(token: str) -> dict[str, str]:
    """Authorization header of `token`."""
    return {"Authorization": f"Bearer {token}"}


def add_token(sessions: sessionmaker[Session], tenant_id: int, role: Role, name: str) -> tuple[int, str]:
    """Create a token of the tenant; its id and secret."""
    with sessions() as session:
        token, secret = create_token(session, tenant_id, name=name, role=role)
        session.commit()
        return token.id, secret


def expire_token(sessions: sessionmaker[Session], token_id: int) -> None:
    """Make a token expired a second ago."""
    with sessions() as session:
        session.get_one(ApiToken, token_id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()


def revoke(sessions: sessionmaker[Session], tenant_id: int, token_id: int) -> None:
    """Revoke a token as the CLI would."""
    with sessions() as session:
        revoke_token(session, tenant_id, token_id)
        session.commit()


def add_file(sessions: sessionmaker[Session], tenant: SeededTenant, device_id: str, file_id: str, **fields: Any) -> int:
    """Insert a file of one of the tenant's vehicles (verified, empty, offered at BASE_TS unless `fields` say
    otherwise), as ingest and the worker leave it; its id."""
    kind, offered_at = fields.get("kind", "log"), fields.get("offered_at", BASE_TS)
    values: dict[str, Any] = {
        "kind": kind,
        "name": f"{file_id}.bin",
        "content_type": "application/octet-stream",
        "size_bytes": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
        "state": FileState.VERIFIED,
        "object_key": file_key(tenant.id, device_id, kind, offered_at, file_id),
        "offered_at": offered_at,
        "received_at": offered_at,
        "answer_due": False,
        "legal_hold": False,
        "attempts": 0,
    }
    file = File(tenant_id=tenant.id, vehicle_id=tenant.vehicle_ids[device_id], file_id=file_id, **(values | fields))
    with sessions() as session:
        session.add(file)
        session.commit()
        return file.id


def insert_positions(sessions: sessionmaker[Session], vehicle_id: int, timestamps: Iterable[datetime]) -> None:
    """Insert one position per timestamp (seq counting from 1), creating partitions as ingest would."""
    stamps = list(timestamps)
    with sessions() as session:
        ensure_partitions(session.connection(), "positions", {ts.astimezone(UTC).date() for ts in stamps})
        session.add_all(
            Position(vehicle_id=vehicle_id, ts=ts, seq=i, lat=48.0 + i / 1e4, lon=11.0, speed_kmh=30.0, sats=9)
            for i, ts in enumerate(stamps, start=1)
        )
        session.commit()


def insert_can(sessions: sessionmaker[Session], vehicle_id: int, samples: Iterable[dict[str, object]]) -> None:
    """Insert CAN samples given as column dicts (each with `ts` and `seq`), creating partitions."""
    rows = [CanSample(vehicle_id=vehicle_id, **s) for s in samples]
    with sessions() as session:
        ensure_partitions(session.connection(), "can_samples", {r.ts.astimezone(UTC).date() for r in rows})
        session.add_all(rows)
        session.commit()


@dataclass
class Database:
    """A migrated database: its URL and a session factory for seeding."""

    url: str
    sessions: sessionmaker[Session]


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The session's PostgreSQL database, then a fresh SQLite one: for tests that must hold on both."""
    if request.param == "postgresql":
        yield Database(request.getfixturevalue("pg_url"), make_session_factory(request.getfixturevalue("pg_engine")))
        return
    url: str = request.getfixturevalue("sqlite_url")
    engine = make_engine(url)
    yield Database(url, make_session_factory(engine))
    engine.dispose()


@pytest.fixture
def pg_sessions(pg_engine: Engine) -> sessionmaker[Session]:
    """Session factory on the session's PostgreSQL database, for seeding."""
    return make_session_factory(pg_engine)


@pytest.fixture
def client(pg_url: str) -> Iterator[TestClient]:
    """A client of an app on the session's PostgreSQL database (lifespan run, engine disposed after)."""
    with TestClient(make_app(pg_url)) as test_client:
        yield test_client


@pytest.fixture
def tenant(pg_sessions: sessionmaker[Session], unique: str) -> SeededTenant:
    """A tenant with two vehicles."""
    return seed_tenant(pg_sessions, f"tenant-a-{unique}", [f"a-{unique}-2", f"a-{unique}-1"])


@pytest.fixture
def callers(pg_sessions: sessionmaker[Session], tenant: SeededTenant) -> dict[str, dict[str, str]]:
    """Headers of each kind of caller of `tenant`: no token, a token of each role, an expired and a revoked one."""
    headers: dict[str, dict[str, str]] = {"none": {}}
    for role in Role:
        headers[role.value] = bearer(add_token(pg_sessions, tenant.id, role, role.value)[1])
    expired_id, expired = add_token(pg_sessions, tenant.id, Role.ADMIN, "expired")
    expire_token(pg_sessions, expired_id)
    revoked_id, revoked = add_token(pg_sessions, tenant.id, Role.ADMIN, "revoked")
    revoke(pg_sessions, tenant.id, revoked_id)
    return headers | {"expired": bearer(expired), "revoked": bearer(revoked)}


@pytest.fixture
def other_tenant(pg_sessions: sessionmaker[Session], unique: str) -> SeededTenant:
    """Another tenant with one vehicle, which `tenant` must never see."""
    return seed_tenant(pg_sessions, f"tenant-b-{unique}", [f"b-{unique}-1"])
