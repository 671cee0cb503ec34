"""The unit's uploads against real object storage (SeaweedFS): presigned PUTs, parts, cut uploads, refusals."""

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from fleet.blobs.s3 import S3BlobStore
from fleet.blobs.store import MIN_PART_BYTES
from fleet.contract.downlink import FileGrant, FileVerified, SignedRequest
from fleet.contract.records import FileRecord, Record
from fleet.contract.topics import Stream
from tests.fixtures.s3 import SeaweedServer
from tests.vehicle_sim.backend import Backend, s3_store
from tests.vehicle_sim.helpers import Clock, InlineExecutor, Script, recording
from vehicle_sim.files import FileUnit
from vehicle_sim.recordings import Recording
from vehicle_sim.upload import Piece, UploadError, pieces, send

pytestmark = pytest.mark.integration

DEVICE = "sim-0001"
# S3's smallest part, and a file of two full parts and a short last one.
PART = MIN_PART_BYTES
LARGE = 2 * PART + 1024**2


@pytest.fixture(scope="module")
def store(s3: SeaweedServer) -> S3BlobStore:
    """The S3 store on a fresh bucket of the session's SeaweedFS."""
    return s3_store(s3, s3.create_bucket())


def offered(file: Recording) -> FileRecord:
    return file.record("offered", datetime.now(UTC), 0)


class Flow:
    """A FileUnit and a Backend on real S3, answered in turn: each `step` is one second of the unit's time."""

    def __init__(self, backend: Backend, upload: Callable[..., int] = send) -> None:
        self.backend = backend
        self.clock = Clock(datetime.now(UTC))
        self.script = Script()
        self.sent: list[FileRecord] = []
        self._answered = 0
        self.unit = FileUnit(
            DEVICE,
            self.script.due,
            self._send_record,
            InlineExecutor(),
            threading.Event(),
            self.clock,
            random.Random(1),
            0.0,
            upload=upload,
        )

    def _send_record(self, stream: Stream, record: Record, covered: bool) -> None:
        assert isinstance(record, FileRecord)
        self.sent.append(record)

    def run(self, file: Recording, seconds: int = 120) -> list[str]:
        """Record `file` and go on until the unit is done with it; the states it reported."""
        self.script.files.append(file)
        for _ in range(seconds):
            self.unit.tick(self.clock.advance(1), covered=True)
            while self._answered < len(self.sent):
                answer = self.backend.answer(self.sent[self._answered])
                self._answered += 1
                if answer is not None:
                    self.unit.answer(answer)
            if file.file_id not in self.unit.phases():
                break
        return [record.state for record in self.sent if record.file_id == file.file_id]


def test_a_single_put_stores_the_bytes(store: S3BlobStore) -> None:
    file = recording("put-1", 300_000)
    backend = Backend(store, DEVICE)
    grant = backend.grant(offered(file))
    assert grant.upload is not None

    assert send(pieces(grant, file.size_bytes), file.read()) == file.size_bytes

    info = store.head(backend.keys["put-1"])
    assert info is not None and info.size == file.size_bytes and info.content_type == "application/octet-stream"
    assert store.sha256(backend.keys["put-1"]) == file.sha256


def test_a_multipart_upload_in_five_mib_parts(store: S3BlobStore) -> None:
    file = recording("multi-1", LARGE)
    backend = Backend(store, DEVICE, multipart_from=PART)
    grant = backend.grant(offered(file))
    assert grant.multipart is not None
    plan = pieces(grant, file.size_bytes)
    assert [(p.start, p.stop) for p in plan] == [(0, PART), (PART, 2 * PART), (2 * PART, LARGE)]

    assert send(plan, file.read()) == LARGE

    assert backend.check(file.record("uploaded", datetime.now(UTC), 1)) == FileVerified(file_id="multi-1")
    assert store.sha256(backend.keys["multi-1"]) == file.sha256


def test_an_interrupted_multipart_upload_resumes_with_only_the_missing_parts(store: S3BlobStore) -> None:
    attempts: list[tuple[list[int], int | None, int]] = []

    def cut_the_first(
        plan: Sequence[Piece], data: bytes, cut_after: int | None, halted: Callable[[], str | None]
    ) -> int:
        # The first attempt loses the link after half of its bytes, in the middle of part 2.
        cut = LARGE // 2 if not attempts else None
        parts = [getattr(piece.request, "part_number", 0) for piece in plan]
        attempts.append((parts, cut, sum(piece.stop - piece.start for piece in plan)))
        return send(plan, data, cut, halted)

    backend = Backend(store, DEVICE, multipart_from=PART)
    flow = Flow(backend, cut_the_first)
    file = recording("resume-1", LARGE)

    assert flow.run(file) == ["offered", "offered", "uploaded"]

    assert attempts == [([1, 2, 3], LARGE // 2, LARGE), ([2, 3], None, LARGE - PART)]
    first, second = (grant.multipart for grant in backend.grants)
    assert first is not None and first.stored_parts == []
    assert second is not None and second.stored_parts == [1]
    assert store.sha256(backend.keys["resume-1"]) == file.sha256
    assert flow.unit.phases() == {}


def test_a_single_put_cut_stores_nothing_and_is_sent_again_whole(store: S3BlobStore) -> None:
    cuts: list[int | None] = []
    errors: list[str] = []

    def cut_the_first(
        plan: Sequence[Piece], data: bytes, cut_after: int | None, halted: Callable[[], str | None]
    ) -> int:
        cut = len(data) // 2 if not cuts else None
        cuts.append(cut)
        try:
            return send(plan, data, cut, halted)
        except UploadError as error:
            errors.append(str(error))
            assert store.head(backend.keys["cut-1"]) is None
            raise

    backend = Backend(store, DEVICE)
    flow = Flow(backend, cut_the_first)

    assert flow.run(recording("cut-1", 200_000)) == ["offered", "offered", "uploaded"]
    assert cuts == [100_000, None]
    assert errors == ["connection lost after 100000 of 200000 bytes (a 3G drop-out)"]


def forged(request: SignedRequest) -> SignedRequest:
    """The request with its signature changed in its last digit."""
    last = request.url[-1]
    return request.model_copy(update={"url": request.url[:-1] + ("0" if last != "0" else "1")})


def test_a_forged_url_is_refused_and_the_unit_offers_again_for_a_fresh_grant(store: S3BlobStore) -> None:
    failures: list[str] = []

    def recording_failures(
        plan: Sequence[Piece], data: bytes, cut_after: int | None, halted: Callable[[], str | None]
    ) -> int:
        try:
            return send(plan, data, cut_after, halted)
        except UploadError as error:
            failures.append(str(error))
            raise

    class ForgingFirst(Backend):
        def grant(self, record: FileRecord) -> FileGrant:
            grant = super().grant(record)
            if self.grants or grant.upload is None:
                return grant
            return grant.model_copy(update={"upload": forged(grant.upload)})

    backend = ForgingFirst(store, DEVICE)
    flow = Flow(backend, recording_failures)
    file = recording("forged-1", 50_000)

    assert flow.run(file) == ["offered", "offered", "uploaded"]
    assert len(failures) == 1 and failures[0].startswith("HTTP 403")
    assert store.sha256(backend.keys["forged-1"]) == file.sha256


@pytest.mark.parametrize("fault", ["forged", "expired"])
def test_refused_urls_fail_the_upload_with_the_status(store: S3BlobStore, fault: str) -> None:
    file = recording(f"refused-{fault}", 10_000)
    backend = Backend(store, DEVICE, expires=timedelta(seconds=1))
    grant = backend.grant(offered(file))
    assert grant.upload is not None
    request = grant.upload
    if fault == "forged":
        request = forged(request)
    else:
        time.sleep(max(0.0, (request.expires_at - datetime.now(UTC)).total_seconds()) + 1.2)

    with pytest.raises(UploadError, match=r"^HTTP 403 "):
        send([Piece(request, 0, file.size_bytes)], file.read())
    assert store.head(backend.keys[file.file_id]) is None
