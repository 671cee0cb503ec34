"""The files of one bus unit: recorded or asked for, offered on `file`, uploaded while covered, dropped once verified.

Three threads meet here, under one lock: the fleet's ticker (`tick`), the device's MQTT network thread (`answer`,
`request`) and the upload pool (`_run`, which holds the lock only to record the outcome, never during the PUTs).
"""

import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from fleet.contract.downlink import FileGrant, FileGrantMessage, FileRefused, FileVerified
from fleet.contract.records import Record
from fleet.contract.topics import Stream
from vehicle_sim.recordings import Recording
from vehicle_sim.transfer import Phase, Report, Transfer
from vehicle_sim.upload import Piece, UploadError, pieces, send

logger = logging.getLogger(__name__)

# Files a unit keeps. A newer recording overwrites the oldest one not being uploaded (reported `failed`), so a bus
# that cannot upload (no backend, storage down) holds and offers again a bounded number.
MAX_FILES = 100
# Where an interrupted upload is cut: about half of the bytes it was to send.
CUT_SHARE = (0.4, 0.6)

Uploader = Callable[[Sequence[Piece], bytes, int | None, Callable[[], str | None]], int]
# Told None once a file asked for is verified, or why the unit gave up on it.
Settled = Callable[[str | None], None]


@dataclass(slots=True)
class _Held:
    """A file on the unit, its upload, and who waits for its outcome."""

    recording: Recording
    transfer: Transfer
    on_settled: Settled | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    """One upload attempt for the pool: the grant, and the share of its bytes after which it is cut, if it is."""

    recording: Recording
    grant: FileGrant
    cut_share: float | None


class FileUnit:
    """The file store and uploads of one bus, moved along by `tick` and by the answers it is given."""

    def __init__(
        self,
        device_id: str,
        due: Callable[[datetime], list[Recording]],
        send_record: Callable[[Stream, Record, bool], None],
        pool: Executor,
        stop: threading.Event,
        clock: Callable[[], datetime],
        rng: random.Random,
        interrupt_probability: float,
        upload: Uploader = send,
    ) -> None:
        """`due` gives what the bus recorded up to a time (`Recorder.due`); `send_record` is its device's `send`."""
        self.device_id = device_id
        self._due = due
        self._send_record = send_record
        self._pool = pool
        self._stop = stop
        self._clock = clock
        self._rng = rng
        self._interrupt_probability = interrupt_probability
        self._upload = upload
        self._lock = threading.Lock()
        self._files: dict[str, _Held] = {}
        self._seq = 0
        self._covered = True

    def phases(self) -> dict[str, Phase]:
        """The files held, oldest first, and where each one's upload stands."""
        with self._lock:
            return {file_id: held.transfer.phase for file_id, held in self._files.items()}

    def tick(self, now: datetime, covered: bool) -> None:
        """Offer what was recorded up to `now`, offer again what is due, and start the uploads granted."""
        jobs = []
        with self._lock:
            self._covered = covered
            for recording in self._due(now):
                self._add(recording, now)
            for held in list(self._files.values()):
                report, grant = held.transfer.poll(now, covered)
                self._report(held, report, now)
                if grant is not None:
                    jobs.append(_Job(held.recording, grant, self._cut_share()))
        for job in jobs:
            self._pool.submit(self._run, job)

    def request(self, recording: Recording, on_settled: Settled) -> None:
        """Offer a file asked for (by a command) at once; `on_settled` hears of its end.

        It is called with this unit's lock held, once the file is verified or given up.
        """
        now = self._clock()
        with self._lock:
            self._add(recording, now, on_settled)

    def answer(self, message: FileGrantMessage) -> None:
        """Take an answer received on `file/grant`."""
        now = self._clock()
        with self._lock:
            held = self._files.get(message.file_id)
            if held is None:
                logger.debug("%s got an answer for %s, which it no longer holds", self.device_id, message.file_id)
                return
            if isinstance(message, FileRefused):
                logger.warning("%s: the backend refused %s: %s", self.device_id, message.file_id, message.error)
            elif isinstance(message, FileVerified):
                logger.info("%s: %s is verified; dropping the local copy", self.device_id, message.file_id)
            self._report(held, held.transfer.answer(message, now), now)
            self._settle(held)

    def _add(self, recording: Recording, now: datetime, on_settled: Settled | None = None) -> None:
        if len(self._files) >= MAX_FILES:
            oldest = next((h for h in self._files.values() if h.transfer.phase != Phase.UPLOADING), None)
            if oldest is not None:
                self._report(oldest, oldest.transfer.abandon("unit storage full: overwritten by a newer file"), now)
                self._settle(oldest)
        held = _Held(recording, Transfer(self._rng), on_settled)
        self._files[recording.file_id] = held
        logger.info(
            "%s recorded %s (%s, %d bytes)", self.device_id, recording.file_id, recording.kind, recording.size_bytes
        )
        self._report(held, held.transfer.offer(now), now)

    def _cut_share(self) -> float | None:
        if self._rng.random() >= self._interrupt_probability:
            return None
        return self._rng.uniform(*CUT_SHARE)

    def _run(self, job: _Job) -> None:
        """One upload attempt, on a pool thread."""
        succeeded, detail = self._attempt(job)
        if self._stop.is_set():
            return
        now = self._clock()
        with self._lock:
            held = self._files.get(job.recording.file_id)
            if held is None:
                return
            if succeeded:
                logger.info("%s uploaded %s: %s", self.device_id, job.recording.file_id, detail)
                report = held.transfer.uploaded(now)
            else:
                attempt = held.transfer.failures + 1
                logger.info("%s upload %d of %s failed: %s", self.device_id, attempt, job.recording.file_id, detail)
                report = held.transfer.upload_failed(detail, now)
            self._report(held, report, now)
            self._settle(held)

    def _attempt(self, job: _Job) -> tuple[bool, str]:
        """Make the PUTs of the job: (True, what was sent), or (False, why not)."""
        try:
            plan = pieces(job.grant, job.recording.size_bytes)
            total = sum(piece.stop - piece.start for piece in plan)
            cut_after = None if job.cut_share is None else int(total * job.cut_share)
            sent = self._upload(plan, job.recording.read(), cut_after, self._halted)
        except UploadError as error:
            return False, str(error)
        return True, f"{sent} bytes in {len(plan)} requests"

    def _halted(self) -> str | None:
        if self._stop.is_set():
            return "the unit is stopping"
        return None if self._covered else "no coverage"

    def _report(self, held: _Held, report: Report | None, now: datetime) -> None:
        """Publish `report` (held by the device while the bus has no uplink)."""
        if report is None:
            return
        if report.state == "failed":
            logger.warning("%s gives up on %s: %s", self.device_id, held.recording.file_id, report.error)
            held.error = report.error
        record = held.recording.record(report.state, now, self._seq, report.error)
        self._seq += 1
        self._send_record(Stream.FILE, record, self._covered)

    def _settle(self, held: _Held) -> None:
        """Drop the local copy of a file that is done (verified, or given up)."""
        if held.transfer.phase == Phase.DONE:
            del self._files[held.recording.file_id]
            logger.debug("%s dropped its copy of %s", self.device_id, held.recording.file_id)
            if held.on_settled is not None:
                held.on_settled(held.error)
