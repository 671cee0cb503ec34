"""The worker's side of the file flow: answer offers with grants, check uploads, tell the unit the outcome.

Both steps run in the worker's transaction with the file's row locked, and talk to the blob store, never to MQTT:
answers go through the outbox (`fleet.outbox.service.enqueue`), which the dispatcher publishes. A store that is
unavailable leaves the file as it was (an answer still due, an upload still to check) for the next pass, so an
S3 outage delays files and loses none, and nothing is marked verified that the store does not hold.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from fleet.blobs.store import BlobStore, PresignedRequest
from fleet.contract.downlink import (
    FileGrant,
    FileGrantMessage,
    FileRefused,
    FileVerified,
    MultipartUpload,
    PartRequest,
    SignedRequest,
)
from fleet.db.models import File
from fleet.errors import NotFound, Unavailable
from fleet.files import repository
from fleet.files.states import FileState
from fleet.outbox import service as outbox
from fleet.settings import FilesSettings

logger = logging.getLogger(__name__)

GRANT_SUFFIX = "file/grant"
# An answer that is not a grant ("verified", an error) is worth delivering for a day: a unit back from a long
# outage offers again anyway.
ANSWER_LIFETIME = timedelta(days=1)


@dataclass(slots=True)
class PassCounts:
    """What one pass did, for the worker's metrics."""

    granted: int = 0
    refused: int = 0
    verified: int = 0
    rejected: int = 0
    unavailable: int = 0


def process(session: Session, store: BlobStore, settings: FilesSettings, limit: int, now: datetime) -> PassCounts:
    """Answer due offers and check uploads of up to `limit` files, in the caller's transaction."""
    counts = PassCounts()
    for file in repository.claim_work(session, limit):
        try:
            if file.state == FileState.UPLOADED:
                _check_upload(session, store, settings, file, now, counts)
            if file.answer_due:
                _answer(session, store, settings, file, now, counts)
        except Unavailable as error:
            file.attempts += 1
            counts.unavailable += 1
            logger.warning("file %s of vehicle %s waits for the store: %s", file.file_id, file.vehicle_id, error)
    session.flush()
    return counts


def _answer(
    session: Session, store: BlobStore, settings: FilesSettings, file: File, now: datetime, counts: PassCounts
) -> None:
    """Send the unit what it waits for: an error, `verified`, or a grant for the upload."""
    message: FileGrantMessage
    expires_at = now + ANSWER_LIFETIME
    if file.answer_error:
        message = FileRefused(file_id=file.file_id, error=file.answer_error)
        counts.refused += 1
    elif file.state == FileState.VERIFIED:
        message = FileVerified(file_id=file.file_id)
    elif file.size_bytes > settings.max_bytes:
        _reject(file, f"{file.size_bytes} bytes is above the limit of {settings.max_bytes}", settings, now)
        message = FileRefused(file_id=file.file_id, error=file.error or "")
        counts.refused += 1
    elif file.state == FileState.OFFERED:
        expires = timedelta(seconds=settings.grant_expiry_seconds)
        expires_at = now + expires
        message = _grant(store, settings, file, expires)
        file.granted_at = now
        counts.granted += 1
    else:
        file.answer_due = False
        return
    outbox.enqueue(session, repository.vehicle(session, file.vehicle_id), GRANT_SUFFIX, _json(message), expires_at)
    file.answer_due = False
    file.answer_error = None


def _grant(store: BlobStore, settings: FilesSettings, file: File, expires: timedelta) -> FileGrant:
    """One presigned PUT, or for a large file the parts still missing of its multipart upload."""
    if file.size_bytes < settings.multipart_threshold_bytes:
        put = store.presign_put(file.object_key, file.size_bytes, file.sha256, expires, file.content_type)
        return FileGrant(file_id=file.file_id, upload=SignedRequest(**_request(put)))
    stored = _stored_parts(store, file, settings)
    part_size = file.part_size_bytes or settings.part_size_bytes
    count = max(1, math.ceil(file.size_bytes / part_size))
    parts = []
    for number in range(1, count + 1):
        length = min(part_size, file.size_bytes - (number - 1) * part_size)
        if stored.get(number) == length:
            continue
        request = store.presign_part(file.object_key, file.upload_id or "", number, length, expires)
        parts.append(PartRequest(part_number=number, **_request(request)))
    upload = MultipartUpload(part_size_bytes=part_size, parts=parts, stored_parts=sorted(stored))
    return FileGrant(file_id=file.file_id, multipart=upload)


def _stored_parts(store: BlobStore, file: File, settings: FilesSettings) -> dict[int, int]:
    """Part number -> size of what the file's multipart upload holds; starts the upload when there is none."""
    if file.upload_id:
        try:
            return {part.part_number: part.size for part in store.list_parts(file.object_key, file.upload_id)}
        except NotFound:
            logger.info("multipart upload of file %s is gone; starting a new one", file.file_id)
    file.upload_id = store.start_multipart(file.object_key, file.content_type)
    file.part_size_bytes = settings.part_size_bytes
    return {}


def _check_upload(
    session: Session, store: BlobStore, settings: FilesSettings, file: File, now: datetime, counts: PassCounts
) -> None:
    """Join the parts of a multipart upload, then compare size and SHA-256 with the offer: verified or rejected."""
    problem = _complete(store, file) if file.upload_id else None
    if problem is None:
        info = store.head(file.object_key)
        if info is None:
            problem = "the unit reported the upload, but the store holds no object"
        elif info.size != file.size_bytes:
            problem = f"the store holds {info.size} bytes, the unit offered {file.size_bytes}"
        elif (digest := store.sha256(file.object_key)) != file.sha256:
            problem = f"the stored bytes have sha256 {digest}, the unit offered {file.sha256}"
    if problem:
        store.delete(file.object_key)
        _reject(file, problem, settings, now)
        file.answer_error = f"upload rejected: {problem}; offer the file again"
        counts.rejected += 1
    else:
        file.state = FileState.VERIFIED
        file.verified_at = now
        file.error = None
        file.retain_until = (file.started_at or file.offered_at) + timedelta(days=settings.retention_days(file.kind))
        counts.verified += 1
    file.answer_due = True


def _complete(store: BlobStore, file: File) -> str | None:
    """Complete the file's multipart upload; the problem when its parts do not make the offered size."""
    assert file.upload_id
    try:
        parts = store.list_parts(file.object_key, file.upload_id)
    except NotFound:
        # Completed in an earlier pass whose transaction did not commit: the object itself is checked next.
        file.upload_id = None
        return None
    held = sum(part.size for part in parts)
    if not parts or held != file.size_bytes:
        store.abort_multipart(file.object_key, file.upload_id)
        file.upload_id = None
        return f"the uploaded parts hold {held} bytes, the unit offered {file.size_bytes}"
    store.complete_multipart(file.object_key, file.upload_id, parts)
    file.upload_id = None
    return None


def _reject(file: File, reason: str, settings: FilesSettings, now: datetime) -> None:
    file.state = FileState.REJECTED
    file.error = reason
    file.retain_until = now + timedelta(days=settings.retention_refused_days)
    logger.info("file %s of vehicle %s rejected: %s", file.file_id, file.vehicle_id, reason)


def _request(request: PresignedRequest) -> dict[str, Any]:
    """The fields of a presigned PUT as the contract's request has them."""
    return {"url": request.url, "headers": request.headers, "expires_at": request.expires_at}


def _json(message: FileGrantMessage) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()
