"""A fresh migrated PostgreSQL database per test: retention acts on every day of every tenant in a database."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from tests.fixtures.postgres import PostgresServer


def _admin(postgres: PostgresServer) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True)


@pytest.fixture(scope="session")
def lifecycle_template(postgres: PostgresServer) -> str:
    """A database migrated once, copied for each test (much faster than migrating each)."""
    name = "fleet_lifecycle_template"
    upgrade(postgres.create_database(name))
    return name


@pytest.fixture
def pg(postgres: PostgresServer, lifecycle_template: str) -> Iterator[Engine]:
    """An engine on a fresh copy of the migrated template."""
    name = f"fleet_lifecycle_{uuid.uuid4().hex[:8]}"
    with _admin(postgres) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{lifecycle_template}"')
    engine = make_engine(postgres.url(name))
    yield engine
    engine.dispose()
    with _admin(postgres) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
