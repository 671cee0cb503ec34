"""Restore of an archived day into the database, for an investigation: the parts the manifest lists, row by row.

The manifest, not `archive_parts`, says what to read, so a day restores into another database on the same store
too. Each part's SHA-256 is checked before its rows are read. A row goes to the vehicle registered with its
`device_id` under the part's tenant (a device unknown here, or another tenant's, is skipped and counted). Rows
already in the database are left as they are (ON CONFLICT DO NOTHING on the key; events on (vehicle, key), with
new ids), so restoring twice adds nothing. Restored rows are rows the archive holds: a tenant's only part,
restored whole, is marked not purged again.
"""

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from fleet.archive import manifest, parquet, repository
from fleet.archive.layout import ARCHIVED_TABLES, EVENTS, ArchivedTable, manifest_key
from fleet.archive.results import RestoreResult
from fleet.blobs.store import BlobStore
from fleet.db.partitions import ensure_partitions
from fleet.errors import Invalid, NotFound


def _database_row(table: ArchivedTable, row: dict[str, Any], vehicle_id: int, tenant_id: int) -> dict[str, Any]:
    """A file's row as the table's row: the vehicle's id for its device id; events get a new id."""
    values = {name: value for name, value in row.items() if name != "device_id"}
    values["vehicle_id"] = vehicle_id
    if table is EVENTS:
        del values["id"]
        values["tenant_id"] = tenant_id
        values["data"] = {} if values["data"] is None else json.loads(values["data"])
    return values


def _restore_part(
    session: Session,
    store: BlobStore,
    table: ArchivedTable,
    part: manifest.ManifestPart,
    batch_rows: int,
    vehicles: dict[str, tuple[int, int] | None],
) -> tuple[int, int, int]:
    """Insert one part's rows the database lacks; (rows of this database's vehicles, inserted, skipped)."""
    sha256 = store.sha256(part.key)
    if sha256 != part.sha256:
        raise Invalid(f"{part.key} has SHA-256 {sha256}, its manifest says {part.sha256}: not restored")
    kept = inserted = skipped = 0
    for batch in parquet.read_batches(store, part.key, batch_rows, part.bytes):
        rows = batch.to_pylist()
        unseen = {row["device_id"] for row in rows} - vehicles.keys()
        if unseen:
            found = repository.vehicles_by_device(session, unseen)
            vehicles.update({device_id: found.get(device_id) for device_id in unseen})
        values = []
        for row in rows:
            vehicle = vehicles[row["device_id"]]
            if vehicle is None or vehicle[1] != part.tenant_id:
                skipped += 1
                continue
            values.append(_database_row(table, row, *vehicle))
        kept += len(values)
        inserted += repository.insert_missing(session, table, values)
    return kept, inserted, skipped


def restore_day(
    session: Session,
    store: BlobStore,
    table: ArchivedTable,
    day: date,
    batch_rows: int,
    tenant_id: int | None = None,
) -> RestoreResult:
    """Insert the archived rows of (table, day), of one tenant or all, that the database lacks (not committed).

    A tenant's only part, restored whole, is marked not purged again: the database holds its rows once more, so
    retention removes them as it did the first time rather than finding rows the archive seems to lack. (With
    several parts, a tenant keeps them purged, as at most one part may be not purged: retention then finds the
    rows, the day is exported again, and the next part holds a second copy of them.)

    `NotFound` when the day has no manifest; `Invalid` when a part differs from the manifest.
    """
    listed = manifest.parse_parts(store.get_bytes(manifest_key(table, day)))
    parts = [part for part in listed if tenant_id is None or part.tenant_id == tenant_id]
    if table.partitioned:
        ensure_partitions(session.connection(), table.name, [day])
    single = Counter(part.tenant_id for part in parts)
    vehicles: dict[str, tuple[int, int] | None] = {}
    whole = []
    kept = inserted = skipped = 0
    for part in parts:
        part_kept, part_inserted, part_skipped = _restore_part(session, store, table, part, batch_rows, vehicles)
        kept, inserted, skipped = kept + part_kept, inserted + part_inserted, skipped + part_skipped
        if single[part.tenant_id] == 1 and part_kept == part.rows:
            whole.append(part.tenant_id)
    repository.unpurge(session, table, day, whole)
    return RestoreResult(table.name, day, len(parts), inserted, kept - inserted, skipped)


def restore(
    sessions: sessionmaker[Session],
    store: BlobStore,
    day: date,
    batch_rows: int,
    *,
    tables: Iterable[str] | None = None,
    tenant_id: int | None = None,
) -> Iterator[RestoreResult]:
    """Restore `day` of each table (all, or `tables`), one transaction per table; a table never archived that day
    is skipped, unless it was asked for by name (`NotFound`)."""
    for table in ARCHIVED_TABLES.values() if tables is None else [ARCHIVED_TABLES[name] for name in tables]:
        if store.head(manifest_key(table, day)) is None:
            if tables is not None:
                raise NotFound(f"{table.name} of {day} is not in the archive")
            continue
        with sessions() as session:
            result = restore_day(session, store, table, day, batch_rows, tenant_id)
            session.commit()
        yield result
