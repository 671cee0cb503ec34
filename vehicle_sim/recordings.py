"""What a bus records for upload: tachograph downloads and camera clips, on a seeded schedule or asked for; no I/O.

A recording keeps the seed of its bytes rather than the bytes: they are made again when they are uploaded, the
same every time and in every run with the same seed, so a bus holding many files holds little memory.
"""

import hashlib
import math
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fleet.contract.commands import RequestFile
from fleet.contract.records import FileKind, FileRecord, FileState
from fleet.settings import HOUR, SimSettings

# Sizes: a vehicle-unit download of a few weeks of activity, a driver card's, and a 20 s H.264 clip of a
# low-bitrate event camera.
VU_BYTES = (20_000, 60_000)
CARD_BYTES = (8_000, 30_000)
CLIP_BYTES = (150_000, 450_000)
# The first vehicle-unit download comes this long after the start (the ignition-on download of a real unit),
# spread so that a fleet does not download all at once.
VU_FIRST_S = (10.0, 120.0)
# A clip covers this long before and after the incident, and is offered once the camera has recorded the after.
CLIP_BEFORE_S = 10.0
CLIP_AFTER_S = 10.0
CAMERAS = ("front", "cabin")
# A clip asked for without a camera is of the road ahead.
DEFAULT_CAMERA = "front"
# EU driver cards: 16 characters (14 for the card, a replacement and a renewal index).
CARD_ID_CHARACTERS = string.ascii_uppercase + string.digits
CARD_ID_LENGTH = 16
# The start of an MP4 file (an `ftyp` box), so a downloaded clip is recognisably a video container.
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
# FileRecord.error's bound.
MAX_ERROR_CHARACTERS = 2000


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


class NotAvailable(Exception):
    """A file asked for that the bus cannot make; the message says why, for the operator."""


def content(seed: str, size_bytes: int, header: bytes = b"") -> bytes:
    """`size_bytes` bytes made from `seed`: `header`, then seeded random bytes."""
    return header + random.Random(seed).randbytes(size_bytes - len(header))


@dataclass(frozen=True, slots=True)
class Recording:
    """A file on the unit: what its `file` records say of it, and the seed its bytes are made from."""

    file_id: str
    kind: FileKind
    name: str
    content_type: str
    size_bytes: int
    sha256: str
    seed: str
    header: bytes = b""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    camera: str | None = None
    driver_card_id: str | None = None
    event_id: str | None = None
    command_id: str | None = None

    def read(self) -> bytes:
        """The file's bytes."""
        return content(self.seed, self.size_bytes, self.header)

    def record(self, state: FileState, ts: datetime, seq: int, error: str | None = None) -> FileRecord:
        """The `file` record of a state change at `ts`."""
        return FileRecord(
            ts=ts,
            seq=seq,
            file_id=self.file_id,
            state=state,
            kind=self.kind,
            name=self.name,
            size_bytes=self.size_bytes,
            sha256=self.sha256,
            content_type=self.content_type,
            started_at=self.started_at,
            ended_at=self.ended_at,
            camera=self.camera,
            driver_card_id=self.driver_card_id,
            event_id=self.event_id,
            command_id=self.command_id,
            error=None if error is None else error[:MAX_ERROR_CHARACTERS],
        )


def _draw(seed: str, sizes: tuple[int, int], header: bytes = b"") -> tuple[int, str]:
    """The size (drawn from `sizes`) and the SHA-256 of the bytes of `seed`."""
    size = random.Random(f"{seed}/size").randint(*sizes)
    return size, hashlib.sha256(content(seed, size, header)).hexdigest()


class Recorder:
    """The recording schedule of one bus, asked with the simulated time, which must not go backwards.

    Every draw comes from a stream of its own, seeded from `seed`: the schedule and each file's bytes are the same
    in every run with the seed, however often `due` is called.
    """

    def __init__(self, device_id: str, seed: str, start: datetime, settings: SimSettings) -> None:
        self.device_id = device_id
        self._seed = seed
        self._start = start
        self._vu_every_s = settings.tachograph_vu_interval_seconds
        self._card_every_s = settings.tachograph_card_interval_seconds
        self._clip_buffer = timedelta(hours=settings.clip_buffer_hours)
        schedule = random.Random(f"{seed}/schedule")
        self.driver_card_id = "".join(schedule.choices(CARD_ID_CHARACTERS, k=CARD_ID_LENGTH))
        self._next_vu_s = min(self._vu_every_s, schedule.uniform(*VU_FIRST_S))
        self._next_card_s = schedule.uniform(0.0, self._card_every_s)
        # Incidents are a Poisson process: exponential gaps at the configured rate.
        self._incidents = random.Random(f"{seed}/incidents")
        self._incident_rate_per_s = settings.clips_per_hour / HOUR
        self._next_incident_s = self._incident_gap()
        self._made = {"vu": 0, "card": 0, "clip": 0}

    def due(self, now: datetime) -> list[Recording]:
        """The files recorded up to `now` and not returned before, oldest first."""
        elapsed = (now - self._start).total_seconds()
        made: list[tuple[float, Recording]] = []
        while self._next_vu_s <= elapsed:
            made.append((self._next_vu_s, self._vu_download(self._next_vu_s)))
            self._next_vu_s += self._vu_every_s
        while self._next_card_s <= elapsed:
            made.append((self._next_card_s, self._card_download(self._next_card_s)))
            self._next_card_s += self._card_every_s
        while self._next_incident_s + CLIP_AFTER_S <= elapsed:
            made.append((self._next_incident_s + CLIP_AFTER_S, self._clip(self._next_incident_s)))
            self._next_incident_s += self._incident_gap()
        return [recording for _, recording in sorted(made, key=lambda pair: pair[0])]

    def requested(self, params: RequestFile, command_id: str, now: datetime) -> Recording:
        """The file a `request_file` command asks for, made at `now`, its id and bytes derived from the command's.

        Raises NotAvailable for a camera the bus does not have or a window its cameras do not hold: not any more (older
        than the recording buffer) or not yet (in the future). Safe on any thread: it changes nothing.
        """
        seed, tag = f"{self._seed}/command/{command_id}", f"cmd{command_id}"
        if params.kind == "tachograph_vu":
            return self._vu_file(now, tag, seed, command_id)
        if params.kind == "tachograph_card":
            return self._card_file(now, tag, seed, command_id)
        # RequestFile has checked that a video has its window.
        assert params.started_at is not None and params.ended_at is not None
        camera = params.camera or DEFAULT_CAMERA
        if camera not in CAMERAS:
            raise NotAvailable(f"no camera {camera!r} on this bus; it has {', '.join(CAMERAS)}")
        if params.ended_at > now:
            raise NotAvailable("that window is not recorded yet: it ends in the future")
        if params.started_at < now - self._clip_buffer:
            raise NotAvailable("no recording for that window any more")
        started_at, ended_at = params.started_at.astimezone(UTC), params.ended_at.astimezone(UTC)
        # As many bytes a second as a scheduled clip.
        share = (ended_at - started_at).total_seconds() / (CLIP_BEFORE_S + CLIP_AFTER_S)
        low, high = (max(len(MP4_HEADER), round(size * share)) for size in CLIP_BYTES)
        return self._clip_file(started_at, tag, seed, camera, started_at, ended_at, (low, high), command_id=command_id)

    def _incident_gap(self) -> float:
        if self._incident_rate_per_s == 0:
            return math.inf
        return self._incidents.expovariate(self._incident_rate_per_s)

    def _next(self, kind: str) -> tuple[int, str]:
        """The running number of the next file of `kind`, and the seed of its bytes."""
        number = self._made[kind] + 1
        self._made[kind] = number
        return number, f"{self._seed}/{kind}/{number}"

    def _vu_download(self, at_s: float) -> Recording:
        number, seed = self._next("vu")
        return self._vu_file(self._start + timedelta(seconds=at_s), str(number), seed)

    def _vu_file(self, moment: datetime, tag: str, seed: str, command_id: str | None = None) -> Recording:
        size, sha256 = _draw(seed, VU_BYTES)
        return Recording(
            file_id=f"vu-{_stamp(moment)}-{tag}",
            kind="tachograph_vu",
            name=f"{self.device_id}_{moment:%Y%m%d_%H%M%S}.ddd",
            content_type="application/octet-stream",
            size_bytes=size,
            sha256=sha256,
            seed=seed,
            # A download covers the activity since the previous one; its time is its end.
            started_at=moment - timedelta(seconds=self._vu_every_s),
            ended_at=moment,
            command_id=command_id,
        )

    def _card_download(self, at_s: float) -> Recording:
        number, seed = self._next("card")
        return self._card_file(self._start + timedelta(seconds=at_s), str(number), seed)

    def _card_file(self, moment: datetime, tag: str, seed: str, command_id: str | None = None) -> Recording:
        size, sha256 = _draw(seed, CARD_BYTES)
        return Recording(
            file_id=f"card-{_stamp(moment)}-{tag}",
            kind="tachograph_card",
            name=f"{self.driver_card_id}_{moment:%Y%m%d_%H%M%S}.ddd",
            content_type="application/octet-stream",
            size_bytes=size,
            sha256=sha256,
            seed=seed,
            started_at=moment - timedelta(seconds=self._card_every_s),
            ended_at=moment,
            driver_card_id=self.driver_card_id,
            command_id=command_id,
        )

    def _clip(self, incident_s: float) -> Recording:
        number, seed = self._next("clip")
        incident = self._start + timedelta(seconds=incident_s)
        camera = random.Random(f"{seed}/camera").choice(CAMERAS)
        started_at, ended_at = incident - timedelta(seconds=CLIP_BEFORE_S), incident + timedelta(seconds=CLIP_AFTER_S)
        event_id = f"hb-{_stamp(incident)}-{number}"
        return self._clip_file(incident, str(number), seed, camera, started_at, ended_at, CLIP_BYTES, event_id=event_id)

    def _clip_file(
        self,
        moment: datetime,
        tag: str,
        seed: str,
        camera: str,
        started_at: datetime,
        ended_at: datetime,
        sizes: tuple[int, int],
        event_id: str | None = None,
        command_id: str | None = None,
    ) -> Recording:
        """A clip of `camera` over the window, named after `moment` (the incident, or the start asked for)."""
        size, sha256 = _draw(seed, sizes, MP4_HEADER)
        return Recording(
            file_id=f"clip-{_stamp(moment)}-{camera}-{tag}",
            kind="video",
            name=f"{camera}-{moment:%Y%m%d_%H%M%S}.mp4",
            content_type="video/mp4",
            size_bytes=size,
            sha256=sha256,
            seed=seed,
            header=MP4_HEADER,
            started_at=started_at,
            ended_at=ended_at,
            camera=camera,
            event_id=event_id,
            command_id=command_id,
        )
