"""Queries of the health module."""

from sqlalchemy import Engine, text


def ping(engine: Engine) -> None:
    """Run `SELECT 1`; raises when the database cannot be reached."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
