"""What a database error means for the writer: wait and retry, stop, or set the one message aside."""

import sqlite3
from enum import StrEnum

import psycopg
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATE classes (the first two characters) of faults in one message's data: isolate that message.
DATA_CLASSES = frozenset({"22", "23", "54"})
# Classes of a database that does not have the schema this code expects (or denies it access): stop.
SCHEMA_CLASSES = frozenset({"42", "3F"})
# SQLite result codes (by prefix) that mean the database is busy or its storage is failing: retry.
SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
)
SQLITE_DATA = ("SQLITE_CONSTRAINT", "SQLITE_MISMATCH", "SQLITE_TOOBIG", "SQLITE_RANGE")


class DatabaseFault(StrEnum):
    """How a writer reacts to a failed write."""

    # Connection, resources, operator intervention, conflicts, read-only standby, anything server-side we do
    # not recognise: nothing is wrong with the data, so wait and write the same batch again.
    UNAVAILABLE = "unavailable"
    # The schema is not the one this code was built for (an unmigrated database, missing rights): stop.
    SCHEMA = "schema"
    # This message's values are refused (22xxx data exception, 23xxx integrity violation): set it aside.
    DATA = "data"


def classify(error: BaseException) -> DatabaseFault:
    """The fault behind `error`; an error that is not the database's (a bug on one input) counts as data."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    if isinstance(cause, psycopg.Error):
        return _by_sqlstate(cause.sqlstate, cause)
    if isinstance(cause, sqlite3.Error):
        return _by_sqlite_code(getattr(cause, "sqlite_errorname", ""), cause)
    if isinstance(error, DisconnectionError | PoolTimeout):
        return DatabaseFault.UNAVAILABLE
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return DatabaseFault.UNAVAILABLE
    return DatabaseFault.DATA


def _by_sqlstate(sqlstate: str | None, error: psycopg.Error) -> DatabaseFault:
    if sqlstate is None:
        # No answer from a server at all: refused connection, broken socket, closed pool.
        return (
            DatabaseFault.UNAVAILABLE
            if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
            else (DatabaseFault.DATA)
        )
    if sqlstate[:2] in DATA_CLASSES:
        return DatabaseFault.DATA
    if sqlstate[:2] in SCHEMA_CLASSES:
        return DatabaseFault.SCHEMA
    return DatabaseFault.UNAVAILABLE


def _by_sqlite_code(name: str, error: sqlite3.Error) -> DatabaseFault:
    if name.startswith(SQLITE_UNAVAILABLE):
        return DatabaseFault.UNAVAILABLE
    if name.startswith(SQLITE_DATA) or isinstance(error, sqlite3.IntegrityError | sqlite3.DataError):
        return DatabaseFault.DATA
    if isinstance(error, sqlite3.OperationalError):
        # SQLITE_ERROR covers "no such table" and "no such column": the schema is missing.
        return DatabaseFault.SCHEMA
    return DatabaseFault.DATA
