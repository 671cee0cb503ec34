"""The unit's side of one file's upload, as a state machine in simulated time; no I/O.

offered -> granted -> uploading -> uploaded -> done (verified). A failed PUT backs off and offers again for a
fresh grant (whose multipart parts are only those still missing) until MAX_UPLOAD_ATTEMPTS; a refusal of the
upload does the same until MAX_REJECTIONS; a refused offer, or the last failure, ends in a `failed` report.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from fleet.contract.downlink import FileGrant, FileGrantMessage, FileRefused, FileVerified
from fleet.contract.records import FileState

# The worker answers within a second or two; without an answer (the backend down, the answer lost with a
# connection) the unit asks again, waiting twice as long each time up to ANSWER_WAIT_MAX.
ANSWER_WAIT = timedelta(seconds=30)
ANSWER_WAIT_MAX = timedelta(minutes=5)
# Failed PUTs before the unit gives up: at the default of one upload in ten cut, five in a row is one in 100,000.
MAX_UPLOAD_ATTEMPTS = 5
# Uploads refused by the backend's check (size or SHA-256 not as offered) before the unit gives up.
MAX_REJECTIONS = 3
# Back-off after a failure: doubling from 2 s up to a minute, each wait cut to a random 50-100 % of it, so a fleet
# that lost its link together does not retry together.
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 60.0


class Phase(StrEnum):
    """Where a file's upload stands on the unit."""

    OFFERED = "offered"
    GRANTED = "granted"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    BACKING_OFF = "backing_off"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Report:
    """A `file` record to publish: the state, and with `failed` the reason."""

    state: FileState
    error: str | None = None


class Transfer:
    """One file's upload; each method takes the simulated time and may return the report to publish."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.phase = Phase.OFFERED
        self.grant: FileGrant | None = None
        self.failures = 0
        self.rejections = 0
        self._due: datetime | None = None
        self._unanswered = 0
        self._uploaded_once = False

    def offer(self, now: datetime) -> Report:
        """Offer the file (again): the backend answers with a grant, `verified` or a refusal."""
        self.phase = Phase.OFFERED
        self.grant = None
        self._due = now + min(ANSWER_WAIT_MAX, ANSWER_WAIT * 2**self._unanswered)
        return Report("offered")

    def answer(self, message: FileGrantMessage, now: datetime) -> Report | None:
        """Take the backend's answer; one that does not fit the phase (a repeat, a late one) changes nothing."""
        if self.phase == Phase.DONE:
            return None
        if isinstance(message, FileVerified):
            self.phase = Phase.DONE
            return None
        if isinstance(message, FileGrant):
            if self.phase in (Phase.OFFERED, Phase.GRANTED):
                self.phase = Phase.GRANTED
                self.grant = message
                self._unanswered = 0
            return None
        if self.phase not in (Phase.OFFERED, Phase.UPLOADED):
            return None
        return self._refused(message, now)

    def _refused(self, message: FileRefused, now: datetime) -> Report | None:
        self._unanswered = 0
        if not self._uploaded_once:
            # Refused before any upload (too large, the id stored with other contents): asking again changes nothing.
            return self._give_up(f"refused: {message.error}")
        self.rejections += 1
        if self.rejections >= MAX_REJECTIONS:
            return self._give_up(f"upload refused {self.rejections} times; the last: {message.error}")
        self._back_off(self.rejections, now)
        return None

    def poll(self, now: datetime, covered: bool) -> tuple[Report | None, FileGrant | None]:
        """What is due at `now`: an offer again (no answer, a back-off over, a grant expired), or the grant to upload.

        Nothing is due while the bus has no coverage: no upload starts, and offers would only wait in its buffer.
        """
        if not covered or self.phase in (Phase.UPLOADING, Phase.DONE):
            return None, None
        if self.phase == Phase.GRANTED:
            assert self.grant is not None
            expires_at = _expires_at(self.grant)
            if expires_at is not None and expires_at <= now:
                return self.offer(now), None
            self.phase = Phase.UPLOADING
            return None, self.grant
        assert self._due is not None
        if now < self._due:
            return None, None
        if self.phase != Phase.BACKING_OFF:
            self._unanswered += 1
        return self.offer(now), None

    def uploaded(self, now: datetime) -> Report | None:
        """The PUTs succeeded: report `uploaded` and wait for the verdict."""
        if self.phase != Phase.UPLOADING:
            return None
        self.phase = Phase.UPLOADED
        self._uploaded_once = True
        self._due = now + ANSWER_WAIT
        return Report("uploaded")

    def upload_failed(self, error: str, now: datetime) -> Report | None:
        """A PUT failed: back off and offer again, or give up after MAX_UPLOAD_ATTEMPTS."""
        if self.phase != Phase.UPLOADING:
            return None
        self.failures += 1
        if self.failures >= MAX_UPLOAD_ATTEMPTS:
            return self._give_up(f"upload failed {self.failures} times; the last: {error}")
        self._back_off(self.failures, now)
        return None

    def abandon(self, reason: str) -> Report | None:
        """Give up on the file (the unit's storage is full)."""
        return None if self.phase == Phase.DONE else self._give_up(reason)

    def _back_off(self, failures: int, now: datetime) -> None:
        self.phase = Phase.BACKING_OFF
        self.grant = None
        seconds = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (failures - 1)) * self._rng.uniform(0.5, 1.0)
        self._due = now + timedelta(seconds=seconds)

    def _give_up(self, reason: str) -> Report:
        self.phase = Phase.DONE
        self.grant = None
        return Report("failed", reason)


def _expires_at(grant: FileGrant) -> datetime | None:
    """When the first of the grant's URLs expires; None when it has none (every part is stored)."""
    if grant.upload is not None:
        return grant.upload.expires_at
    parts = grant.multipart.parts if grant.multipart is not None else []
    return min((part.expires_at for part in parts), default=None)
