"""The file flow against real PostgreSQL and SeaweedFS: reports applied as ingest does, grants, checks, retention."""

import hashlib
import json
import os
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine, select

from fleet.blobs.s3 import S3BlobStore
from fleet.blobs.store import BlobStore
from fleet.contract.downlink import FileGrant, FileGrantMessage, FileRefused, FileVerified, SignedRequest
from fleet.contract.records import FileRecord
from fleet.contract.topics import Stream
from fleet.db.engine import make_session_factory
from fleet.db.models import DeadLetter, File, OutboxMessage, Vehicle
from fleet.errors import NotFound
from fleet.files import transfer
from fleet.files.lifecycle import run_lifecycle
from fleet.files.reports import REASON_CONFLICT, REASON_UNKNOWN, Report, apply_reports
from fleet.files.states import FileState
from fleet.ports import free_port
from fleet.settings import FilesSettings
from fleet.streams import FILES
from ingest.batch import Rows
from ingest.store import Store
from tests.fixtures.factories import SeededTenant, seed_tenant
from tests.fixtures.s3 import REGION, SeaweedServer, s3_store_for

pytestmark = pytest.mark.integration

SETTINGS = FilesSettings(multipart_threshold_bytes=5 * 1024**2, part_size_bytes=5 * 1024**2, max_bytes=20 * 1024**2)
GRANTS: TypeAdapter[FileGrantMessage] = TypeAdapter(FileGrantMessage)
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture(scope="module")
def bucket(s3: SeaweedServer) -> str:
    """A fresh bucket for the module."""
    return s3.create_bucket()


@pytest.fixture
def store(s3: SeaweedServer, bucket: str) -> S3BlobStore:
    """The S3 store on the module's bucket."""
    return s3_store_for(s3, bucket)


@pytest.fixture
def tenant(pg_engine: Engine, unique: str) -> SeededTenant:
    """A tenant with one bus."""
    return seed_tenant(pg_engine, f"files-{unique}", [f"bus-{unique}"])


@pytest.fixture
def vehicle_id(pg_engine: Engine, tenant: SeededTenant) -> Iterator[int]:
    """The bus's vehicle id."""
    with make_session_factory(pg_engine)() as session:
        yield session.scalars(select(Vehicle.id).where(Vehicle.device_id == tenant.device_ids[0])).one()


def record(data: bytes, state: str = "offered", seq: int = 1, file_id: str = "clip-1", **extra: Any) -> FileRecord:
    """A `file` record of `data`."""
    return FileRecord(
        ts=T0 + timedelta(seconds=seq),
        seq=seq,
        file_id=file_id,
        state=state,
        kind=extra.pop("kind", "video"),
        name="front.mp4",
        size_bytes=extra.pop("size_bytes", len(data)),
        sha256=extra.pop("sha256", hashlib.sha256(data).hexdigest()),
        content_type="video/mp4",
        **extra,
    )


def apply(engine: Engine, vehicle_id: int, *records: FileRecord) -> list[str]:
    """Apply `records` as ingest does, in one transaction; the reasons of the dead letters."""
    with engine.begin() as connection:
        refused = apply_reports(connection, [Report(vehicle_id, r, datetime.now(UTC)) for r in records])
    return [r.reason for r in refused]


def work(engine: Engine, store: BlobStore, settings: FilesSettings = SETTINGS) -> transfer.PassCounts:
    """One worker pass, committed."""
    with make_session_factory(engine)() as session:
        counts = transfer.process(session, store, settings, 100, datetime.now(UTC))
        session.commit()
    return counts


def answers(engine: Engine, vehicle_id: int) -> list[FileGrantMessage]:
    """The file/grant messages queued for the vehicle, oldest first."""
    with make_session_factory(engine)() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.vehicle_id == vehicle_id, OutboxMessage.suffix == "file/grant")
            .order_by(OutboxMessage.id)
        )
        return [GRANTS.validate_json(row.payload) for row in rows]


def the_file(engine: Engine, vehicle_id: int, file_id: str = "clip-1") -> File:
    """The row of the vehicle's file."""
    with make_session_factory(engine)() as session:
        return session.scalars(select(File).where(File.vehicle_id == vehicle_id, File.file_id == file_id)).one()


def put(request: SignedRequest, body: bytes) -> int:
    """Make the signed request, as a unit does; its status."""
    http = urllib.request.Request(request.url, data=body, method=request.method, headers=request.headers)
    try:
        with urllib.request.urlopen(http, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_offer_grant_upload_verify(pg_engine: Engine, store: S3BlobStore, vehicle_id: int) -> None:
    data = os.urandom(300_000)
    assert apply(pg_engine, vehicle_id, record(data)) == []
    assert work(pg_engine, store).granted == 1

    (grant,) = answers(pg_engine, vehicle_id)
    assert isinstance(grant, FileGrant) and grant.upload is not None
    assert put(grant.upload, data) == 200
    assert the_file(pg_engine, vehicle_id).state == FileState.OFFERED

    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=2))
    assert work(pg_engine, store).verified == 1

    file = the_file(pg_engine, vehicle_id)
    assert file.state == FileState.VERIFIED
    assert store.sha256(file.object_key) == hashlib.sha256(data).hexdigest()
    assert file.retain_until == T0 + timedelta(seconds=1) + timedelta(days=SETTINGS.retention_video_days)
    assert isinstance(answers(pg_engine, vehicle_id)[-1], FileVerified)


def test_a_repeated_offer_of_a_verified_file_is_answered_verified(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    data = os.urandom(1000)
    apply(pg_engine, vehicle_id, record(data))
    work(pg_engine, store)
    grant = answers(pg_engine, vehicle_id)[0]
    assert isinstance(grant, FileGrant) and grant.upload
    put(grant.upload, data)
    # Redelivered reports change nothing.
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=2), record(data, "uploaded", seq=2))
    work(pg_engine, store)

    apply(pg_engine, vehicle_id, record(data, seq=3))
    work(pg_engine, store)

    assert [type(a) for a in answers(pg_engine, vehicle_id)] == [FileGrant, FileVerified, FileVerified]
    assert the_file(pg_engine, vehicle_id).state == FileState.VERIFIED


def test_wrong_bytes_are_rejected_and_deleted(pg_engine: Engine, store: S3BlobStore, vehicle_id: int) -> None:
    offered = os.urandom(2000)
    apply(pg_engine, vehicle_id, record(offered))
    work(pg_engine, store)
    grant = answers(pg_engine, vehicle_id)[0]
    assert isinstance(grant, FileGrant) and grant.upload
    # The presigned PUT carries the length and checksum: other bytes of the same length are refused by S3 itself.
    assert put(grant.upload, os.urandom(2000)) >= 400
    apply(pg_engine, vehicle_id, record(offered, "uploaded", seq=2))

    assert work(pg_engine, store).rejected == 1
    file = the_file(pg_engine, vehicle_id)
    assert file.state == FileState.REJECTED
    assert file.error and "no object" in file.error
    assert store.head(file.object_key) is None
    refusal = answers(pg_engine, vehicle_id)[-1]
    assert isinstance(refusal, FileRefused) and "rejected" in refusal.error


def grant_for(engine: Engine, store: BlobStore, vehicle_id: int, *records: FileRecord) -> FileGrant:
    """Apply the unit's `records` (an offer), run a worker pass; the grant it answered with."""
    assert apply(engine, vehicle_id, *records) == []
    work(engine, store)
    grant = answers(engine, vehicle_id)[-1]
    assert isinstance(grant, FileGrant), grant
    return grant


def assert_rejected(engine: Engine, store: BlobStore, vehicle_id: int, file_id: str, reason: str) -> None:
    """The file is rejected for `reason` (kept 30 days to show it), its object deleted, and the unit told."""
    before = datetime.now(UTC)
    assert work(engine, store).rejected == 1
    file = the_file(engine, vehicle_id, file_id)
    assert file.state == FileState.REJECTED and file.upload_id is None
    assert file.error and reason in file.error
    assert file.retain_until and before + timedelta(days=30) <= file.retain_until
    assert file.retain_until <= datetime.now(UTC) + timedelta(days=30)
    assert store.head(file.object_key) is None
    refusal = answers(engine, vehicle_id)[-1]
    assert isinstance(refusal, FileRefused) and refusal.file_id == file_id
    assert refusal.error == f"upload rejected: {file.error}; offer the file again"


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (lambda offered: offered[:-1], "the store holds 1999 bytes, the unit offered 2000"),
        (lambda offered: bytes(b ^ 1 for b in offered), "the stored bytes have sha256 "),
    ],
    ids=["wrong-size", "wrong-sha256"],
)
def test_a_stored_object_of_other_bytes_is_rejected_and_deleted(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int, stored: Any, reason: str
) -> None:
    offered = os.urandom(2000)
    grant_for(pg_engine, store, vehicle_id, record(offered))
    # What a store that checks nothing (or a unit writing with credentials of its own) would hold.
    store.put_bytes(the_file(pg_engine, vehicle_id).object_key, stored(offered))
    apply(pg_engine, vehicle_id, record(offered, "uploaded", seq=2))

    assert_rejected(pg_engine, store, vehicle_id, "clip-1", reason)
    # The unit offers again and gets a fresh grant; the right bytes are then verified.
    again = grant_for(pg_engine, store, vehicle_id, record(offered, seq=3))
    assert again.upload and put(again.upload, offered) == 200
    apply(pg_engine, vehicle_id, record(offered, "uploaded", seq=4))
    assert work(pg_engine, store).verified == 1


@pytest.mark.parametrize("damage", ["corrupted-part", "missing-part"])
def test_a_multipart_upload_of_other_bytes_is_rejected_and_deleted(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int, damage: str
) -> None:
    data = os.urandom(SETTINGS.part_size_bytes + 1000)
    offer = record(data, file_id="vu-2", kind="tachograph_vu")
    grant = grant_for(pg_engine, store, vehicle_id, offer)
    assert grant.multipart and [p.part_number for p in grant.multipart.parts] == [1, 2]
    size = grant.multipart.part_size_bytes
    first, second = grant.multipart.parts
    # A part's URL binds its length, not its bytes: a flipped bit in transit is stored as sent.
    assert put(first, data[:size] if damage == "missing-part" else bytes([data[0] ^ 1]) + data[1:size]) == 200
    if damage == "corrupted-part":
        assert put(second, data[size:]) == 200
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=2, file_id="vu-2", kind="tachograph_vu"))
    upload_id = the_file(pg_engine, vehicle_id, "vu-2").upload_id
    assert upload_id

    reason = "the stored bytes have sha256" if damage == "corrupted-part" else f"parts hold {size} bytes"
    assert_rejected(pg_engine, store, vehicle_id, "vu-2", reason)
    with pytest.raises(NotFound):  # completed into the object, or aborted: no parts left in the bucket
        store.list_parts(the_file(pg_engine, vehicle_id, "vu-2").object_key, upload_id)


def test_reused_file_id_with_other_contents_is_a_conflict(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    data = os.urandom(500)
    apply(pg_engine, vehicle_id, record(data))
    work(pg_engine, store)
    grant = answers(pg_engine, vehicle_id)[0]
    assert isinstance(grant, FileGrant) and grant.upload
    put(grant.upload, data)
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=2))
    work(pg_engine, store)

    assert apply(pg_engine, vehicle_id, record(os.urandom(500), seq=3)) == [REASON_CONFLICT]
    work(pg_engine, store)

    refusal = answers(pg_engine, vehicle_id)[-1]
    assert isinstance(refusal, FileRefused) and "new file_id" in refusal.error
    assert the_file(pg_engine, vehicle_id).sha256 == hashlib.sha256(data).hexdigest()


def test_ingest_writes_refused_reports_as_dead_letters(
    pg_engine: Engine, tenant: SeededTenant, vehicle_id: int
) -> None:
    ghost = record(b"x", "uploaded", file_id="ghost")
    rows = Rows(series={Stream.FILE: [FILES.row(vehicle_id, ghost, datetime.now(UTC))]})

    with pg_engine.begin() as connection:
        counts, _ = Store(pg_engine).write(connection, rows)

    assert [r.reason for r in counts.refused_reports] == [REASON_UNKNOWN]
    with make_session_factory(pg_engine)() as session:
        letters = session.scalars(select(DeadLetter).where(DeadLetter.device_id == tenant.device_ids[0])).all()
    assert [(d.reason, d.topic, d.tenant_id) for d in letters] == [
        (REASON_UNKNOWN, f"fleet/v1/{tenant.device_ids[0]}/file", tenant.id)
    ]
    assert json.loads(letters[0].payload)["file_id"] == "ghost"


def test_an_upload_report_of_a_file_never_offered_is_a_dead_letter(pg_engine: Engine, vehicle_id: int) -> None:
    assert apply(pg_engine, vehicle_id, record(b"x", "uploaded", file_id="ghost")) == [REASON_UNKNOWN]


def test_an_offer_above_the_limit_is_refused(pg_engine: Engine, store: S3BlobStore, vehicle_id: int) -> None:
    apply(pg_engine, vehicle_id, record(b"", size_bytes=SETTINGS.max_bytes + 1, sha256="0" * 64))

    assert work(pg_engine, store).refused == 1
    file = the_file(pg_engine, vehicle_id)
    assert file.state == FileState.REJECTED and "above the limit" in (file.error or "")
    assert isinstance(answers(pg_engine, vehicle_id)[-1], FileRefused)


def test_an_interrupted_multipart_upload_resumes_with_the_missing_parts(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    data = os.urandom(11 * 1024**2)
    apply(pg_engine, vehicle_id, record(data, file_id="vu-1", kind="tachograph_vu"))
    work(pg_engine, store)
    first = answers(pg_engine, vehicle_id)[-1]
    assert isinstance(first, FileGrant) and first.multipart
    assert [p.part_number for p in first.multipart.parts] == [1, 2, 3]
    size = first.multipart.part_size_bytes
    assert put(first.multipart.parts[0], data[:size]) == 200
    # The connection drops; the unit offers again and gets only what is missing.
    apply(pg_engine, vehicle_id, record(data, seq=2, file_id="vu-1", kind="tachograph_vu"))
    work(pg_engine, store)

    second = answers(pg_engine, vehicle_id)[-1]
    assert isinstance(second, FileGrant) and second.multipart
    assert second.multipart.stored_parts == [1]
    for part in second.multipart.parts:
        start = (part.part_number - 1) * size
        assert put(part, data[start : start + size]) == 200
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=3, file_id="vu-1", kind="tachograph_vu"))

    assert work(pg_engine, store).verified == 1
    file = the_file(pg_engine, vehicle_id, "vu-1")
    assert file.state == FileState.VERIFIED and file.upload_id is None
    assert store.sha256(file.object_key) == hashlib.sha256(data).hexdigest()


def test_store_down_delays_files_and_verifies_nothing(
    pg_engine: Engine, s3: SeaweedServer, bucket: str, store: S3BlobStore, vehicle_id: int
) -> None:
    data = os.urandom(700)
    apply(pg_engine, vehicle_id, record(data))
    work(pg_engine, store)
    grant = answers(pg_engine, vehicle_id)[0]
    assert isinstance(grant, FileGrant) and grant.upload
    put(grant.upload, data)
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=2))
    down = S3BlobStore(
        bucket,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region=REGION,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        max_attempts=1,
    )

    assert work(pg_engine, down).unavailable == 1
    file = the_file(pg_engine, vehicle_id)
    assert file.state == FileState.UPLOADED and file.attempts == 1

    assert work(pg_engine, store).verified == 1


def test_retention_deletes_expired_files_but_not_held_ones(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    for file_id in ("old", "held"):
        store.put_bytes(f"tenants/1/devices/x/video/2020/01/01/{file_id}", b"bytes")
        apply(pg_engine, vehicle_id, record(b"bytes", file_id=file_id))
    with make_session_factory(pg_engine)() as session:
        for file in session.scalars(select(File).where(File.vehicle_id == vehicle_id)):
            file.object_key = f"tenants/1/devices/x/video/2020/01/01/{file.file_id}"
            file.state, file.answer_due = FileState.VERIFIED, False
            file.retain_until = datetime.now(UTC) - timedelta(days=1)
            file.legal_hold = file.file_id == "held"
        session.commit()

    with make_session_factory(pg_engine)() as session:
        counts = run_lifecycle(session, store, SETTINGS, 100, datetime.now(UTC))
        session.commit()

    assert counts.deleted == 1
    assert store.head("tenants/1/devices/x/video/2020/01/01/old") is None
    assert store.head("tenants/1/devices/x/video/2020/01/01/held") is not None
    with make_session_factory(pg_engine)() as session:
        assert session.scalars(select(File.file_id).where(File.vehicle_id == vehicle_id)).all() == ["held"]


@pytest.mark.parametrize(
    ("kind", "days", "started_at"),
    [
        ("tachograph_vu", 730, None),
        ("tachograph_card", 730, None),
        ("video", 30, T0 - timedelta(hours=2)),
        ("image", 30, None),
        ("log", 90, None),
    ],
)
def test_a_verified_file_is_kept_as_long_as_its_kind_asks(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int, kind: str, days: int, started_at: datetime | None
) -> None:
    assert SETTINGS.retention_days(kind) == days  # FilesSettings' defaults (the README's configuration table)
    data = os.urandom(100)
    offer = record(data, file_id="f-1", kind=kind, started_at=started_at, driver_card_id="C1")
    grant = grant_for(pg_engine, store, vehicle_id, offer)
    assert grant.upload and put(grant.upload, data) == 200
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=2, file_id="f-1", kind=kind))

    assert work(pg_engine, store).verified == 1
    # From the recording's start when the unit gives it, else from the offer.
    assert the_file(pg_engine, vehicle_id, "f-1").retain_until == (started_at or offer.ts) + timedelta(days=days)


def lifecycle(engine: Engine, store: BlobStore, now: datetime) -> None:
    """One lifecycle run at `now`, committed (its counts include other tests' files: the rows tell)."""
    with make_session_factory(engine)() as session:
        run_lifecycle(session, store, SETTINGS, 1000, now)
        session.commit()


def multipart_offer(engine: Engine, store: S3BlobStore, vehicle_id: int) -> tuple[FileRecord, str]:
    """A large file offered and granted: a multipart upload under way in the store, nothing uploaded; its id."""
    offer = record(b"", file_id="big-1", size_bytes=SETTINGS.multipart_threshold_bytes, sha256="a" * 64)
    assert grant_for(engine, store, vehicle_id, offer).multipart
    upload_id = the_file(engine, vehicle_id, "big-1").upload_id
    assert upload_id
    return offer, upload_id


def test_a_unit_giving_up_fails_the_file_which_is_kept_then_deleted(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    offer, upload_id = multipart_offer(pg_engine, store, vehicle_id)
    failed = offer.model_copy(update={"state": "failed", "seq": 2, "ts": offer.ts + timedelta(seconds=1)})

    assert apply(pg_engine, vehicle_id, failed.model_copy(update={"error": "card removed"})) == []
    sent = len(answers(pg_engine, vehicle_id))
    work(pg_engine, store)

    file = the_file(pg_engine, vehicle_id, "big-1")
    assert (file.state, file.error, file.answer_due) == (FileState.FAILED, "card removed", False)
    assert len(answers(pg_engine, vehicle_id)) == sent  # nothing more to tell the unit
    now = datetime.now(UTC)
    lifecycle(pg_engine, store, now)
    # Its upload's parts are dropped, and the failure stays visible as long as a refusal does.
    file = the_file(pg_engine, vehicle_id, "big-1")
    assert file.upload_id is None and file.retain_until == now + timedelta(days=SETTINGS.retention_refused_days)
    with pytest.raises(NotFound):
        store.list_parts(file.object_key, upload_id)
    lifecycle(pg_engine, store, file.retain_until + timedelta(seconds=1))
    with make_session_factory(pg_engine)() as session:
        assert session.scalars(select(File).where(File.vehicle_id == vehicle_id)).all() == []


def test_an_offer_never_uploaded_is_abandoned_after_the_set_hours(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    _, upload_id = multipart_offer(pg_engine, store, vehicle_id)
    received_at = the_file(pg_engine, vehicle_id, "big-1").received_at
    hours = timedelta(hours=SETTINGS.abandon_after_hours)
    assert hours == timedelta(days=7)

    lifecycle(pg_engine, store, received_at + hours - timedelta(minutes=1))
    assert the_file(pg_engine, vehicle_id, "big-1").state == FileState.OFFERED
    later = received_at + hours + timedelta(minutes=1)
    lifecycle(pg_engine, store, later)

    file = the_file(pg_engine, vehicle_id, "big-1")
    assert (file.state, file.error) == (FileState.FAILED, "never uploaded within 168 hours of the offer")
    assert file.upload_id is None and not file.answer_due
    assert file.retain_until == later + timedelta(days=SETTINGS.retention_refused_days)
    with pytest.raises(NotFound):
        store.list_parts(file.object_key, upload_id)


def age(engine: Engine, vehicle_id: int, file_id: str, **times: datetime) -> None:
    """Set times of a file's row, as if they had passed."""
    with make_session_factory(engine)() as session:
        file = session.scalars(select(File).where(File.vehicle_id == vehicle_id, File.file_id == file_id)).one()
        for name, value in times.items():
            setattr(file, name, value)
        session.commit()


def test_a_refused_file_offered_again_is_not_deleted_while_it_is_uploaded(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    data = os.urandom(300)
    grant_for(pg_engine, store, vehicle_id, record(data))
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=2))  # nothing stored: rejected
    assert work(pg_engine, store).rejected == 1
    # The unit comes back once the refusal's retention is over and offers the file again.
    age(pg_engine, vehicle_id, "clip-1", retain_until=datetime.now(UTC) - timedelta(days=1))
    grant = grant_for(pg_engine, store, vehicle_id, record(data, seq=3))

    lifecycle(pg_engine, store, datetime.now(UTC))
    file = the_file(pg_engine, vehicle_id)  # still there
    assert (file.state, file.retain_until) == (FileState.OFFERED, None)
    assert grant.upload and put(grant.upload, data) == 200
    apply(pg_engine, vehicle_id, record(data, "uploaded", seq=4))
    assert work(pg_engine, store).verified == 1


def test_an_offer_made_again_counts_its_hours_from_the_new_grant(
    pg_engine: Engine, store: S3BlobStore, vehicle_id: int
) -> None:
    data = os.urandom(300)
    grant_for(pg_engine, store, vehicle_id, record(data))
    apply(pg_engine, vehicle_id, record(data, "failed", seq=2, error="no network"))
    week_ago = datetime.now(UTC) - timedelta(hours=SETTINGS.abandon_after_hours + 1)
    age(pg_engine, vehicle_id, "clip-1", received_at=week_ago, granted_at=week_ago)

    grant_for(pg_engine, store, vehicle_id, record(data, seq=3))

    lifecycle(pg_engine, store, datetime.now(UTC))
    assert the_file(pg_engine, vehicle_id).state == FileState.OFFERED


def test_the_grant_schema_is_published(tmp_path: Any) -> None:
    from fleet.contract.export import SCHEMA_DIR

    schema = json.loads((SCHEMA_DIR / "file-grant.json").read_text())
    assert schema["title"] == "fleet/v1/{device_id}/file/grant"
