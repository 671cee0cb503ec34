"""The SQLAlchemy models mirror the schema the Alembic migrations build, on PostgreSQL and on SQLite."""

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from fleet.db.models import Base
from fleet.db.partitions import PARTITIONED_TABLES, ensure_partitions, partition_name
from tests.fixtures.postgres import PostgresServer

pytestmark = pytest.mark.integration

PARTITION_DAY = date(2026, 12, 1)
# The allow-list, the only differences expected. Daily partition children (positions_p20261201) are created at run
# time by fleet.db.partitions on PostgreSQL; no model maps them, so compare_metadata proposes to drop them.
PARTITION = re.compile(rf"(?:{'|'.join(PARTITIONED_TABLES)})_p\d{{8}}")


@pytest.fixture(scope="module")
def pg_schema_url(postgres: PostgresServer) -> str:
    """A fresh PostgreSQL database migrated to head, with one daily partition of each partitioned table."""
    url = postgres.create_database("fleet_schema")
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in PARTITIONED_TABLES:
            ensure_partitions(connection, table, [PARTITION_DAY])
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def sqlite_schema_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SQLite database migrated to head."""
    path: Path = tmp_path_factory.mktemp("schema") / "fleet.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def schema_url(request: pytest.FixtureRequest) -> str:
    """URL of the migrated database of each dialect."""
    url: str = request.getfixturevalue("pg_schema_url" if request.param == "postgresql" else "sqlite_schema_url")
    return url


def schema_diff(url: str, metadata: MetaData) -> list[Any]:
    """Alembic's differences from the database at `url` to `metadata`, one entry per change."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            # compare_type is on by default; server defaults are compared only on request.
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            diffs = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    # Column modifications come grouped in one list per column.
    return [change for diff in diffs for change in (diff if isinstance(diff, list) else [diff])]


def is_allowed(change: Any) -> bool:
    """Whether `change` is on the allow-list: a daily partition child, which no model describes."""
    return change[0] == "remove_table" and PARTITION.fullmatch(change[1].name) is not None


def copy_of_models() -> MetaData:
    """A copy of the models' metadata, to drift without touching the models."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    return metadata


def drift(metadata: MetaData, kind: str) -> None:
    """Change `metadata` so that it differs from the migrations by one change of `kind` (Alembic's name)."""
    vehicles = metadata.tables["vehicles"]
    match kind:
        case "add_table":
            Table("depots", metadata, Column("id", Integer, primary_key=True))
        case "remove_table":
            metadata.remove(metadata.tables["vehicle_state"])
        case "add_column":
            vehicles.append_column(Column("colour", String(20)))
        case "modify_type":
            vehicles.append_column(Column("plate", String(64)), replace_existing=True)
        case "modify_nullable":
            vehicles.append_column(Column("plate", String(32), nullable=False), replace_existing=True)
        case "modify_default":
            vehicles.append_column(Column("plate", String(32), server_default="none"), replace_existing=True)
        case "add_index":
            Index("ix_vehicles_plate", vehicles.c.plate)
        case _:
            raise ValueError(kind)


def test_models_match_migrations(schema_url: str) -> None:
    changes = schema_diff(schema_url, Base.metadata)
    assert [c for c in changes if not is_allowed(c)] == []
    # The allow-list is exercised, and lets through exactly the partitions this test created.
    allowed = {c[1].name for c in changes if is_allowed(c)}
    on_postgres = schema_url.startswith("postgresql")
    expected = {partition_name(t, PARTITION_DAY) for t in PARTITIONED_TABLES} if on_postgres else set()
    assert allowed == expected


@pytest.mark.parametrize(
    "kind", ["add_table", "remove_table", "add_column", "modify_type", "modify_nullable", "modify_default", "add_index"]
)
def test_drift_is_reported(schema_url: str, kind: str) -> None:
    metadata = copy_of_models()
    # The copy alone matches, so the one change below is all there is to report.
    assert [c for c in schema_diff(schema_url, metadata) if not is_allowed(c)] == []
    drift(metadata, kind)
    assert [c[0] for c in schema_diff(schema_url, metadata) if not is_allowed(c)] == [kind]
