"""The unit's file reports (stream `file`) applied to the files table, in ingest's batch transaction.

Each vehicle's reports are applied in (ts, seq) order, so a store-and-forward batch and a redelivery give the same
result as the live stream; every transition is idempotent (a report seen twice changes nothing the second time).

- `offered`: a new file gets its row (state offered, an answer due). An offer of a known file with the same size
  and SHA-256 asks again for an answer (a fresh grant, or `verified` when stored). The same id with other contents
  is taken as a new recording while the old one never reached the store (offered, rejected, failed); once bytes
  are stored (uploaded, verified) it is a conflict: a dead letter for the operator and an error answer for the unit.
- `uploaded`: an offered (or rejected, being retried) file moves to uploaded, for the worker to check. A report of a
  file never offered, or with other contents, is a dead letter.
- `failed`: the unit gave up on an offered file; its error is kept (the lifecycle job drops its upload and sets
  its retention).
- A file offered or uploaded again after a refusal loses the refusal's `retain_until`: only a verified, rejected or
  failed file is ever past its retention.

Nothing here touches the blob store: grants and checks need the network and are the worker's (fleet.files.transfer).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from fleet.blobs.keys import file_key
from fleet.contract.records import FileRecord
from fleet.contract.topics import Stream, uplink_topic
from fleet.db.models import File
from fleet.deadletters.service import Rejection
from fleet.files import repository
from fleet.files.states import FileState
from fleet.registry import repository as registry

# Dead-letter reasons of file reports (bounded: metric labels).
REASON_CONFLICT = "file_conflict"
REASON_UNKNOWN = "file_unknown"


@dataclass(frozen=True, slots=True)
class Report:
    """One `file` record of a vehicle, as ingest received it."""

    vehicle_id: int
    record: FileRecord
    received_at: datetime


def apply_reports(connection: Connection, reports: Sequence[Report]) -> list[Rejection]:
    """Apply `reports` in the caller's transaction; returns the dead letters of reports that cannot apply."""
    if not reports:
        return []
    rejections: list[Rejection] = []
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        vehicles = registry.devices_by_vehicle_id(session, {r.vehicle_id for r in reports})
        ordered = sorted(reports, key=lambda r: (r.vehicle_id, r.record.ts, r.record.seq))
        known = repository.files_of(session, {(r.vehicle_id, r.record.file_id) for r in ordered})
        for report in ordered:
            tenant_id, device_id = vehicles[report.vehicle_id]
            current = known.get((report.vehicle_id, report.record.file_id))
            problem = _apply(session, known, report, tenant_id, device_id, current)
            if problem:
                reason, detail = problem
                rejections.append(_rejection(report, tenant_id, device_id, reason, detail))
        # Releases the session's savepoint into ingest's transaction, which commits (or rolls back) the batch.
        session.commit()
    return rejections


def _apply(
    session: Session,
    known: dict[tuple[int, str], File],
    report: Report,
    tenant_id: int,
    device_id: str,
    current: File | None,
) -> tuple[str, str] | None:
    """Apply one report; a (reason, detail) when it is a dead letter."""
    record = report.record
    if record.state == "offered":
        if current is None:
            known[(report.vehicle_id, record.file_id)] = _new_file(session, report, tenant_id, device_id)
            return None
        return _offer_again(current, report)
    if current is None:
        return REASON_UNKNOWN, f"{record.state} report of file {record.file_id!r}, which was never offered"
    if not _same_contents(current, record):
        return REASON_CONFLICT, (
            f"{record.state} report of file {record.file_id!r} with size {record.size_bytes} and sha256 "
            f"{record.sha256.lower()}, offered as {current.size_bytes} bytes with sha256 {current.sha256}"
        )
    if record.state == "uploaded":
        if current.state in (FileState.OFFERED, FileState.REJECTED, FileState.FAILED):
            current.state = FileState.UPLOADED
            current.uploaded_at = report.received_at
            current.error = None
            current.retain_until = None  # a refusal's retention no longer applies: the check sets the file's
        return None
    if current.state == FileState.OFFERED:
        current.state = FileState.FAILED
        current.error = record.error or "the unit gave up without a reason"
        current.answer_due = False
    return None


def _new_file(session: Session, report: Report, tenant_id: int, device_id: str) -> File:
    record = report.record
    file = File(
        tenant_id=tenant_id,
        vehicle_id=report.vehicle_id,
        file_id=record.file_id,
        object_key=file_key(tenant_id, device_id, record.kind, record.ts, record.file_id),
        offered_at=record.ts,
        received_at=report.received_at,
        state=FileState.OFFERED,
        answer_due=True,
        legal_hold=False,
        attempts=0,
    )
    _describe(file, record)
    session.add(file)
    return file


def _offer_again(current: File, report: Report) -> tuple[str, str] | None:
    record = report.record
    if _same_contents(current, record):
        if current.state in (FileState.REJECTED, FileState.FAILED):
            current.state = FileState.OFFERED
            current.error = None
            current.retain_until = None  # else the lifecycle job could delete it once the refusal's time is up
        # Uploaded: the check under way answers. Otherwise: a fresh grant, or "verified".
        current.answer_due = current.state != FileState.UPLOADED
        current.answer_error = None
        return None
    if current.state in (FileState.OFFERED, FileState.REJECTED, FileState.FAILED):
        # Nothing of the old contents is stored: the unit recorded the file anew under the same id.
        _describe(current, record)
        current.state = FileState.OFFERED
        current.error = None
        current.retain_until = None
        current.answer_due = True
        current.answer_error = None
        return None
    detail = (
        f"file {record.file_id!r} is stored with sha256 {current.sha256} ({current.size_bytes} bytes); an offer with "
        f"sha256 {record.sha256.lower()} ({record.size_bytes} bytes) needs a new file_id"
    )
    current.answer_due = True
    current.answer_error = detail
    return REASON_CONFLICT, detail


def _describe(file: File, record: FileRecord) -> None:
    """Copy what the unit says of the file onto its row."""
    file.kind = record.kind
    file.name = record.name
    file.content_type = record.content_type
    file.size_bytes = record.size_bytes
    file.sha256 = record.sha256.lower()
    file.started_at = record.started_at
    file.ended_at = record.ended_at
    file.camera = record.camera
    file.driver_card_id = record.driver_card_id
    file.event_id = record.event_id
    file.command_id = record.command_id


def _same_contents(file: File, record: FileRecord) -> bool:
    return file.size_bytes == record.size_bytes and file.sha256 == record.sha256.lower()


def _rejection(report: Report, tenant_id: int, device_id: str, reason: str, detail: str) -> Rejection:
    payload = json.dumps(report.record.model_dump(mode="json", exclude_none=True), separators=(",", ":")).encode()
    return Rejection(uplink_topic(device_id, Stream.FILE), device_id, tenant_id, reason, detail, payload)
