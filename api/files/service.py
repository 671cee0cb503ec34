"""Files over HTTP: pages of the tenant's files, one file, its download (audited) and its legal hold (audited)."""

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from api.files import repository
from api.files.repository import FileFilter
from api.files.schemas import FileOut, FilePage, LegalHoldIn
from api.tenancy.service import Principal
from api.timeseries.window import decode_cursor, encode_cursor
from fleet.audit.service import AuditAction, record
from fleet.blobs.store import BlobStore, content_disposition
from fleet.db.models import File
from fleet.errors import Conflict, Invalid, NotFound
from fleet.files.states import FileState
from fleet.registry.service import find_vehicle_id

# Ids are signed 64-bit; a larger one is no file of anyone's, and never reaches the database.
MAX_ID = 2**63 - 1
# A download URL of S3 is used at once by the client that asked: a short life limits a leaked one.
DOWNLOAD_EXPIRY = timedelta(minutes=5)
# What a download name may not hold (fleet.blobs.store.check_filename); a unit's name may have quotes.
_UNSAFE_NAME_CHARACTERS = re.compile(r'[\x00-\x1f\x7f/\\"]')


def list_files(
    session: Session,
    tenant_id: int,
    *,
    device_id: str | None,
    kind: str | None,
    state: FileState | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> FilePage:
    """A page of the tenant's files (of one vehicle, kind or state; offered within [since, until)), newest first."""
    vehicle_id = find_vehicle_id(session, tenant_id, device_id) if device_id is not None else None
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise Invalid("since must be before until")
    where = FileFilter(vehicle_id, kind, state, since, until)
    after = decode_cursor(cursor) if cursor is not None else None
    rows = repository.files_page(session, tenant_id, where, after, limit + 1)
    page = rows[:limit]
    last = page[-1][0] if len(rows) > limit else None
    return FilePage(
        items=[FileOut.from_row(file, device) for file, device in page],
        next=encode_cursor(last.offered_at, last.id) if last is not None else None,
    )


def get_file(session: Session, tenant_id: int, file_id: int) -> FileOut:
    """One of the tenant's files."""
    return FileOut.from_row(*_find(session, tenant_id, file_id))


def start_download(session: Session, principal: Principal, file_id: int, range_header: str | None) -> File:
    """A verified file of the tenant about to be downloaded, the download recorded in the audit log."""
    file, device_id = _find(session, principal.tenant_id, file_id)
    if file.state != FileState.VERIFIED:
        raise Conflict(f"file {file_id} is {file.state}: only a verified file can be downloaded")
    record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        action=AuditAction.FILE_DOWNLOADED,
        target=str(file.id),
        detail={"device_id": device_id, "file_id": file.file_id, "kind": file.kind, "range": range_header},
    )
    return file


def download_url(store: BlobStore, file: File) -> str:
    """A short-lived URL of the store for the file's bytes, downloaded under the file's name."""
    return store.presign_get(file.object_key, expires=DOWNLOAD_EXPIRY, filename=download_name(file.name)).url


def download_headers(file: File) -> dict[str, str]:
    """Headers of a download served by the API: the name to save it as, and its SHA-256 as the ETag."""
    return {"Content-Disposition": content_disposition(download_name(file.name)), "ETag": f'"{file.sha256}"'}


def download_name(name: str) -> str:
    """The unit's file name with what a download name may not hold (quotes, slashes) replaced by `_`."""
    return _UNSAFE_NAME_CHARACTERS.sub("_", name)[:255] or "file"


def set_legal_hold(session: Session, principal: Principal, file_id: int, body: LegalHoldIn) -> FileOut:
    """Place or release a legal hold on one of the tenant's files; a change is recorded in the audit log."""
    file, device_id = _find(session, principal.tenant_id, file_id, lock=True)
    reason = body.reason if body.hold else None
    if (file.legal_hold, file.legal_hold_reason) != (body.hold, reason):
        file.legal_hold, file.legal_hold_reason = body.hold, reason
        record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.actor,
            action=AuditAction.FILE_LEGAL_HOLD,
            target=str(file.id),
            detail={"device_id": device_id, "file_id": file.file_id, "hold": body.hold, "reason": body.reason},
        )
        session.flush()
    return FileOut.from_row(file, device_id)


def _find(session: Session, tenant_id: int, file_id: int, lock: bool = False) -> tuple[File, str]:
    """The tenant's file and its device id; NotFound when unknown, another tenant's or out of range."""
    found = repository.file_of_tenant(session, tenant_id, file_id, lock) if 1 <= file_id <= MAX_ID else None
    if found is None:
        raise NotFound(f"no file {str(file_id)[:20]}")
    return found


def _utc(ts: datetime | None) -> datetime | None:
    try:
        return ts.astimezone(UTC) if ts is not None else None
    except OverflowError:
        raise Invalid("since/until out of the supported range of years 1 to 9999") from None
