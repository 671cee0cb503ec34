"""Retention of files: objects past their time are deleted, then their rows; a legal hold keeps both.

- A verified file is kept `retention_<kind>_days` from its time (`started_at`, else the offer), a rejected or
  failed one `retention_refused_days` from its refusal, so the operator sees why.
- An offer never uploaded within `abandon_after_hours` of its last grant (else its receipt) fails (its multipart
  parts are dropped); a file the unit reported `failed` has its parts dropped and its refusal's retention set here.
- The object goes first, the row after: a store that is down leaves both for the next run, never a row without
  its object being kept, nor an object nobody can find.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from fleet.blobs.store import BlobStore
from fleet.db.models import File
from fleet.errors import Unavailable
from fleet.files import repository
from fleet.files.states import FileState
from fleet.settings import FilesSettings

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class LifecycleCounts:
    """What one run did."""

    deleted: int = 0
    abandoned: int = 0
    unavailable: int = 0


def run_lifecycle(
    session: Session, store: BlobStore, settings: FilesSettings, limit: int, now: datetime
) -> LifecycleCounts:
    """Delete up to `limit` expired files and give up stale offers, in the caller's transaction."""
    counts = LifecycleCounts()
    for file in repository.expired(session, now, limit):
        try:
            if file.upload_id:
                store.abort_multipart(file.object_key, file.upload_id)
            store.delete(file.object_key)
        except Unavailable as error:
            counts.unavailable += 1
            logger.warning("file %s kept for now: the store is unavailable: %s", file.id, error)
            continue
        repository.remove(session, file.id)
        counts.deleted += 1
    stale_before = now - timedelta(hours=settings.abandon_after_hours)
    refused_until = now + timedelta(days=settings.retention_refused_days)
    for file in repository.abandoned(session, stale_before, limit):
        if not _settle(store, file, refused_until, counts):
            continue
        file.state = FileState.FAILED
        file.answer_due = False
        file.error = f"never uploaded within {settings.abandon_after_hours:g} hours of the offer"
        counts.abandoned += 1
    for file in repository.failed_unsettled(session, limit):
        _settle(store, file, refused_until, counts)
    session.flush()
    return counts


def _settle(store: BlobStore, file: File, retain_until: datetime, counts: LifecycleCounts) -> bool:
    """Drop a file's multipart parts and keep its row until `retain_until`; False while the store is unavailable."""
    try:
        if file.upload_id:
            store.abort_multipart(file.object_key, file.upload_id)
    except Unavailable:
        counts.unavailable += 1
        return False
    file.upload_id = None
    file.retain_until = retain_until
    return True
