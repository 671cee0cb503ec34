"""Run the Alembic migrations programmatically (`fleet migrate`, tests, `fleet up`)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from fleet.db.engine import normalize_url

DB_DIR = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    """Alembic config pointing at the packaged migrations and `database_url`."""
    config = Config(str(DB_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(DB_DIR / "migrations"))
    config.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at `database_url` to `revision`."""
    command.upgrade(alembic_config(database_url), revision)
