"""Database: models, engine/session factory, Alembic migrations, time partitions."""
