"""The recording schedule: tachograph downloads and clips in simulated time, the same for the same seed."""

import hashlib
import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from fleet.contract.commands import RequestFile
from fleet.contract.records import FileRecord
from fleet.contract.topics import Stream
from fleet.settings import SimSettings
from tests.vehicle_sim.helpers import decode_records
from vehicle_sim.recordings import (
    CARD_BYTES,
    CLIP_BYTES,
    MP4_HEADER,
    VU_BYTES,
    VU_FIRST_S,
    Recorder,
    Recording,
)

START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
DEVICE = "sim-0001"


def run(recorder: Recorder, seconds: int, step: int = 1) -> list[tuple[float, Recording]]:
    """Every recording made in `seconds`, asked every `step` seconds, with the second it was returned."""
    made = []
    for second in range(0, seconds + 1, step):
        made.extend((float(second), r) for r in recorder.due(START + timedelta(seconds=second)))
    return made


def recorder(seed: str = "1", **settings: float) -> Recorder:
    return Recorder(DEVICE, seed, START, SimSettings(**settings))


def test_the_vehicle_unit_is_downloaded_soon_after_the_start_then_every_interval() -> None:
    made = [(at, r) for at, r in run(recorder(clips_per_hour=0), 3 * 3600) if r.kind == "tachograph_vu"]

    first = made[0][0]
    assert VU_FIRST_S[0] <= first <= VU_FIRST_S[1] + 1
    assert [round(at - first) for at, _ in made] == [0, 3600, 7200]
    for _, download in made:
        assert download.content_type == "application/octet-stream"
        assert VU_BYTES[0] <= download.size_bytes <= VU_BYTES[1]
        assert re.fullmatch(rf"{DEVICE}_\d{{8}}_\d{{6}}\.ddd", download.name)
        assert download.ended_at is not None and download.ended_at <= START + timedelta(seconds=first + 7201)


def test_the_driver_card_is_downloaded_every_card_interval_with_one_card_id() -> None:
    made = [(at, r) for at, r in run(recorder(clips_per_hour=0, tachograph_card_interval_seconds=600), 3600)]
    cards = [(at, r) for at, r in made if r.kind == "tachograph_card"]

    assert len(cards) == 6
    assert all(round(b[0] - a[0]) == 600 for a, b in itertools.pairwise(cards))
    card_ids = {r.driver_card_id for _, r in cards}
    assert len(card_ids) == 1
    card_id = card_ids.pop()
    assert card_id is not None and re.fullmatch(r"[A-Z0-9]{16}", card_id)
    assert all(CARD_BYTES[0] <= r.size_bytes <= CARD_BYTES[1] for _, r in cards)
    assert card_id == recorder().driver_card_id != recorder("2").driver_card_id


def test_clips_come_at_the_configured_rate_around_incidents() -> None:
    made = run(recorder(clips_per_hour=10, tachograph_vu_interval_seconds=90 * 86400), 100 * 3600, step=10)
    clips = [(at, r) for at, r in made if r.kind == "video"]

    # A Poisson process of 10 an hour: about 1000 in 100 hours (the standard deviation is about 32).
    assert 850 <= len(clips) <= 1150
    for at, clip in clips[:50]:
        assert clip.content_type == "video/mp4" and clip.camera in ("front", "cabin")
        assert clip.started_at is not None and clip.ended_at is not None
        assert clip.ended_at - clip.started_at == timedelta(seconds=20)
        assert clip.ended_at <= START + timedelta(seconds=at)
        assert clip.event_id is not None and clip.event_id.startswith("hb-")
        assert CLIP_BYTES[0] <= clip.size_bytes <= CLIP_BYTES[1]
        assert clip.read().startswith(MP4_HEADER)
    assert {clip.camera for _, clip in clips} == {"front", "cabin"}


def test_no_clips_at_a_rate_of_zero() -> None:
    assert not [r for _, r in run(recorder(clips_per_hour=0), 4 * 3600, step=60) if r.kind == "video"]


def test_the_same_seed_records_the_same_files_however_often_it_is_asked() -> None:
    def summary(made: list[tuple[float, Recording]]) -> list[tuple[str, int, str]]:
        return [(r.file_id, r.size_bytes, r.sha256) for _, r in made]

    every_second = summary(run(recorder("7", clips_per_hour=30), 3600))
    every_minute = summary(run(recorder("7", clips_per_hour=30), 3600, step=60))
    other_seed = summary(run(recorder("8", clips_per_hour=30), 3600))

    assert every_second == every_minute
    assert len(every_second) > 10
    assert every_second != other_seed


def test_bytes_are_made_again_identically_and_match_the_announced_size_and_sha256() -> None:
    made = run(recorder(clips_per_hour=30, tachograph_card_interval_seconds=300), 1800)
    assert {r.kind for _, r in made} == {"tachograph_vu", "tachograph_card", "video"}
    for _, recorded in made:
        data = recorded.read()
        assert len(data) == recorded.size_bytes
        assert hashlib.sha256(data).hexdigest() == recorded.sha256
        assert recorded.read() == data


def test_records_of_every_kind_pass_the_contract_and_ids_are_unique() -> None:
    made = [r for _, r in run(recorder(clips_per_hour=60, tachograph_card_interval_seconds=120), 1800)]
    now = START + timedelta(seconds=1800)
    records: list[FileRecord] = []
    for seq, recorded in enumerate(made):
        for state in ("offered", "uploaded", "failed"):
            records.append(recorded.record(state, now, seq, "gave up" if state == "failed" else None))

    decoded = decode_records(DEVICE, Stream.FILE, list(records), now)

    assert decoded.rejected == [] and decoded.unknown_fields == 0
    assert len({r.file_id for r in made}) == len(made)
    assert made[0].record("failed", now, 0, "x" * 5000).error == "x" * 2000


def test_twenty_buses_show_tachograph_files_and_clips_in_the_first_minute() -> None:
    # The defaults are chosen for `fleet up`: 20 buses show a few of each within a minute.
    per_run = []
    for seed in range(10):
        kinds: Counter[str] = Counter()
        for number in range(1, 21):
            bus = Recorder(f"sim-{number:04d}", f"{seed}/sim-{number:04d}/files", START, SimSettings())
            kinds.update(r.kind for _, r in run(bus, 60))
        per_run.append(kinds)

    assert sum(k["tachograph_vu"] + k["tachograph_card"] for k in per_run) / len(per_run) >= 5
    assert sum(k["video"] for k in per_run) / len(per_run) >= 1.5
    assert all(k["tachograph_vu"] >= 3 for k in per_run)


def test_a_clip_is_offered_only_once_its_after_part_is_recorded() -> None:
    clips = [(at, r) for at, r in run(recorder("3", clips_per_hour=120), 3600) if r.kind == "video"]
    for at, clip in clips:
        assert clip.ended_at is not None
        assert START + timedelta(seconds=at) >= clip.ended_at > START + timedelta(seconds=at - 1)


def test_a_requested_file_is_made_from_the_command_the_same_every_time() -> None:
    now = START + timedelta(hours=2)
    clip = RequestFile(kind="video", started_at=now - timedelta(minutes=3), ended_at=now - timedelta(minutes=2))
    card = RequestFile(kind="tachograph_card")

    made = [recorder().requested(params, "4711", now) for params in (clip, card)]
    again = [recorder().requested(params, "4711", now) for params in (clip, card)]
    other = recorder().requested(clip, "4712", now)

    assert [(r.file_id, r.sha256) for r in made] == [(r.file_id, r.sha256) for r in again]
    assert other.file_id != made[0].file_id and other.sha256 != made[0].sha256
    assert [r.command_id for r in made] == ["4711", "4711"]
    assert made[0].file_id == "clip-20261123T092700-front-cmd4711" and made[0].read().startswith(MP4_HEADER)
    assert made[1].driver_card_id == recorder().driver_card_id
    decoded = decode_records(DEVICE, Stream.FILE, [r.record("offered", now, 0) for r in made], now)
    assert decoded.rejected == [] and len(decoded.records) == 2
    assert all(isinstance(r, FileRecord) and r.command_id == "4711" for r in decoded.records)
