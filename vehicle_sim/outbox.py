"""Store-and-forward: records held while a bus has no uplink, released as batches when it is back; no I/O."""

import json
from collections import deque
from dataclasses import dataclass

from fleet.contract.codec import encode_message, record_to_json
from fleet.contract.records import Record
from fleet.contract.topics import Stream, uplink_topic

# Records per batch message: a tenth of the codec's MAX_RECORDS_PER_MESSAGE, about 20 kB of pos records,
# far below the broker's 1 MiB max_packet_size, and cheap to resend if the connection drops mid-backlog.
BATCH_MAX_RECORDS = 100
# A device's ring buffer: an hour of 1 Hz positions per stream; the oldest records go first when it is full.
BUFFER_MAX_RECORDS_PER_STREAM = 3600


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message ready to publish."""

    stream: Stream
    topic: str
    payload: bytes
    records: int


class Outbox:
    """Per-stream buffer of one device; publishing order is backlog first, oldest first, then live records."""

    def __init__(self, device_id: str, capacity_per_stream: int = BUFFER_MAX_RECORDS_PER_STREAM) -> None:
        self.device_id = device_id
        self._capacity = capacity_per_stream
        self._held: dict[Stream, deque[Record]] = {}
        self.overwritten = 0

    @property
    def held(self) -> int:
        """Records waiting for the uplink."""
        # Asked before every publish: most of the time nothing is held.
        return sum(len(records) for records in self._held.values()) if self._held else 0

    def submit(self, stream: Stream, record: Record, online: bool) -> list[Outgoing]:
        """Messages to publish now: none while offline, else the backlog batches followed by this record."""
        if not online:
            self.hold(stream, record)
            return []
        live = self._message(stream, [record], batch=False)
        return [*self.release(), live] if self._held else [live]

    def hold(self, stream: Stream, record: Record) -> None:
        """Keep a record until the uplink returns."""
        held = self._held.setdefault(stream, deque(maxlen=self._capacity))
        if len(held) == self._capacity:
            self.overwritten += 1
        held.append(record)

    def release(self) -> list[Outgoing]:
        """The whole backlog as `{"records": [...]}` batches of at most BATCH_MAX_RECORDS, per stream."""
        messages = []
        for stream, held in self._held.items():
            records = list(held)
            for start in range(0, len(records), BATCH_MAX_RECORDS):
                messages.append(self._message(stream, records[start : start + BATCH_MAX_RECORDS], batch=True))
        self._held.clear()
        return messages

    def _message(self, stream: Stream, records: list[Record], batch: bool) -> Outgoing:
        if batch and len(records) == 1:
            # encode_message sends a lone record bare; a backlog message is always a batch, even of one.
            payload = json.dumps({"records": [record_to_json(records[0])]}, separators=(",", ":")).encode()
        else:
            payload = encode_message(records)
        return Outgoing(stream, uplink_topic(self.device_id, stream), payload, len(records))
