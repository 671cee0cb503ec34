"""Verification of one archived (table, day): read back from the store, compared with the records and the database.

Every part not purged is read whole for its SHA-256 and its footer for its row count; the manifest must be the
one the records make; each tenant's rows still in the database must be exactly its newest part's. All match:
`verified` (retention may then remove the rows). Anything else: `stale`, with a log line saying why, and the next
run exports the day again. `Unavailable` from the store changes nothing.
"""

import logging
from collections import defaultdict
from datetime import date, datetime

from sqlalchemy.orm import Session

from fleet.archive import manifest, parquet, repository
from fleet.archive.days import STALE, VERIFIED
from fleet.archive.layout import ArchivedTable
from fleet.archive.results import DayResult, Outcome
from fleet.blobs.store import BlobStore
from fleet.db.models import ArchivePart
from fleet.errors import NotFound

logger = logging.getLogger(__name__)


def _check_part(store: BlobStore, part: ArchivePart) -> str | None:
    """Why the stored part differs from its record, or None."""
    try:
        sha256 = store.sha256(part.key)
        if sha256 != part.sha256:
            return f"{part.key} has SHA-256 {sha256}, recorded {part.sha256}"
        rows = parquet.row_count(store, part.key, part.bytes)
    except NotFound:
        return f"{part.key} is missing from the store"
    if rows != part.rows:
        return f"{part.key} holds {rows} rows, recorded {part.rows}"
    return None


def _check_manifest(
    store: BlobStore, table: ArchivedTable, day: date, key: str, parts: list[ArchivePart]
) -> str | None:
    try:
        stored = store.get_bytes(key)
    except NotFound:
        return f"the manifest {key} is missing from the store"
    if stored != manifest.manifest_bytes(table, day, [manifest.listed(part) for part in parts]):
        return f"the manifest {key} does not list the recorded parts"
    return None


def _check_counts(parts: list[ArchivePart], counts: dict[int, int]) -> list[str]:
    """Each tenant's rows in the database against its newest part not purged (which must hold all of them)."""
    kept: dict[int, list[ArchivePart]] = defaultdict(list)
    for part in parts:
        if part.purged_at is None:
            kept[part.tenant_id].append(part)
    problems = []
    for tenant_id, count in sorted(counts.items()):
        if not kept[tenant_id]:
            problems.append(f"tenant {tenant_id} has {count} rows in the database that no part holds")
            continue
        newest = max(kept[tenant_id], key=lambda part: part.part)
        if newest.rows != count:
            problems.append(f"tenant {tenant_id} has {count} rows in the database, part {newest.part} {newest.rows}")
    return problems


def verify_day(session: Session, store: BlobStore, table: ArchivedTable, day: date, now: datetime) -> DayResult:
    """Read (table, day)'s archive back and mark it `verified` or `stale` (not committed)."""
    counts = repository.count_by_tenant(session, table, day)
    record = repository.archive_day(session, table, day)
    if record is None:
        return DayResult(table.name, day, Outcome.NOT_ARCHIVED if counts else Outcome.EMPTY)
    parts = repository.parts_of_day(session, table, day)
    problems = [problem for part in parts if part.purged_at is None and (problem := _check_part(store, part))]
    if problem := _check_manifest(store, table, day, record.manifest_key, parts):
        problems.append(problem)
    problems += _check_counts(parts, counts)

    state = STALE if problems else VERIFIED
    if not repository.set_state(session, record, state, now if state == VERIFIED else None, now):
        problems = ["its state changed during the check"]
    if problems:
        logger.warning("the archive of %s on %s is stale: %s", table.name, day, "; ".join(problems))
    return DayResult(
        table.name,
        day,
        Outcome.STALE if problems else Outcome.VERIFIED,
        parts=len(parts),
        rows=record.rows,
        bytes=record.bytes,
        detail="; ".join(problems),
    )
