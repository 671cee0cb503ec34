"""Revision 0002 on a database with tokens: they become admin tokens named "token-<id>", and the way back works."""

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from fleet.db.engine import make_engine
from fleet.db.migrate import alembic_config, upgrade
from tests.fixtures.postgres import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["postgresql", "sqlite"])
def url_at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each dialect at revision 0001."""
    if request.param == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.create_database("fleet_token_migration")
    else:
        url = f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade(url, "0001")
    return url


def test_existing_tokens_become_admin_tokens_named_after_their_id(url_at_0001: str) -> None:
    engine = make_engine(url_at_0001)
    insert_token = text(
        "INSERT INTO api_tokens (tenant_id, token_hash, created_at) VALUES (1, :hash, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO tenants (id, name, created_at) VALUES (1, 'acme', CURRENT_TIMESTAMP)"))
        for token_hash in ("a" * 64, "b" * 64):
            connection.execute(insert_token, {"hash": token_hash})

    upgrade(url_at_0001, "0002")

    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, name, role, revoked_at FROM api_tokens ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, "token-1", "admin", None), (2, "token-2", "admin", None)]
        # The previous release inserts tokens as above: after a rollback it still can (no name, role admin).
        connection.execute(insert_token, {"hash": "c" * 64})
        assert connection.execute(text("SELECT name, role FROM api_tokens WHERE id = 3")).one() == (None, "admin")
        with pytest.raises(IntegrityError), connection.begin_nested():  # no role but the three
            connection.execute(text("UPDATE api_tokens SET role = 'root' WHERE id = 3"))
    engine.dispose()

    command.downgrade(alembic_config(url_at_0001), "0001")
    engine = make_engine(url_at_0001)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 3
    engine.dispose()
