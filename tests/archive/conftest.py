"""The archive's fixtures: a fresh database per test (PostgreSQL from a migrated template, or SQLite) with the store
it would have in production (SeaweedFS for PostgreSQL, the local folder for SQLite)."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fleet.blobs.local import LocalBlobStore
from fleet.blobs.store import BlobStore
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.s3 import SeaweedServer, s3_store_for

TEMPLATE = "fleet_archive_template"


@pytest.fixture(scope="session")
def archive_template(postgres: PostgresServer) -> str:
    """A migrated database that each test's PostgreSQL database is copied from (much faster than migrating)."""
    upgrade(postgres.create_database(TEMPLATE))
    return TEMPLATE


def copy_database(postgres: PostgresServer, template: str) -> str:
    """A new database, a copy of `template`; its URL."""
    name = f"fleet_archive_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return postgres.url(name)


@pytest.fixture
def pg_archive_url(postgres: PostgresServer, archive_template: str) -> str:
    """A fresh migrated PostgreSQL database of the test's own: the archive's passes look at every day and tenant."""
    return copy_database(postgres, archive_template)


@dataclass
class Archive:
    """A database and a blob store for the archive."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    store: BlobStore
    dialect: str


@pytest.fixture(params=["postgresql", "sqlite"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Archive]:
    """PostgreSQL with SeaweedFS, then SQLite with the local store."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_archive_url")
        server: SeaweedServer = request.getfixturevalue("s3")
        store: BlobStore = s3_store_for(server, server.create_bucket())
    else:
        url = request.getfixturevalue("sqlite_url")
        store = LocalBlobStore(tmp_path / "blobs", b"k" * 32, "http://127.0.0.1:1/v1/blobs")
    engine = make_engine(url)
    yield Archive(url, engine, make_session_factory(engine), store, request.param)
    engine.dispose()


@pytest.fixture
def pg_archive(pg_archive_url: str, s3: SeaweedServer) -> Iterator[Archive]:
    """PostgreSQL with SeaweedFS only."""
    engine = make_engine(pg_archive_url)
    store = s3_store_for(s3, s3.create_bucket())
    yield Archive(pg_archive_url, engine, make_session_factory(engine), store, "postgresql")
    engine.dispose()
