"""What one day's archive run, verification or restore came to: for the CLI's summary and the worker's metrics."""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Outcome(StrEnum):
    """Where a (table, day) stands after a run or a verification."""

    VERIFIED = "verified"
    # The archive does not match the store or the database: exported again by the next run.
    STALE = "stale"
    # No row in the database and no archive: nothing to do.
    EMPTY = "empty"
    # Rows in the database but no archive (a verification of a day never exported).
    NOT_ARCHIVED = "not_archived"
    # Another worker holds the day's lock: it is doing the work.
    BUSY = "busy"
    # The blob store could not be reached: the day is as it was, the pass stops.
    STORE_UNAVAILABLE = "store_unavailable"


FAILED = frozenset({Outcome.STALE, Outcome.NOT_ARCHIVED, Outcome.STORE_UNAVAILABLE})


@dataclass(frozen=True)
class DayResult:
    """One (table, day): its outcome, what the archive holds of it, and what this run wrote."""

    table: str
    day: date
    outcome: Outcome
    parts: int = 0
    rows: int = 0
    bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    detail: str = ""

    @property
    def failed(self) -> bool:
        """True when the day is not safely archived after this run (a mismatch, the store away)."""
        return self.outcome in FAILED


@dataclass(frozen=True)
class RestoreResult:
    """One (table, day) put back into the database."""

    table: str
    day: date
    parts: int
    inserted: int
    # Rows that were in the database already (restored before, or never removed).
    present: int
    # Rows of devices this database does not have, or has under another tenant.
    skipped: int
