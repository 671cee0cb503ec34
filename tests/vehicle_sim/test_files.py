"""A bus unit's files: offered when recorded, uploaded when granted and covered, dropped once verified."""

import hashlib
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fleet.contract.downlink import FileGrant, FileRefused, FileVerified, SignedRequest
from fleet.contract.records import FileRecord, Record
from fleet.contract.topics import Stream
from tests.vehicle_sim.helpers import Clock, InlineExecutor, Script, recording
from vehicle_sim.files import MAX_FILES, FileUnit
from vehicle_sim.transfer import MAX_UPLOAD_ATTEMPTS, Phase
from vehicle_sim.upload import Piece, UploadError

START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
DEVICE = "sim-0001"


@dataclass
class Call:
    """One call of the uploader."""

    plan: list[Piece]
    data: bytes
    cut_after: int | None


@dataclass
class FakeUploader:
    """Records its calls; fails the first `failures` of them."""

    failures: int = 0
    calls: list[Call] = field(default_factory=list)
    during: Callable[[], None] = lambda: None

    def __call__(
        self, plan: Sequence[Piece], data: bytes, cut_after: int | None, halted: Callable[[], str | None]
    ) -> int:
        self.calls.append(Call(list(plan), data, cut_after))
        self.during()
        if (reason := halted()) is not None:
            raise UploadError(f"stopped: {reason}")
        if len(self.calls) <= self.failures:
            raise UploadError("HTTP 503 Service Unavailable: SlowDown")
        return len(data)


@dataclass
class Unit:
    """A FileUnit with a fake clock, the uploads run inline, and what it sends collected."""

    script: Script
    clock: Clock
    uploader: FakeUploader
    stop: threading.Event
    sent: list[tuple[FileRecord, bool]]
    files: FileUnit

    def records(self, file_id: str) -> list[FileRecord]:
        return [record for record, _ in self.sent if record.file_id == file_id]

    def states(self, file_id: str) -> list[str]:
        return [record.state for record in self.records(file_id)]

    def tick(self, seconds: float = 1.0, covered: bool = True) -> None:
        self.files.tick(self.clock.advance(seconds), covered)


def make_unit(uploader: FakeUploader | None = None, interrupt_probability: float = 0.0) -> Unit:
    script, clock, stop = Script(), Clock(START), threading.Event()
    sent: list[tuple[FileRecord, bool]] = []
    uploader = uploader or FakeUploader()

    def send_record(stream: Stream, record: Record, covered: bool) -> None:
        assert stream is Stream.FILE and isinstance(record, FileRecord)
        sent.append((record, covered))

    files = FileUnit(
        DEVICE,
        script.due,
        send_record,
        InlineExecutor(),
        stop,
        clock,
        random.Random(1),
        interrupt_probability,
        upload=uploader,
    )
    return Unit(script, clock, uploader, stop, sent, files)


def put_grant(file_id: str, expires_in: timedelta = timedelta(hours=1)) -> FileGrant:
    request = SignedRequest(url="http://s3.test/bucket/key", headers={}, expires_at=START + expires_in)
    return FileGrant(file_id=file_id, upload=request)


def test_a_file_goes_offered_uploaded_verified_and_is_dropped() -> None:
    unit = make_unit()
    clip = recording("clip-1", 300_000)
    unit.script.files.append(clip)

    unit.tick()
    [offered] = unit.records("clip-1")
    assert (offered.state, offered.size_bytes, offered.sha256, offered.kind) == (
        "offered",
        300_000,
        clip.sha256,
        "video",
    )

    unit.files.answer(put_grant("clip-1"))
    unit.tick()
    [call] = unit.uploader.calls
    assert [(p.start, p.stop) for p in call.plan] == [(0, 300_000)] and call.cut_after is None
    assert hashlib.sha256(call.data).hexdigest() == clip.sha256
    offered, uploaded = unit.records("clip-1")
    assert uploaded.state == "uploaded"
    assert uploaded.model_dump(exclude={"ts", "seq", "state"}) == offered.model_dump(exclude={"ts", "seq", "state"})

    unit.files.answer(FileVerified(file_id="clip-1"))
    assert unit.files.phases() == {}
    assert [r.seq for r, _ in unit.sent] == [0, 1]


def test_nothing_is_uploaded_while_the_bus_has_no_coverage() -> None:
    unit = make_unit()
    unit.script.files.append(recording("vu-1", 40_000, "tachograph_vu"))
    unit.tick(covered=False)
    assert unit.sent[0][1] is False  # the offer waits in the device's buffer

    unit.files.answer(put_grant("vu-1"))
    for _ in range(60):
        unit.tick(covered=False)
    assert unit.uploader.calls == []
    assert unit.states("vu-1") == ["offered"]

    unit.tick(covered=True)
    assert len(unit.uploader.calls) == 1
    assert unit.states("vu-1") == ["offered", "uploaded"]


def test_losing_coverage_mid_upload_stops_it_and_it_resumes_later() -> None:
    unit = make_unit()
    unit.uploader.during = lambda: unit.files.tick(unit.clock.now, covered=False)
    unit.script.files.append(recording("clip-2", 200_000))
    unit.tick()
    unit.files.answer(put_grant("clip-2"))
    unit.tick()

    assert len(unit.uploader.calls) == 1
    assert unit.files.phases() == {"clip-2": Phase.BACKING_OFF}

    unit.uploader.during = lambda: None
    for _ in range(5):
        unit.tick()
    assert unit.states("clip-2") == ["offered", "offered"]
    unit.files.answer(put_grant("clip-2"))
    unit.tick()
    assert unit.states("clip-2") == ["offered", "offered", "uploaded"]


def test_an_interrupted_upload_is_cut_after_about_half_its_bytes() -> None:
    unit = make_unit(interrupt_probability=1.0)
    unit.script.files.append(recording("clip-3", 400_000))
    unit.tick()
    unit.files.answer(put_grant("clip-3"))
    unit.tick()

    [call] = unit.uploader.calls
    assert call.cut_after is not None and 0.4 * 400_000 <= call.cut_after <= 0.6 * 400_000


def test_failed_uploads_are_offered_again_until_the_unit_gives_up() -> None:
    unit = make_unit(FakeUploader(failures=MAX_UPLOAD_ATTEMPTS))
    unit.script.files.append(recording("clip-4", 100_000))
    unit.tick()
    for _ in range(300):
        if unit.records("clip-4")[-1].state == "offered":
            unit.files.answer(put_grant("clip-4"))
        unit.tick()
        if unit.files.phases() == {}:
            break

    assert len(unit.uploader.calls) == MAX_UPLOAD_ATTEMPTS
    assert unit.states("clip-4") == ["offered"] * MAX_UPLOAD_ATTEMPTS + ["failed"]
    failed = unit.records("clip-4")[-1]
    assert failed.error is not None and "SlowDown" in failed.error


def test_a_refused_offer_is_logged_and_reported_failed() -> None:
    unit = make_unit()
    unit.script.files.append(recording("log-1", 10))
    unit.tick()
    unit.files.answer(FileRefused(file_id="log-1", error="file 'log-1' is stored with other contents"))

    assert unit.states("log-1") == ["offered", "failed"]
    assert unit.records("log-1")[-1].error == "refused: file 'log-1' is stored with other contents"
    assert unit.files.phases() == {}


def test_a_full_store_overwrites_the_oldest_file() -> None:
    unit = make_unit()
    unit.script.files.extend(recording(f"f-{n}", 10) for n in range(MAX_FILES + 1))
    unit.tick()

    assert len(unit.files.phases()) == MAX_FILES
    assert "f-0" not in unit.files.phases()
    assert unit.states("f-0") == ["offered", "failed"]
    assert unit.records("f-0")[-1].error == "unit storage full: overwritten by a newer file"


def test_an_upload_ending_after_the_stop_is_not_reported() -> None:
    unit = make_unit()
    unit.uploader.during = unit.stop.set
    unit.script.files.append(recording("clip-5", 100))
    unit.tick()
    unit.files.answer(put_grant("clip-5"))
    unit.tick()

    assert len(unit.uploader.calls) == 1
    assert unit.states("clip-5") == ["offered"]


def test_answers_for_files_it_does_not_hold_are_ignored() -> None:
    unit = make_unit()
    unit.files.answer(put_grant("unknown"))
    unit.files.answer(FileVerified(file_id="unknown"))
    unit.tick()
    assert unit.sent == [] and unit.uploader.calls == []
