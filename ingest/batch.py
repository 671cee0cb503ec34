"""Turn a batch of raw messages into rows to store and dead letters (pure logic, no I/O)."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fleet.contract.codec import DecodedMessage, DecodeLimits, MessageRejected, Reason, decode_message
from fleet.contract.topics import Stream, TopicError, downlink_suffix, parse_uplink_topic
from fleet.streams import STREAMS, Row
from ingest.messages import InboundMessage

UNKNOWN_STREAM = "unknown"


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device: its vehicle and tenant."""

    vehicle_id: int
    tenant_id: int


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """What to keep of a message or record that cannot be stored."""

    topic: str
    device_id: str | None
    stream: str
    reason: Reason
    detail: str
    payload: bytes
    # From a retained message sent because of a subscription: dead-lettered once, skipped when sent again.
    retained: bool = False


@dataclass(frozen=True, slots=True)
class Downlink:
    """A message on a downlink topic (the backend publishes those to vehicles): acknowledged, counted, ignored."""

    suffix: str


@dataclass(slots=True)
class Rows:
    """Rows for one transaction."""

    # Rows of each stream in arrival order (see fleet.streams); the store skips keys already stored.
    series: dict[Stream, list[Row]] = field(default_factory=dict)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    tenant_of_dead_letter: list[int | None] = field(default_factory=list)
    # (stream, result) -> count, for metrics once the transaction commits.
    message_results: dict[tuple[str, str], int] = field(default_factory=dict)
    unknown_fields: dict[str, int] = field(default_factory=dict)
    records_offered: dict[str, int] = field(default_factory=dict)
    # Downlink suffix -> messages ignored.
    downlink_ignored: dict[str, int] = field(default_factory=dict)

    def dead_letter(self, row: DeadLetterRow, tenant_id: int | None) -> None:
        """Add a dead letter."""
        self.dead_letters.append(row)
        self.tenant_of_dead_letter.append(tenant_id)

    def count_message(self, stream: str, result: str) -> None:
        """Count one message's result."""
        self.message_results[(stream, result)] = self.message_results.get((stream, result), 0) + 1


Decoded = DecodedMessage | DeadLetterRow | Downlink


def decode_all(messages: Sequence[InboundMessage], now: datetime, limits: DecodeLimits) -> list[Decoded]:
    """Decode every message; a message unusable as a whole becomes a dead letter, unless it is downlink."""
    decoded: list[Decoded] = []
    for message in messages:
        try:
            decoded.append(decode_message(message.topic, message.payload, now, limits))
        except MessageRejected as rejected:
            # Ingest subscribes to the whole tree, so it also receives what the backend sends vehicles. Looked at
            # only here, after the uplink topic failed to parse: valid uplink pays nothing for it.
            suffix = downlink_suffix(message.topic)
            if suffix is not None:
                decoded.append(Downlink(suffix))
            else:
                decoded.append(message_dead_letter(message, rejected.reason, rejected.detail))
    return decoded


def message_dead_letter(message: InboundMessage, reason: Reason, detail: str) -> DeadLetterRow:
    """A dead letter of a whole message, with the device and stream its topic names (when it names them)."""
    try:
        device_id: str | None
        device_id, stream = parse_uplink_topic(message.topic)
        stream_name = stream.value
    except TopicError:
        device_id, stream_name = None, UNKNOWN_STREAM
    return DeadLetterRow(message.topic, device_id, stream_name, reason, detail, message.payload, message.retain)


def device_ids(decoded: Sequence[Decoded]) -> set[str]:
    """Device ids whose registration the batch needs."""
    return {d.device_id for d in decoded if isinstance(d, DecodedMessage)} | {
        d.device_id for d in decoded if isinstance(d, DeadLetterRow) and d.device_id
    }


def build_rows(
    messages: Sequence[InboundMessage],
    decoded: Sequence[Decoded],
    devices: Mapping[str, Device],
    received_at: datetime,
) -> Rows:
    """Rows to write for decoded messages whose devices are known; the rest become dead letters."""
    rows = Rows()
    for message, item in zip(messages, decoded, strict=True):
        if isinstance(item, Downlink):
            rows.downlink_ignored[item.suffix] = rows.downlink_ignored.get(item.suffix, 0) + 1
            continue
        if isinstance(item, DeadLetterRow):
            device = devices.get(item.device_id) if item.device_id else None
            rows.dead_letter(item, device.tenant_id if device else None)
            rows.count_message(item.stream, "rejected")
            continue
        stream = item.stream.value
        device = devices.get(item.device_id)
        if device is None:
            detail = f"device {item.device_id!r} is not registered"
            reason = Reason.UNKNOWN_DEVICE
            rows.dead_letter(
                DeadLetterRow(message.topic, item.device_id, stream, reason, detail, message.payload, message.retain),
                None,
            )
            rows.count_message(stream, "rejected")
            continue
        for rejected in item.rejected:
            payload = json.dumps(rejected.raw, separators=(",", ":"), default=str).encode()
            rows.dead_letter(
                DeadLetterRow(
                    message.topic, item.device_id, stream, rejected.reason, rejected.detail, payload, message.retain
                ),
                device.tenant_id,
            )
        if item.records:
            rows.count_message(stream, "partial" if item.rejected else "accepted")
        else:
            rows.count_message(stream, "rejected")
        rows.unknown_fields[stream] = rows.unknown_fields.get(stream, 0) + item.unknown_fields
        rows.records_offered[stream] = rows.records_offered.get(stream, 0) + len(item.records)
        _add_records(rows, item, device, received_at)
    return rows


def _add_records(rows: Rows, item: DecodedMessage, device: Device, received_at: datetime) -> None:
    build, vehicle_id = STREAMS[item.stream].row, device.vehicle_id
    rows.series.setdefault(item.stream, []).extend([build(vehicle_id, r, received_at) for r in item.records])
