"""Engine and session factory for PostgreSQL (psycopg 3) and SQLite."""

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain `postgresql://` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while ingest writes; the timeout rides out the writer's short transactions.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, statement_timeout_seconds: float | None = None, **kwargs: Any) -> Engine:
    """Create an engine for `url` with the settings fleet relies on; on PostgreSQL, `statement_timeout_seconds`
    has the server cancel every statement of its connections that runs longer (SQLite has no such limit)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if statement_timeout_seconds is not None:
        # In the connection's startup packet: set for each connection without a statement of its own.
        connect_args["options"] = f"-c statement_timeout={max(1, round(statement_timeout_seconds * 1000))}"
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", connect_args)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory; callers commit at their boundary."""
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for work that only reads: autocommit, so no BEGIN or COMMIT travels to the database and ending one
    does no I/O. Under READ COMMITTED, the default, each statement reads a snapshot of its own either way."""
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
