"""The rules of retention: what goes of a day past its cutoff, checked against the archive before anything goes.

A tenant's rows of an archived table (positions, can_samples, events) on a day past the tenant's cutoff go only
when the day's archive is `verified` and the archive's parts not yet purged hold as many of the tenant's rows as
the database does (events: and none changed after the export). The check runs in the transaction that removes
the rows: on PostgreSQL with the day's partition locked against inserts, and a DELETE is compared, row count
against the archive, with exactly what it deleted. A difference means rows the archive does not hold: nothing of
the day goes, and the day is marked `stale` so that the archive exports it again. When every tenant with rows in
a partition is past its cutoff, the partition is dropped, else those tenants' rows are deleted. Alarms (closed
ones) and dead letters are not archived: they are deleted once past their tenant's cutoff.

Functions take a Session and never commit: one day per transaction, the caller's.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from fleet.archive import repository as archive_repository
from fleet.archive.layout import ARCHIVED_TABLES
from fleet.db.models import ArchiveDay
from fleet.db.partitions import drop_partition, lock_partition, partition_days
from fleet.lifecycle import repository
from fleet.lifecycle.policy import RETAINED_TABLES, Cutoffs, cutoffs, day_start
from fleet.lifecycle.repository import Tallies
from fleet.settings import RetentionSettings

# A drop waits at most this long for the locks it needs (the partition's, then the parent table's, which ingest
# and every reader of the table take too): a busy table is left for the next pass instead of queueing them all.
LOCK_TIMEOUT = "3s"


class Action(StrEnum):
    """What retention does with a day (or, for alarms and dead letters, with what is past its cutoff)."""

    DROP = "drop"
    DELETE = "delete"
    KEEP = "keep"
    STALE = "stale"


class Reason(StrEnum):
    """Why a day is kept; the first four keep rows past their cutoff (fleet_retention_kept_days)."""

    NOT_ARCHIVED = "not archived"
    ARCHIVE_STALE = "archive stale"
    ARCHIVE_DISABLED = "archive disabled"
    BUSY = "busy"
    WITHIN_RETENTION = "within retention"
    LATE_DATA = "open for late data"


PAST_CUTOFF = (Reason.NOT_ARCHIVED, Reason.ARCHIVE_STALE, Reason.ARCHIVE_DISABLED, Reason.BUSY)


@dataclass(frozen=True, slots=True)
class Context:
    """What a retention run goes by besides the cutoffs."""

    archive_enabled: bool
    # Ingest still takes records of days that end after this (FLEET_INGEST_MAX_RECORD_AGE_HOURS ago): their
    # partitions are emptied rather than dropped, since an ingest process that created one keeps inserting into it.
    late_until: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """What retention does (or would do) with one day of a table, and why; `day` is None for alarms and dead letters."""

    table: str
    day: date | None
    action: Action
    reason: str
    # Whose rows go (DROP, DELETE), differ from the archive (STALE), or are kept (KEEP); None stands for rows of
    # no registered vehicle, which no archive can hold and which go with the default cutoff.
    tenants: tuple[int | None, ...] = ()
    # Rows that go, differ or are kept; None when not counted.
    rows: int | None = None


class ArchiveMismatch(Exception):
    """The database holds rows of a day the verified archive does not: the caller rolls back and marks it stale."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.table} {decision.day}: {decision.reason}")
        self.decision = decision


def table_cutoffs(session: Session, settings: RetentionSettings, table: str, today: date) -> Cutoffs:
    """The cutoffs of `table` on `today`, from the defaults and the tenants' overrides."""
    return cutoffs(table, settings.days(table), repository.override_days(session, table), today)


def keep_reason(archive: ArchiveDay | None, archive_enabled: bool) -> Reason | None:
    """Why the archive alone keeps a day's rows, or None when it is verified."""
    if not archive_enabled:
        return Reason.ARCHIVE_DISABLED
    if archive is None or archive.state == "exported":
        return Reason.NOT_ARCHIVED
    if archive.state == "stale":
        return Reason.ARCHIVE_STALE
    return None


def decide(
    table: str,
    day: date,
    tallies: Tallies | None,
    archive: ArchiveDay | None,
    archived: Mapping[int, int],
    cutoffs: Cutoffs,
    context: Context,
    partitioned: bool,
) -> Decision:
    """What goes of `table`'s `day`: `tallies` are its rows per tenant (None: not counted, the archive keeps it
    whole), `archived` the archive's rows per tenant whose parts are not purged."""
    reason = keep_reason(archive, context.archive_enabled)
    if tallies is None:
        return Decision(table, day, Action.KEEP, reason or Reason.BUSY)
    droppable = partitioned and day_start(day + timedelta(days=1)) <= context.late_until
    if not tallies:
        if partitioned and context.archive_enabled and day < cutoffs.earliest:
            if droppable:
                return Decision(table, day, Action.DROP, "empty", tuple(archived), 0)
            return Decision(table, day, Action.KEEP, Reason.LATE_DATA, (), 0)
        return Decision(table, day, Action.KEEP, Reason.WITHIN_RETENTION, (), 0)
    tenants = tuple(sorted(t for t in tallies if t is not None and day < cutoffs.of(t)))
    orphans = (None,) if None in tallies and day < cutoffs.default else ()
    past = tenants + orphans
    rows = sum(tallies[t].rows for t in past)
    if not past:
        return Decision(table, day, Action.KEEP, Reason.WITHIN_RETENTION, (), sum(t.rows for t in tallies.values()))
    if archive is None or reason is not None:
        return Decision(table, day, Action.KEEP, reason or Reason.NOT_ARCHIVED, past, rows)
    changed = tuple(t for t in tenants if _changed_after(tallies[t].updated, archive.exported_at))
    differ = tuple(t for t in tenants if tallies[t].rows != archived.get(t, 0) or t in changed)
    if differ:
        held = sum(archived.get(t, 0) for t in differ)
        detail = f"{sum(tallies[t].rows for t in differ)} row(s) in the database, {held} in the archive"
        detail += "; rows changed after the export" if changed else ""
        return Decision(table, day, Action.STALE, detail, differ, rows)
    # The archive's parts of tenants past the cutoff whose rows are already gone are purged with the rest.
    gone = tuple(sorted(t for t in archived if t not in tallies and day < cutoffs.of(t)))
    if droppable and len(past) == len(tallies):
        return Decision(table, day, Action.DROP, "archived", tenants + gone + orphans, rows)
    return Decision(table, day, Action.DELETE, "archived", tenants + gone + orphans, rows)


def _changed_after(updated: datetime | None, exported_at: datetime) -> bool:
    return updated is not None and updated > exported_at


def _uses_partitions(session: Session, table: str) -> bool:
    return ARCHIVED_TABLES[table].partitioned and session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A day of an archived table before some tenant's cutoff, with what is known of it without reading it all."""

    table: str
    day: date
    record: ArchiveDay | None
    # The archive's rows per tenant whose parts are not purged.
    archived: Mapping[int, int]
    # Its rows per tenant, when counting them was cheap (no partitions); None otherwise.
    tallies: Tallies | None


def candidates(session: Session, table: str, cutoffs: Cutoffs) -> list[Candidate]:
    """The days of archived `table` before its latest cutoff that hold rows (or a partition), oldest first."""
    records = repository.archive_days(session, table, cutoffs.latest)
    archived = repository.archived_rows(session, table, cutoffs.latest)
    if _uses_partitions(session, table):
        days = [day for day in partition_days(session.connection(), table) if day < cutoffs.latest]
        return [Candidate(table, day, records.get(day), archived.get(day, {}), None) for day in days]
    found = repository.tallies_before(session, table, cutoffs.latest)
    return [Candidate(table, day, records.get(day), archived.get(day, {}), found[day]) for day in sorted(found)]


def settled(session: Session, candidate: Candidate, cutoffs: Cutoffs, context: Context) -> Decision | None:
    """The day kept whole without counting its partition (the archive alone keeps it); None when only counting,
    with the partition locked for a run, can tell."""
    table, day, record = candidate.table, candidate.day, candidate.record
    if candidate.tallies is not None:
        decision = decide(table, day, candidate.tallies, record, candidate.archived, cutoffs, context, False)
        return decision if decision.action is Action.KEEP else None
    reason = keep_reason(record, context.archive_enabled)
    if reason is None or day >= cutoffs.earliest:
        return None
    if record is None and context.archive_enabled and not repository.has_rows_on(session, table, day):
        return None
    return Decision(table, day, Action.KEEP, reason)


def plan(session: Session, table: str, cutoffs: Cutoffs, context: Context) -> list[Decision]:
    """What a run would do with `table` now, changing nothing: its days before some tenant's cutoff, oldest first
    (for alarms and dead letters, one decision if any is past its cutoff)."""
    if table not in ARCHIVED_TABLES:
        expired = repository.count_expired(session, table, cutoffs)
        return [expiry(table, cutoffs, expired)] if expired else []
    decisions = []
    for found in candidates(session, table, cutoffs):
        partitioned = found.tallies is None
        decision = settled(session, found, cutoffs, context) if partitioned else None
        if decision is None:
            tallies = repository.tallies_of_day(session, table, found.day) if partitioned else found.tallies
            decision = decide(table, found.day, tallies, found.record, found.archived, cutoffs, context, partitioned)
        decisions.append(decision)
    return decisions


def expiry(table: str, cutoffs: Cutoffs, rows: int) -> Decision:
    """The decision to delete `rows` of a table that is not archived (only what is finished) past their cutoff."""
    what = {
        "alarms": "closed alarms opened",
        "dead_letters": "dead letters received",
        "webhook_deliveries": "webhook deliveries (delivered or dead) written",
        "outbox": "downlink messages (sent, expired or cancelled) written",
    }[table]
    return Decision(table, None, Action.DELETE, f"{what} before {cutoffs.default} (or their tenant's cutoff)", (), rows)


def plan_all(session: Session, settings: RetentionSettings, context: Context, today: date) -> list[Decision]:
    """What a run would do with every retained table now, changing nothing."""
    return [
        decision
        for table in RETAINED_TABLES
        for decision in plan(session, table, table_cutoffs(session, settings, table, today), context)
    ]


def apply_day(session: Session, table: str, day: date, cutoffs: Cutoffs, context: Context, now: datetime) -> Decision:
    """Check `table`'s `day` again in the caller's transaction and drop or delete what the decision says.

    Raises ArchiveMismatch when the database holds rows the verified archive does not (roll back, then
    `mark_stale`); a lock not granted within LOCK_TIMEOUT raises the database's error (`is_lock_timeout`).
    """
    partitioned = _uses_partitions(session, table)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        if not archive_repository.try_lock(session, ARCHIVED_TABLES[table], day):
            return Decision(table, day, Action.KEEP, Reason.BUSY)
    if partitioned and not lock_partition(session.connection(), table, day):
        return Decision(table, day, Action.KEEP, "no partition", (), 0)
    record = repository.archive_day(session, table, day)
    archived = repository.archived_rows_of_day(session, table, day)
    tallies = repository.tallies_of_day(session, table, day)
    decision = decide(table, day, tallies, record, archived, cutoffs, context, partitioned)
    if decision.action is Action.STALE:
        raise ArchiveMismatch(decision)
    if decision.action is Action.DROP:
        drop_partition(session.connection(), table, day)
        repository.purge_parts(session, table, day, None, now)
    elif decision.action is Action.DELETE:
        assert record is not None, "a day is deleted only with a verified archive"
        for tenant in decision.tenants:
            deleted = repository.delete_rows(session, table, day, tenant)
            # What the DELETE removed is the final word: rows committed since the count are in it or left alone.
            late = _changed_after(deleted.updated, record.exported_at)
            if tenant is not None and deleted.rows and (deleted.rows != archived.get(tenant, 0) or late):
                detail = f"{deleted.rows} row(s) deleted, {archived.get(tenant, 0)} archived"
                raise ArchiveMismatch(Decision(table, day, Action.STALE, detail, (tenant,), deleted.rows))
        repository.purge_parts(session, table, day, [t for t in decision.tenants if t is not None], now)
    return decision


def mark_stale(session: Session, decision: Decision, now: datetime) -> bool:
    """Mark the day of a mismatch stale, so that the archive exports it again; False if it is no longer verified."""
    assert decision.day is not None, "only a day of an archived table has an archive"
    return repository.mark_stale(session, decision.table, decision.day, now)


def delete_expired(session: Session, table: str, cutoffs: Cutoffs, limit: int) -> int:
    """Delete up to `limit` alarms (closed) or dead letters past their tenant's cutoff; how many went."""
    return repository.delete_expired(session, table, cutoffs, limit)


def is_lock_timeout(error: OperationalError) -> bool:
    """True for a lock not granted in time (or a deadlock resolved against us): the day waits for the next run."""
    return getattr(error.orig, "sqlstate", None) in ("55P03", "40P01")
