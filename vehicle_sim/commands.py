"""The commands of one bus unit (`cmd`): each acted on once, answered on `ack`, a realistic share failing or refused.

Commands come on the device's MQTT network thread (`receive`); the end of a requested file comes from whichever
thread settles it in the file flow, which holds its own lock when it calls back. So this unit's lock, which keeps
the answers and the ack stream's seq, is never held while calling into the file flow.
"""

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from fleet.contract.commands import (
    CommandMessage,
    DriverMessage,
    Params,
    Reboot,
    RequestFile,
    SetReporting,
    parse_params,
)
from fleet.contract.records import AckRecord, AckState, CommandId, Record
from fleet.contract.topics import Stream
from vehicle_sim.files import Settled
from vehicle_sim.recordings import NotAvailable, Recording
from vehicle_sim.reporting import Reporting

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Command and message ids a bus remembers to drop repeats: a repeat comes seconds after the original (a dispatcher
# that crashed before recording its send), so a few hundred cover any burst.
REMEMBERED_IDS = 500
# AckRecord.error's bound.
MAX_ERROR_CHARACTERS = 2000
# What a unit reports when a peripheral lets it down, by command type or the kind of file asked for.
FAULTS = {
    "driver_message": "display not responding",
    "tachograph_vu": "tachograph busy",
    "tachograph_card": "tachograph busy",
    "video": "camera recorder not responding",
    "set_reporting": "configuration store busy",
    "reboot": "reboot deferred: a software update is being installed",
}

FileMaker = Callable[[RequestFile, str, datetime], Recording]
FileRequester = Callable[[Recording, Settled], None]


@dataclass(frozen=True, slots=True)
class _Answer:
    """An ack's state, result and error, kept to answer a repeat of the command again."""

    state: AckState
    result: dict[str, Any] | None = None
    error: str | None = None


class _Identified(BaseModel):
    """Just a command's id: enough to refuse a command that is otherwise malformed."""

    model_config = ConfigDict(extra="ignore")

    id: CommandId


class CommandUnit:
    """The command handling of one bus; the fleet's ticker keeps `covered`, acks are held while it is False."""

    def __init__(
        self,
        device_id: str,
        send_record: Callable[[Stream, Record, bool], None],
        make_file: FileMaker,
        request_file: FileRequester,
        reporting: Reporting,
        reboot: Callable[[], None],
        clock: Callable[[], datetime],
        rng: random.Random,
        failure_probability: float,
    ) -> None:
        """Wired to the bus's `Recorder.requested`, `FileUnit.request` and device (`send`, a `reboot` of it)."""
        self.device_id = device_id
        self.covered = True
        self._send_record = send_record
        self._make_file = make_file
        self._request_file = request_file
        self._reporting = reporting
        self._reboot = reboot
        self._clock = clock
        self._rng = rng
        self._failure_probability = failure_probability
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._messages: OrderedDict[str, str] = OrderedDict()
        self._seq = 0

    def receive(self, payload: bytes, message_id: str | None = None) -> None:
        """Take a message of `cmd` (with its downlink message id, over MQTT v5): act once, answer a repeat again."""
        with self._lock:
            asked = self._take(payload, message_id, self._clock())
        if asked is not None:
            command_id, recording = asked
            self._request_file(recording, partial(self._file_settled, command_id, recording.file_id))

    def _take(self, payload: bytes, message_id: str | None, now: datetime) -> tuple[str, Recording] | None:
        """Answer the command; the file it asks for, if any, to be requested once the lock is released."""
        command_id = self._messages.get(message_id) if message_id is not None else None
        if command_id is None:
            try:
                command_id = _Identified.model_validate_json(payload).id
            except ValidationError:
                logger.warning("%s ignores a command without a valid id: %r", self.device_id, payload[:200])
                return None
        if message_id is not None:
            _remember(self._messages, message_id, command_id)
        earlier = self._answers.get(command_id)
        if earlier is not None:
            logger.info("%s got command %s again; answering %s again", self.device_id, command_id, earlier.state)
            self._answer(command_id, earlier)
            return None
        try:
            command = CommandMessage.model_validate_json(payload)
        except ValidationError as error:
            self._answer(command_id, _Answer("rejected", error=f"malformed command: {_problems(error)}"))
            return None
        if command.expires_at.tzinfo is None:
            self._answer(command.id, _Answer("rejected", error="expires_at needs a UTC offset"))
            return None
        if command.expires_at <= now:
            self._answer(command.id, _Answer("rejected", error="expired"))
            return None
        try:
            params = parse_params(command.type, command.params)
        except ValidationError as error:
            self._answer(command.id, _Answer("rejected", error=f"params of {command.type}: {_problems(error)}"))
            return None
        self._answer(command.id, _Answer("received"))
        return self._act(command, params, now)

    def _act(self, command: CommandMessage, params: Params, now: datetime) -> tuple[str, Recording] | None:
        """Do a command received; a file it asks for is returned, to be requested once the lock is released."""
        if isinstance(params, RequestFile):
            try:
                recording = self._make_file(params, command.id, now)
            except NotAvailable as reason:
                self._answer(command.id, _Answer("rejected", error=str(reason)))
                return None
            return None if self._fails(command.id, params.kind) else (command.id, recording)
        if self._fails(command.id, command.type):
            return None
        if isinstance(params, DriverMessage):
            logger.info("%s driver display: %s", self.device_id, params.text)
            self._answer(command.id, _Answer("done"))
        elif isinstance(params, SetReporting):
            pos, can = self._reporting.change(params.pos_interval_seconds, params.can_interval_seconds)
            self._answer(command.id, _Answer("done", {"pos_interval_seconds": pos, "can_interval_seconds": can}))
        elif isinstance(params, Reboot):
            self._answer(command.id, _Answer("done", {"rebooting": True}))
            self._reboot()
        return None

    def _fails(self, command_id: str, what: str) -> bool:
        """Draw whether a peripheral lets the command down; if it does, answer `failed`."""
        if self._rng.random() >= self._failure_probability:
            return False
        self._answer(command_id, _Answer("failed", error=FAULTS[what]))
        return True

    def _file_settled(self, command_id: str, file_id: str, error: str | None) -> None:
        """The file flow is done with a requested file: verified (no error), or given up."""
        answer = _Answer("done", {"file_id": file_id}) if error is None else _Answer("failed", error=error)
        with self._lock:
            self._answer(command_id, answer)

    def _answer(self, command_id: str, answer: _Answer) -> None:
        """Send `answer` on `ack` and keep it as the command's latest; the caller holds the lock."""
        _remember(self._answers, command_id, answer)
        if answer.state != "received":
            detail = f": {answer.error}" if answer.error else ""
            logger.info("%s command %s %s%s", self.device_id, command_id, answer.state, detail)
        error = None if answer.error is None else answer.error[:MAX_ERROR_CHARACTERS]
        record = AckRecord(
            ts=self._clock(),
            seq=self._seq,
            command_id=command_id,
            state=answer.state,
            result=answer.result,
            error=error,
        )
        self._seq += 1
        self._send_record(Stream.ACK, record, self.covered)


def _remember(memory: OrderedDict[str, T], key: str, value: T) -> None:
    """Keep `value` under `key`, forgetting the oldest keys beyond REMEMBERED_IDS."""
    memory[key] = value
    while len(memory) > REMEMBERED_IDS:
        memory.popitem(last=False)


def _problems(error: ValidationError) -> str:
    """A validation error in one line, as the API words it."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in error.errors())
