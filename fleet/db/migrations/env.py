"""Alembic environment: the URL comes from the config (set by `fleet migrate`) or FLEET_DATABASE_URL."""

from alembic import context

from fleet.db.engine import make_engine
from fleet.db.models import Base
from fleet.settings import SharedSettings

url = context.config.get_main_option("sqlalchemy.url") or SharedSettings().database_url
engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
