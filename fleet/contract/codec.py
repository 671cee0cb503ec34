"""Decode uplink payloads into validated records, and encode records for publishing."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, ValidationError

from fleet.contract.records import Record
from fleet.contract.topics import Stream, TopicError, parse_uplink_topic
from fleet.streams import STREAMS, record_type

# A store-and-forward batch of more records than this should be split by the device; it bounds one message's cost.
MAX_RECORDS_PER_MESSAGE = 1000

R = TypeVar("R", bound=Record)


class RecordBatch(BaseModel, Generic[R]):
    """A store-and-forward message, `{"records": [...]}`, when every record in it is valid."""

    records: list[R] = Field(min_length=1, max_length=MAX_RECORDS_PER_MESSAGE)


BATCH_TYPES: dict[Stream, type[RecordBatch[Any]]] = {
    stream: RecordBatch[spec.record_type]  # type: ignore[name-defined]
    for stream, spec in STREAMS.items()
}


class Reason(StrEnum):
    """Why a message or a record was dead-lettered; bounded, so usable as a metric label."""

    OVERSIZED = "oversized"
    BAD_TOPIC = "bad_topic"
    BAD_JSON = "bad_json"
    BAD_SHAPE = "bad_shape"
    SCHEMA = "schema"
    FUTURE = "future"
    TOO_OLD = "too_old"
    UNKNOWN_DEVICE = "unknown_device"
    STORE_ERROR = "store_error"


class MessageRejected(Exception):
    """The whole message is unusable."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds a payload must respect."""

    max_payload_bytes: int
    max_future: timedelta
    max_age: timedelta


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """One record of a message that failed validation, with its raw JSON value."""

    raw: Any
    reason: Reason
    detail: str


@dataclass(slots=True)
class DecodedMessage:
    """The valid records of one message, the rejected ones, and how many unknown fields were ignored."""

    device_id: str
    stream: Stream
    records: list[Record] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    unknown_fields: int = 0


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def _split_records(body: Any) -> list[Any]:
    if isinstance(body, dict) and "records" in body:
        records = body["records"]
        if not isinstance(records, list) or not records:
            raise MessageRejected(Reason.BAD_SHAPE, '"records" must be a non-empty array')
        if len(records) > MAX_RECORDS_PER_MESSAGE:
            raise MessageRejected(
                Reason.BAD_SHAPE, f"{len(records)} records in one message, at most {MAX_RECORDS_PER_MESSAGE}"
            )
        return records
    if isinstance(body, dict):
        return [body]
    raise MessageRejected(Reason.BAD_SHAPE, 'payload must be a JSON object: one record or {"records": [...]}')


def _validate_whole(payload: bytes, stream: Stream) -> list[Record] | None:
    """Every record of a valid message in one pydantic pass over the JSON, or None when the general path must judge."""
    try:
        if b'"records"' in payload:
            return list(BATCH_TYPES[stream].model_validate_json(payload).records)
        record = record_type(stream).model_validate_json(payload)
    except ValidationError:
        return None
    # A key that only decodes to "records" (spelled with escapes) makes it a batch after all.
    return None if "records" in (record.model_extra or {}) else [record]


def decode_message(topic: str, payload: bytes, now: datetime, limits: DecodeLimits) -> DecodedMessage:
    """Validate one uplink message; raise MessageRejected when none of it is usable."""
    if len(payload) > limits.max_payload_bytes:
        raise MessageRejected(Reason.OVERSIZED, f"payload of {len(payload)} bytes exceeds {limits.max_payload_bytes}")
    try:
        device_id, stream = parse_uplink_topic(topic)
    except TopicError as error:
        raise MessageRejected(Reason.BAD_TOPIC, str(error)) from None
    decoded = DecodedMessage(device_id=device_id, stream=stream)
    validated_type = record_type(stream)
    newest_allowed, oldest_allowed = now + limits.max_future, now - limits.max_age
    # Fast path for valid messages. Anything it refuses, and any record out of the time bounds, takes the general
    # path below, which says precisely what is wrong.
    records = _validate_whole(payload, stream)
    if records is not None and all(oldest_allowed <= record.ts <= newest_allowed for record in records):
        decoded.unknown_fields = sum(len(record.model_extra or {}) for record in records)
        decoded.records = records
        return decoded
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as error:
        raise MessageRejected(Reason.BAD_JSON, f"not UTF-8 JSON: {error}") from None
    except RecursionError:
        raise MessageRejected(Reason.BAD_JSON, "JSON nested too deeply") from None

    for raw in _split_records(body):
        if not isinstance(raw, dict):
            decoded.rejected.append(RejectedRecord(raw, Reason.BAD_SHAPE, "record must be a JSON object"))
            continue
        try:
            record = validated_type.model_validate(raw)
        except ValidationError as error:
            decoded.rejected.append(RejectedRecord(raw, Reason.SCHEMA, _describe(error)))
            continue
        if record.ts > newest_allowed:
            decoded.rejected.append(
                RejectedRecord(raw, Reason.FUTURE, f"ts {record.ts.isoformat()} is ahead of server time")
            )
            continue
        if record.ts < oldest_allowed:
            decoded.rejected.append(
                RejectedRecord(raw, Reason.TOO_OLD, f"ts {record.ts.isoformat()} is older than accepted")
            )
            continue
        decoded.unknown_fields += len(record.model_extra or {})
        decoded.records.append(record)
    return decoded


def record_to_json(record: Record) -> dict[str, Any]:
    """JSON object of a record as a device sends it (timestamps in RFC 3339, UTC)."""
    return record.model_dump(mode="json", exclude_none=True)


def encode_message(records: list[Record]) -> bytes:
    """Payload for one record, or a `{"records": [...]}` batch for several."""
    if len(records) == 1:
        body: Any = record_to_json(records[0])
    else:
        body = {"records": [record_to_json(r) for r in records]}
    return json.dumps(body, separators=(",", ":")).encode()
