"""Export of one (table, day): a Parquet part per tenant, then the manifest, then the records, in that order.

Every object is written before the database changes, and the changes (the parts, the day `exported`) are flushed
into the caller's transaction: a kill or a store outage at any point leaves the day's records as they were, and
the next run writes the same objects again (same rows, same bytes) under the same keys.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from fleet.archive import manifest, parquet, repository
from fleet.archive.days import EXPORTED
from fleet.archive.layout import ArchivedTable, manifest_key, part_key
from fleet.blobs.store import BlobStore
from fleet.db.models import ArchiveDay, ArchivePart

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Export:
    """What an export wrote to the store."""

    written_rows: int
    written_bytes: int


def part_to_write(parts: list[ArchivePart]) -> int:
    """The part number a tenant's rows still in the database go to: its highest part not purged (rewritten with
    all of them, a superset), else the one after its last purged part."""
    kept = [part.part for part in parts if part.purged_at is None]
    if kept:
        return max(kept)
    return max((part.part for part in parts), default=0) + 1


def export_day(
    session: Session, store: BlobStore, table: ArchivedTable, day: date, batch_rows: int, now: datetime
) -> Export:
    """Write each tenant's rows of `table` on `day` to its part, then the manifest; record both (not committed).

    `Unavailable` from the store leaves the session without changes.
    """
    existing = repository.parts_of_day(session, table, day)
    written: list[manifest.ManifestPart] = []
    for tenant_id in repository.tenants_with_rows(session, table, day):
        number = part_to_write([part for part in existing if part.tenant_id == tenant_id])
        key = part_key(table, day, tenant_id, number)
        with parquet.write_part(table, repository.row_batches(session, table, day, tenant_id, batch_rows)) as file:
            if file is None:  # its rows went between the two queries
                continue
            store.put_file(key, file.file, file.size, parquet.CONTENT_TYPE)
        logger.debug("archived %s rows of tenant %s to %s (%s bytes)", file.rows, tenant_id, key, file.size)
        written.append(
            manifest.ManifestPart(
                tenant_id=tenant_id,
                part=number,
                key=key,
                rows=file.rows,
                bytes=file.size,
                sha256=file.sha256,
                min_ts=file.min_ts.astimezone(UTC),
                max_ts=file.max_ts.astimezone(UTC),
                purged_at=None,
            )
        )

    entries = {(part.tenant_id, part.part): manifest.listed(part) for part in existing}
    entries.update({(entry.tenant_id, entry.part): entry for entry in written})
    listing_key = manifest_key(table, day)
    store.put_bytes(listing_key, manifest.manifest_bytes(table, day, entries.values()), manifest.CONTENT_TYPE)

    # Only now, every object written, the records change.
    by_number = {(part.tenant_id, part.part): part for part in existing}
    for entry in written:
        part = by_number.setdefault(
            (entry.tenant_id, entry.part),
            ArchivePart(table_name=table.name, day=day, tenant_id=entry.tenant_id, part=entry.part),
        )
        part.key = entry.key
        part.rows = entry.rows
        part.bytes = entry.bytes
        part.sha256 = entry.sha256
        part.min_ts = entry.min_ts
        part.max_ts = entry.max_ts
        part.exported_at = now
    parts = sorted(by_number.values(), key=lambda part: (part.tenant_id, part.part))
    session.add_all(parts)
    record = repository.archive_day(session, table, day)
    if record is None:
        record = ArchiveDay(table_name=table.name, day=day)
        session.add(record)
    record.state = EXPORTED
    record.rows = sum(part.rows for part in parts)
    record.bytes = sum(part.bytes for part in parts)
    record.manifest_key = listing_key
    record.exported_at = now
    record.verified_at = None
    record.updated_at = now
    session.flush()
    return Export(
        written_rows=sum(entry.rows for entry in written),
        written_bytes=sum(entry.bytes for entry in written),
    )
