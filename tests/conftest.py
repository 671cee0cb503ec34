"""Session fixtures: one private PostgreSQL, one private Mosquitto and one private SeaweedFS for the whole run."""

import gc
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import Tenant
from fleet.tenancy.service import create_tenant
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.s3 import SeaweedServer


@pytest.fixture
def thawed_collector() -> Iterator[None]:
    """The garbage collector with nothing frozen; after the test unfrozen again, its thresholds restored."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster for the session."""
    # Not under pytest's tmp dir: that is private to root, and the server runs as user postgres.
    base = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
    server = PostgresServer(base)
    server.start()
    yield server
    server.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(postgres: PostgresServer) -> str:
    """URL of a database migrated to head with Alembic, shared by the session's tests."""
    url = postgres.create_database("fleet_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """Engine on the session's migrated PostgreSQL database."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite database migrated to head."""
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade(url)
    return url


@pytest.fixture
def session(sqlite_url: str) -> Iterator[Session]:
    """A session on a fresh migrated SQLite database, for the core's domain rules."""
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def acme(session: Session) -> Tenant:
    """A tenant called acme in that database."""
    return create_tenant(session, "acme")[0]


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoServer]:
    """A private Mosquitto with the repo's config, for tests that do not restart it."""
    base = Path(tempfile.mkdtemp(prefix="fleet-mqtt-"))
    server = MosquittoServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def s3() -> Iterator[SeaweedServer]:
    """A private SeaweedFS (S3 API) for tests that do not stop it; each module makes its own bucket."""
    base = Path(tempfile.mkdtemp(prefix="fleet-s3-"))
    server = SeaweedServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so tests sharing the session database never collide."""
    return uuid.uuid4().hex[:8]
