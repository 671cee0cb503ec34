"""One file's upload on the unit, as a state machine in simulated time."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from fleet.contract.downlink import (
    FileGrant,
    FileRefused,
    FileVerified,
    MultipartUpload,
    PartRequest,
    SignedRequest,
)
from vehicle_sim.transfer import (
    ANSWER_WAIT,
    ANSWER_WAIT_MAX,
    BACKOFF_MAX_S,
    MAX_REJECTIONS,
    MAX_UPLOAD_ATTEMPTS,
    Phase,
    Report,
    Transfer,
)

START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
FILE = "clip-1"


def grant(expires_at: datetime = START + timedelta(hours=1)) -> FileGrant:
    return FileGrant(
        file_id=FILE, upload=SignedRequest(url="http://s3/x", headers={"Content-Length": "5"}, expires_at=expires_at)
    )


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def granted(transfer: Transfer, now: datetime = START) -> FileGrant:
    """Answer the offer with a grant and take it for upload."""
    transfer.answer(grant(), now)
    report, upload = transfer.poll(now, covered=True)
    assert report is None and upload is not None
    return upload


def test_the_happy_path_offered_granted_uploaded_verified() -> None:
    transfer = Transfer(random.Random(1))
    assert transfer.offer(START) == Report("offered")
    assert transfer.poll(at(1), covered=True) == (None, None)

    assert transfer.answer(grant(), at(1)) is None
    assert transfer.phase == Phase.GRANTED
    assert granted(transfer, at(1)) == grant()
    assert transfer.phase == Phase.UPLOADING
    assert transfer.poll(at(2), covered=True) == (None, None)

    assert transfer.uploaded(at(3)) == Report("uploaded")
    assert transfer.answer(FileVerified(file_id=FILE), at(4)) is None
    assert transfer.phase == Phase.DONE
    assert transfer.poll(at(1000), covered=True) == (None, None)


def test_no_upload_starts_and_nothing_is_offered_while_uncovered() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    transfer.answer(grant(), at(1))

    assert transfer.poll(at(2), covered=False) == (None, None)
    assert transfer.phase == Phase.GRANTED
    assert transfer.poll(at(3), covered=True)[1] is not None


def test_an_unanswered_offer_is_made_again_waiting_longer_each_time() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    offers = []
    for second in range(0, 3600):
        report, _ = transfer.poll(at(second), covered=True)
        if report is not None:
            offers.append(second)
    waits = [b - a for a, b in zip([0, *offers], offers, strict=False)]
    assert waits[:5] == [ANSWER_WAIT.total_seconds() * 2**n for n in range(4)] + [300]
    assert waits[4:] == [ANSWER_WAIT_MAX.total_seconds()] * len(waits[4:])


def test_a_failed_put_backs_off_then_offers_again_for_a_fresh_grant() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    granted(transfer)

    assert transfer.upload_failed("HTTP 403 Forbidden: AccessDenied", at(1)) is None
    assert transfer.phase == Phase.BACKING_OFF and transfer.grant is None
    # The first back-off is 1-2 s; a grant arriving meanwhile (a late repeat) is not used.
    transfer.answer(grant(), at(1.5))
    assert transfer.poll(at(1.9), covered=True) == (None, None)
    assert transfer.poll(at(3.1), covered=True) == (Report("offered"), None)
    assert granted(transfer, at(4)) is not None


def test_after_the_last_failed_attempt_the_unit_reports_failed() -> None:
    transfer = Transfer(random.Random(2))
    transfer.offer(START)
    now = START
    waits = []
    for attempt in range(1, MAX_UPLOAD_ATTEMPTS + 1):
        granted(transfer, now)
        report = transfer.upload_failed(f"connection lost ({attempt})", now)
        if attempt < MAX_UPLOAD_ATTEMPTS:
            assert report is None
            offered_at = next(s for s in range(1, 200) if transfer.poll(now + timedelta(seconds=s), True)[0])
            waits.append(offered_at)
            now += timedelta(seconds=offered_at)
    assert report == Report("failed", f"upload failed {MAX_UPLOAD_ATTEMPTS} times; the last: connection lost (5)")
    assert transfer.phase == Phase.DONE
    # Doubling from 2 s, each cut to 50-100 %: 1-2, 2-4, 4-8, 8-16 s.
    for n, wait in enumerate(waits):
        assert 2**n <= wait <= 2 ** (n + 1) + 1
    assert BACKOFF_MAX_S == 60


def test_a_grant_that_expired_while_waiting_for_coverage_is_not_used() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    transfer.answer(grant(expires_at=at(60)), at(1))
    assert transfer.poll(at(30), covered=False) == (None, None)

    assert transfer.poll(at(61), covered=True) == (Report("offered"), None)
    assert transfer.phase == Phase.OFFERED and transfer.failures == 0


def test_a_multipart_grant_with_every_part_stored_is_uploaded_at_once() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    stored = FileGrant(file_id=FILE, multipart=MultipartUpload(part_size_bytes=5, parts=[], stored_parts=[1, 2]))
    transfer.answer(stored, at(1))
    assert transfer.poll(at(10**6), covered=True) == (None, stored)


def test_a_multipart_grant_expires_with_its_first_part() -> None:
    def part(number: int, expires_at: datetime) -> PartRequest:
        return PartRequest(part_number=number, url="http://s3/p", headers={}, expires_at=expires_at)

    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    parts = [part(2, at(100)), part(3, at(50))]
    transfer.answer(FileGrant(file_id=FILE, multipart=MultipartUpload(part_size_bytes=5, parts=parts)), at(1))
    assert transfer.poll(at(50), covered=True) == (Report("offered"), None)


def test_a_refused_offer_is_given_up() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    report = transfer.answer(FileRefused(file_id=FILE, error="3000000000 bytes is above the limit"), at(1))
    assert report == Report("failed", "refused: 3000000000 bytes is above the limit")
    assert transfer.phase == Phase.DONE


def test_a_refused_upload_is_offered_again_a_limited_number_of_times() -> None:
    transfer = Transfer(random.Random(3))
    transfer.offer(START)
    now = START
    for rejection in range(1, MAX_REJECTIONS + 1):
        granted(transfer, now)
        assert transfer.uploaded(now) == Report("uploaded")
        report = transfer.answer(FileRefused(file_id=FILE, error=f"sha256 differs ({rejection})"), now)
        if rejection < MAX_REJECTIONS:
            assert report is None and transfer.phase == Phase.BACKING_OFF
            now += timedelta(seconds=BACKOFF_MAX_S)
            assert transfer.poll(now, covered=True) == (Report("offered"), None)
    assert report == Report("failed", f"upload refused {MAX_REJECTIONS} times; the last: sha256 differs (3)")


def test_no_verdict_after_an_upload_asks_again() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    granted(transfer)
    transfer.uploaded(at(1))
    assert transfer.poll(at(30), covered=True) == (None, None)
    assert transfer.poll(at(31), covered=True) == (Report("offered"), None)
    assert transfer.answer(FileVerified(file_id=FILE), at(32)) is None
    assert transfer.phase == Phase.DONE


@pytest.mark.parametrize("late", [grant(), FileRefused(file_id=FILE, error="late")], ids=["grant", "refusal"])
def test_answers_that_do_not_fit_the_phase_change_nothing(late: FileGrant | FileRefused) -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    granted(transfer)
    assert transfer.answer(late, at(1)) is None
    assert transfer.phase == Phase.UPLOADING
    transfer.uploaded(at(2))
    assert transfer.answer(FileVerified(file_id=FILE), at(3)) is None
    assert transfer.answer(late, at(4)) is None
    assert transfer.phase == Phase.DONE
    # An outcome of an upload that no longer counts (the file verified meanwhile) changes nothing either.
    assert transfer.upload_failed("late", at(5)) is None and transfer.uploaded(at(5)) is None


def test_abandon_reports_failed_once() -> None:
    transfer = Transfer(random.Random(1))
    transfer.offer(START)
    assert transfer.abandon("unit storage full") == Report("failed", "unit storage full")
    assert transfer.abandon("again") is None
