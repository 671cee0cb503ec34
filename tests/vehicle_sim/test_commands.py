"""A bus unit's commands: acted on once, answered on `ack`, refused when stale or impossible, failing at a share."""

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleet.contract.commands import CommandMessage
from fleet.contract.downlink import FileGrant, FileRefused, FileVerified, SignedRequest
from fleet.contract.records import AckRecord, FileRecord, Record
from fleet.contract.topics import Stream
from fleet.settings import SimSettings
from tests.vehicle_sim.helpers import Clock, InlineExecutor, decode_records
from vehicle_sim.commands import FAULTS, REMEMBERED_IDS, CommandUnit
from vehicle_sim.files import FileUnit
from vehicle_sim.recordings import Recorder
from vehicle_sim.reporting import Reporting
from vehicle_sim.upload import Piece

START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
DEVICE = "sim-0001"


def uploader(plan: Sequence[Piece], data: bytes, cut_after: int | None, halted: Callable[[], str | None]) -> int:
    """Every upload succeeds at once."""
    return len(data)


@dataclass
class Unit:
    """A CommandUnit wired to a real file flow (uploads inline), with a fake clock and what it sends collected."""

    clock: Clock
    sent: list[tuple[Record, bool]]
    files: FileUnit
    reporting: Reporting
    reboots: list[datetime]
    commands: CommandUnit

    def acks(self) -> list[AckRecord]:
        return [record for record, _ in self.sent if isinstance(record, AckRecord)]

    def answers(self, command_id: str) -> list[tuple[str, dict[str, Any] | None, str | None]]:
        return [(a.state, a.result, a.error) for a in self.acks() if a.command_id == command_id]

    def offers(self) -> list[FileRecord]:
        return [record for record, _ in self.sent if isinstance(record, FileRecord) and record.state == "offered"]


def make_unit(failure_probability: float = 0.0, seed: int = 1, **settings: Any) -> Unit:
    clock = Clock(START)
    sent: list[tuple[Record, bool]] = []
    reboots: list[datetime] = []

    def send_record(stream: Stream, record: Record, covered: bool) -> None:
        assert stream is (Stream.ACK if isinstance(record, AckRecord) else Stream.FILE)
        sent.append((record, covered))

    files = FileUnit(
        DEVICE, lambda now: [], send_record, InlineExecutor(), threading.Event(), clock, random.Random(1), 0.0, uploader
    )
    recorder = Recorder(DEVICE, "test", START - timedelta(days=2), SimSettings(**settings))
    reporting = Reporting(1.0, 5.0)
    commands = CommandUnit(
        DEVICE,
        send_record,
        recorder.requested,
        files.request,
        reporting,
        lambda: reboots.append(clock.now),
        clock,
        random.Random(seed),
        failure_probability,
    )
    return Unit(clock, sent, files, reporting, reboots, commands)


def command(command_id: str, type_: str, params: dict[str, Any], expires_at: datetime | None = None) -> bytes:
    """The payload the backend publishes on `cmd`."""
    expires_at = expires_at or START + timedelta(hours=1)
    message = {"id": command_id, "type": type_, "params": params, "expires_at": expires_at}
    return CommandMessage.model_validate(message).model_dump_json().encode()


def clip(started_at: datetime, ended_at: datetime, camera: str | None = None) -> dict[str, Any]:
    """The params of a request for a clip."""
    params = {"kind": "video", "started_at": started_at.isoformat(), "ended_at": ended_at.isoformat()}
    return params if camera is None else {**params, "camera": camera}


def test_a_driver_message_is_shown_in_the_log_and_answered_received_then_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unit = make_unit()
    with caplog.at_level(logging.INFO, logger="vehicle_sim.commands"):
        unit.commands.receive(command("4711", "driver_message", {"text": "Please call the depot"}))

    assert unit.answers("4711") == [("received", None, None), ("done", None, None)]
    assert f"{DEVICE} driver display: Please call the depot" in caplog.messages
    acks = unit.acks()
    assert [a.seq for a in acks] == [0, 1] and all(a.ts == START for a in acks)
    decoded = decode_records(DEVICE, Stream.ACK, list(acks), START)
    assert decoded.rejected == [] and decoded.unknown_fields == 0


def test_a_repeated_command_gets_its_final_answer_again_and_is_not_done_twice(caplog: pytest.LogCaptureFixture) -> None:
    unit = make_unit()
    payload = command("12", "driver_message", {"text": "Detour via Main St"})
    with caplog.at_level(logging.INFO, logger="vehicle_sim.commands"):
        unit.commands.receive(payload)
        unit.clock.advance(5)
        unit.commands.receive(payload)

    assert unit.answers("12") == [("received", None, None), ("done", None, None), ("done", None, None)]
    assert [m for m in caplog.messages if "driver display" in m] == [f"{DEVICE} driver display: Detour via Main St"]
    repeat = unit.acks()[-1]
    assert (repeat.seq, repeat.ts) == (2, START + timedelta(seconds=5))


def test_a_repeated_message_id_is_a_repeat_of_its_command() -> None:
    unit = make_unit()
    unit.commands.receive(command("20", "reboot", {}), message_id="901")
    # The same downlink message again: what its payload says does not matter any more.
    unit.commands.receive(command("21", "reboot", {}), message_id="901")

    done = ("done", {"rebooting": True}, None)
    assert unit.answers("20") == [("received", None, None), done, done]
    assert unit.answers("21") == [] and len(unit.reboots) == 1


def test_only_the_last_few_hundred_ids_are_remembered() -> None:
    unit = make_unit()
    unit.commands.receive(command("1", "reboot", {}))
    for number in range(2, REMEMBERED_IDS + 1):
        unit.commands.receive(command(str(number), "driver_message", {"text": "hello"}))
    unit.commands.receive(command("1", "reboot", {}))
    assert len(unit.reboots) == 1

    unit.commands.receive(command(str(REMEMBERED_IDS + 1), "driver_message", {"text": "hello"}))
    unit.commands.receive(command("1", "reboot", {}))
    assert len(unit.reboots) == 2


def test_an_expired_command_is_rejected_without_being_received() -> None:
    unit = make_unit()
    unit.clock.advance(60)
    unit.commands.receive(command("7", "reboot", {}, expires_at=START + timedelta(seconds=59)))

    assert unit.answers("7") == [("rejected", None, "expired")]
    assert unit.reboots == []


@pytest.mark.parametrize(
    ("type_", "params", "reason"),
    [
        ("set_reporting", {}, "params of set_reporting: params: Value error, set pos_interval_seconds"),
        ("set_reporting", {"pos_interval_seconds": 0.1}, "params of set_reporting: pos_interval_seconds: Input should"),
        ("driver_message", {"text": ""}, "params of driver_message: text: String should have at least 1 character"),
        ("request_file", {"kind": "video"}, "params of request_file: params: Value error, a video needs started_at"),
        ("reboot", {"now": True}, "params of reboot: now: Extra inputs are not permitted"),
    ],
)
def test_invalid_params_are_rejected_with_the_reason(type_: str, params: dict[str, Any], reason: str) -> None:
    unit = make_unit()
    unit.commands.receive(command("3", type_, params))

    [(state, result, error)] = unit.answers("3")
    assert (state, result) == ("rejected", None)
    assert error is not None and error.startswith(reason), error
    assert unit.reboots == [] and unit.offers() == []


def test_a_malformed_command_is_rejected_when_it_has_an_id_and_ignored_when_not() -> None:
    unit = make_unit()
    unit.commands.receive(b'{"id": "5", "type": "self_destruct", "params": {}, "expires_at": "2026-11-23T09:00:00Z"}')
    unit.commands.receive(b'{"type": "reboot", "params": {}}')
    unit.commands.receive(b"not json")

    [(state, _, error)] = unit.answers("5")
    assert state == "rejected" and error is not None and error.startswith("malformed command: type: Input should be")
    assert len(unit.acks()) == 1 and unit.reboots == []


def test_set_reporting_changes_the_intervals_and_answers_those_in_force() -> None:
    unit = make_unit()
    assert unit.reporting.poll(0.0) == (True, True, 1.0)

    unit.commands.receive(command("8", "set_reporting", {"pos_interval_seconds": 0.5}))
    assert unit.answers("8")[-1] == ("done", {"pos_interval_seconds": 0.5, "can_interval_seconds": 5.0}, None)
    assert [unit.reporting.poll(t)[0] for t in (1.0, 1.2, 1.5, 2.0)] == [True, False, True, True]

    unit.commands.receive(command("9", "set_reporting", {"pos_interval_seconds": 60, "can_interval_seconds": 30}))
    assert unit.answers("9")[-1] == ("done", {"pos_interval_seconds": 60, "can_interval_seconds": 30}, None)
    assert unit.reporting.poll(2.5) == (True, False, 5.0)
    assert unit.reporting.poll(5.0) == (False, True, 35.0)

    # Shortened, an interval applies at once rather than after the rest of the longer one.
    unit.commands.receive(command("10", "set_reporting", {"pos_interval_seconds": 1}))
    assert unit.reporting.poll(10.0) == (False, False, 11.0)
    assert unit.reporting.poll(11.0) == (True, False, 12.0)


def test_reboot_is_answered_done_before_the_unit_goes_down() -> None:
    unit = make_unit()
    unit.commands.receive(command("11", "reboot", {}))

    assert unit.answers("11") == [("received", None, None), ("done", {"rebooting": True}, None)]
    assert unit.reboots == [START]


def test_a_requested_clip_goes_through_the_file_flow_and_is_done_once_verified() -> None:
    unit = make_unit()
    started_at, ended_at = START - timedelta(minutes=5), START - timedelta(minutes=4)
    unit.commands.receive(command("4711", "request_file", clip(started_at, ended_at)))

    assert unit.answers("4711") == [("received", None, None)]
    [offer] = unit.offers()
    assert (offer.kind, offer.camera, offer.command_id) == ("video", "front", "4711")
    assert (offer.started_at, offer.ended_at, offer.content_type) == (started_at, ended_at, "video/mp4")
    # A minute of video: three times the bytes of a 20 s incident clip.
    assert 450_000 <= offer.size_bytes <= 1_350_000

    request = SignedRequest(url="http://s3.test/bucket/key", headers={}, expires_at=START + timedelta(hours=1))
    unit.files.answer(FileGrant(file_id=offer.file_id, upload=request))
    unit.files.tick(unit.clock.advance(1), True)
    assert [r.state for r, _ in unit.sent if isinstance(r, FileRecord)] == ["offered", "uploaded"]
    assert unit.answers("4711") == [("received", None, None)]

    unit.files.answer(FileVerified(file_id=offer.file_id))
    assert unit.answers("4711")[-1] == ("done", {"file_id": offer.file_id}, None)
    assert unit.files.phases() == {}


def test_a_requested_file_the_flow_gives_up_on_fails_with_its_error() -> None:
    unit = make_unit()
    unit.commands.receive(command("30", "request_file", {"kind": "tachograph_vu"}))
    [offer] = unit.offers()
    assert (offer.kind, offer.command_id, offer.ended_at) == ("tachograph_vu", "30", START)

    unit.files.answer(FileRefused(file_id=offer.file_id, error="file too large"))
    assert unit.answers("30")[-1] == ("failed", None, "refused: file too large")


def test_a_driver_card_download_is_made_now_with_the_card_id() -> None:
    unit = make_unit()
    unit.commands.receive(command("31", "request_file", {"kind": "tachograph_card"}))

    [offer] = unit.offers()
    assert (offer.kind, offer.command_id, offer.ended_at) == ("tachograph_card", "31", START)
    assert offer.driver_card_id is not None and offer.name.startswith(offer.driver_card_id)


@pytest.mark.parametrize(
    ("window", "camera", "reason"),
    [
        ((-25 * 3600, -25 * 3600 + 60), "front", "no recording for that window any more"),
        ((-60, 30), "front", "that window is not recorded yet: it ends in the future"),
        ((600, 660), "cabin", "that window is not recorded yet: it ends in the future"),
        ((-120, -60), "rear", "no camera 'rear' on this bus; it has front, cabin"),
    ],
    ids=["too-old", "ends-ahead", "future", "unknown-camera"],
)
def test_a_clip_the_bus_cannot_have_is_rejected(window: tuple[int, int], camera: str, reason: str) -> None:
    unit = make_unit()
    started_at, ended_at = (START + timedelta(seconds=s) for s in window)
    unit.commands.receive(command("40", "request_file", clip(started_at, ended_at, camera)))

    assert unit.answers("40") == [("received", None, None), ("rejected", None, reason)]
    assert unit.offers() == []


def test_the_recording_buffer_is_a_setting() -> None:
    unit = make_unit(clip_buffer_hours=48)
    started_at = START - timedelta(hours=25)
    ended_at = started_at + timedelta(minutes=1)
    unit.commands.receive(command("41", "request_file", clip(started_at, ended_at, "cabin")))

    [offer] = unit.offers()
    assert (offer.camera, offer.started_at) == ("cabin", started_at)


def test_a_share_of_commands_fails_with_a_plausible_error() -> None:
    unit = make_unit(failure_probability=0.05, seed=7)
    for number in range(1, 2001):
        unit.commands.receive(command(str(number), "driver_message", {"text": "hello"}))

    finals = [a for a in unit.acks() if a.state != "received"]
    failed = [a for a in finals if a.state == "failed"]
    assert len(finals) == 2000
    # Binomial(2000, 0.05): 100 expected, standard deviation about 10; the seed fixes the draw.
    assert 70 <= len(failed) <= 130
    assert {a.error for a in failed} == {"display not responding"}


@pytest.mark.parametrize(
    ("type_", "params", "fault"),
    [
        ("driver_message", {"text": "hi"}, FAULTS["driver_message"]),
        ("set_reporting", {"can_interval_seconds": 10}, FAULTS["set_reporting"]),
        ("reboot", {}, FAULTS["reboot"]),
        ("request_file", {"kind": "tachograph_vu"}, "tachograph busy"),
        ("request_file", {"kind": "tachograph_card"}, "tachograph busy"),
    ],
)
def test_a_failed_command_does_nothing(type_: str, params: dict[str, Any], fault: str) -> None:
    unit = make_unit(failure_probability=1.0)
    unit.commands.receive(command("50", type_, params))

    assert unit.answers("50") == [("received", None, None), ("failed", None, fault)]
    assert unit.reboots == [] and unit.offers() == []
    assert unit.reporting.change(None, None) == (1.0, 5.0)


def test_acks_are_held_by_the_device_while_the_bus_has_no_coverage() -> None:
    unit = make_unit()
    unit.commands.covered = False
    unit.commands.receive(command("60", "driver_message", {"text": "hi"}))

    assert [covered for _, covered in unit.sent] == [False, False]
