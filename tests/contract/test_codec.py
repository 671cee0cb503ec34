"""Contract v1: decoding good and bad payloads, and the published JSON Schema files."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from fleet.contract.codec import (
    MAX_RECORDS_PER_MESSAGE,
    DecodeLimits,
    MessageRejected,
    Reason,
    decode_message,
    encode_message,
)
from fleet.contract.export import SCHEMA_DIR, rendered_schemas
from fleet.contract.records import CanRecord, PositionRecord, StatusRecord
from fleet.contract.topics import (
    DOWNLINK_SUFFIXES,
    Stream,
    TopicError,
    downlink_suffix,
    downlink_topic,
    parse_uplink_topic,
    uplink_subscription,
    uplink_topic,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LIMITS = DecodeLimits(max_payload_bytes=4096, max_future=timedelta(minutes=5), max_age=timedelta(days=30))


def decode(payload: object, stream: str = "pos", device: str = "bus-1"):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_message(f"fleet/v1/{device}/{stream}", raw, NOW, LIMITS)


def test_single_position_with_rfc3339_offset_is_normalised_to_utc() -> None:
    decoded = decode({"ts": "2026-11-23T09:00:00+01:00", "seq": 7, "lat": 48.1, "lon": 11.5, "speed_kmh": 30})
    (record,) = decoded.records
    assert isinstance(record, PositionRecord)
    assert record.ts == NOW and record.seq == 7 and record.speed_kmh == 30
    assert (decoded.device_id, decoded.stream) == ("bus-1", Stream.POS)


def test_epoch_milliseconds_are_accepted() -> None:
    (record,) = decode({"ts": int(NOW.timestamp() * 1000), "seq": 1, "lat": 0, "lon": 0}).records
    assert record.ts == NOW


def test_unknown_fields_are_ignored_and_counted() -> None:
    decoded = decode({"ts": "2026-11-23T08:00:00Z", "seq": 1, "lat": 0, "lon": 0, "rssi": -70, "x": 1})
    assert len(decoded.records) == 1 and decoded.unknown_fields == 2


def test_batch_rejects_bad_records_alone() -> None:
    good = {"ts": "2026-11-23T07:59:00Z", "seq": 1, "lat": 1, "lon": 1}
    decoded = decode({"records": [good, {"ts": "2026-11-23T07:59:01Z", "seq": -1, "lat": 1, "lon": 1}, 5, good]})
    assert len(decoded.records) == 2
    assert [r.reason for r in decoded.rejected] == [Reason.SCHEMA, Reason.BAD_SHAPE]
    assert "seq" in decoded.rejected[0].detail


def test_valid_batch_keeps_every_record_in_order_and_counts_unknown_fields() -> None:
    records = [
        {"ts": f"2026-11-23T07:5{k}:00Z", "seq": k, "lat": 1, "lon": 2, "rssi": -70, "extra": {"nested": [k]}}
        for k in range(5)
    ]
    decoded = decode({"records": records, "device_meta": "ignored"})
    assert [r.seq for r in decoded.records] == [0, 1, 2, 3, 4]
    assert decoded.unknown_fields == 10 and decoded.rejected == []


def test_a_batch_with_one_record_out_of_bounds_rejects_only_that_record() -> None:
    good = {"ts": "2026-11-23T07:59:00Z", "seq": 1, "lat": 1, "lon": 1}
    future = {"ts": "2026-11-23T09:00:00Z", "seq": 2, "lat": 1, "lon": 1}
    decoded = decode({"records": [good, future]})
    assert [r.seq for r in decoded.records] == [1]
    assert [r.reason for r in decoded.rejected] == [Reason.FUTURE]


def test_a_single_record_with_a_field_named_records_is_judged_as_a_batch() -> None:
    with pytest.raises(MessageRejected) as caught:
        decode({"ts": "2026-11-23T07:59:00Z", "seq": 1, "lat": 1, "lon": 1, "records": 5})
    assert caught.value.reason == Reason.BAD_SHAPE


def test_a_timestamp_without_a_utc_form_is_a_schema_error_of_that_record_alone() -> None:
    good = {"ts": "2026-11-23T07:59:00Z", "seq": 1, "lat": 1, "lon": 1}
    for ts in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        decoded = decode({"records": [good, {**good, "ts": ts, "seq": 2}]})
        assert [r.seq for r in decoded.records] == [1]
        assert [(r.reason, r.detail) for r in decoded.rejected] == [(Reason.SCHEMA, "ts: Value error, ts out of range")]


def test_a_records_key_spelled_with_escapes_is_still_a_batch() -> None:
    good = {"ts": "2026-11-23T07:59:00Z", "seq": 1, "lat": 1, "lon": 1}
    payload = json.dumps({**good, "records": [{**good, "seq": 2}, {**good, "seq": -3}]}).encode()
    decoded = decode(payload.replace(b'"records"', b'"rec\\u006frds"'))
    assert [r.seq for r in decoded.records] == [2]
    assert [r.reason for r in decoded.rejected] == [Reason.SCHEMA]


def test_deeply_nested_json_is_a_bad_json_dead_letter() -> None:
    limits = DecodeLimits(10**8, LIMITS.max_future, LIMITS.max_age)
    payload = b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(MessageRejected) as caught:
        decode_message("fleet/v1/bus-1/pos", payload, NOW, limits)
    assert caught.value.reason == Reason.BAD_JSON


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        ("2026-11-23T08:06:00Z", Reason.FUTURE),
        ("2026-10-01T08:00:00Z", Reason.TOO_OLD),
        ("2026-11-23T08:00:00", Reason.SCHEMA),  # no offset
        ("2026-11-23", Reason.SCHEMA),
        (True, Reason.SCHEMA),
        ("soon", Reason.SCHEMA),
    ],
)
def test_timestamps_out_of_bounds_or_malformed_are_rejected(ts: object, reason: Reason) -> None:
    decoded = decode({"ts": ts, "seq": 1, "lat": 0, "lon": 0})
    assert decoded.records == [] and decoded.rejected[0].reason == reason


def test_four_minutes_ahead_is_tolerated_as_clock_skew() -> None:
    assert decode({"ts": "2026-11-23T08:04:00Z", "seq": 1, "lat": 0, "lon": 0}).records


def numeric_fields(record: type[BaseModel]) -> list[str]:
    """Fields whose JSON Schema admits a number (ts aside: it is a timestamp, judged by its own parser)."""
    properties = record.model_json_schema()["properties"]
    return [
        name
        for name, schema in properties.items()
        if name != "ts" and {o.get("type") for o in schema.get("anyOf", [schema])} & {"number", "integer"}
    ]


NUMERIC_FIELDS = [
    (stream, name)
    for stream, record in (("pos", PositionRecord), ("can", CanRecord), ("status", StatusRecord))
    for name in numeric_fields(record)
]


@pytest.mark.parametrize(("stream", "field"), NUMERIC_FIELDS)
@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e400", "-1e400"])
def test_non_finite_numbers_are_a_schema_error_in_every_field(stream: str, field: str, literal: str) -> None:
    """Python's JSON parser reads Infinity and NaN, and 1e400 overflows to infinity: none may reach a bound check."""
    base = {"pos": {"lat": 1, "lon": 2}, "can": {}, "status": {"state": "online"}}[stream]
    good = {"ts": "2026-11-23T07:59:00Z", "seq": 1, **base}
    bad = json.dumps({**good, "seq": 2, field: 0}).replace(f'"{field}": 0', f'"{field}": {literal}')
    single = decode(bad.encode(), stream=stream)
    batch = decode(f'{{"records": [{json.dumps(good)}, {bad}]}}'.encode(), stream=stream)

    for decoded in (single, batch):
        details = [(r.reason, r.detail) for r in decoded.rejected]
        assert details == [(Reason.SCHEMA, f"{field}: Input should be a finite number")]
    assert single.records == [] and [r.seq for r in batch.records] == [1]


def test_the_finiteness_cases_cover_every_numeric_field() -> None:
    expected = {("can", "fuel_used_total_l"), ("can", "passenger_count"), ("pos", "lat"), ("status", "seq")}
    assert expected <= set(NUMERIC_FIELDS)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", Reason.BAD_JSON),
        (b"{", Reason.BAD_JSON),
        (b"[1,2]", Reason.BAD_SHAPE),
        (b'{"records": []}', Reason.BAD_SHAPE),
        (b'{"records": {}}', Reason.BAD_SHAPE),
        (b"{" + b" " * 5000 + b"}", Reason.OVERSIZED),
    ],
)
def test_unusable_messages_are_rejected_whole(payload: bytes, reason: Reason) -> None:
    with pytest.raises(MessageRejected) as caught:
        decode(payload)
    assert caught.value.reason == reason and caught.value.detail


def test_too_many_records_in_one_message_are_rejected() -> None:
    record = {"ts": "2026-11-23T08:00:00Z", "seq": 1, "lat": 0, "lon": 0}
    limits = DecodeLimits(10**8, LIMITS.max_future, LIMITS.max_age)
    payload = json.dumps({"records": [record] * (MAX_RECORDS_PER_MESSAGE + 1)}).encode()
    with pytest.raises(MessageRejected):
        decode_message("fleet/v1/bus-1/pos", payload, NOW, limits)


@pytest.mark.parametrize(
    "topic", ["fleet/v1/bus 1/pos", "fleet/v2/bus-1/pos", "fleet/v1/bus-1/video", "fleet/v1/bus-1", "x/y/z/w"]
)
def test_bad_topics_are_rejected(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_uplink_topic(topic)


def test_topics_round_trip_and_share_groups() -> None:
    assert parse_uplink_topic(uplink_topic("Bus_7-a", Stream.CAN)) == ("Bus_7-a", Stream.CAN)
    assert uplink_subscription("ingest") == "$share/ingest/fleet/v1/#"
    assert uplink_subscription() == "fleet/v1/#"


@pytest.mark.parametrize(
    ("topic", "suffix"),
    [
        ("fleet/v1/bus-1/cmd", "cmd"),
        ("fleet/v1/Bus_7-a/file/grant", "file/grant"),
        ("fleet/v1/bus-1/pos", None),
        ("fleet/v1/bus-1/cmd/x", None),
        ("fleet/v1/bus-1/file", None),
        ("fleet/v1/bus 1/cmd", None),
        ("fleet/v1//cmd", None),
        ("fleet/v2/bus-1/cmd", None),
        ("x/v1/bus-1/cmd", None),
        ("fleet/v1/cmd", None),
    ],
)
def test_downlink_topics_are_recognised_exactly(topic: str, suffix: str | None) -> None:
    assert downlink_suffix(topic) == suffix


def test_downlink_topics_come_from_the_one_list_and_are_never_uplink() -> None:
    topics = [downlink_topic("bus-1", suffix) for suffix in DOWNLINK_SUFFIXES]
    assert topics == ["fleet/v1/bus-1/cmd", "fleet/v1/bus-1/file/grant"]
    for topic in topics:
        with pytest.raises(TopicError):
            parse_uplink_topic(topic)
    with pytest.raises(TopicError):
        downlink_topic("bus-1", "pos")
    with pytest.raises(TopicError):
        downlink_topic("bus 1", "cmd")


def test_can_and_status_records_validate_their_ranges() -> None:
    decoded = decode({"ts": "2026-11-23T08:00:00Z", "seq": 1, "fuel_level_pct": 101}, stream="can")
    assert decoded.rejected and "fuel_level_pct" in decoded.rejected[0].detail
    (status,) = decode({"ts": "2026-11-23T08:00:00Z", "seq": 1, "state": "offline"}, stream="status").records
    assert isinstance(status, StatusRecord) and status.state == "offline"
    assert decode({"ts": "2026-11-23T08:00:00Z", "seq": 1, "state": "asleep"}, stream="status").rejected


def test_encoded_records_decode_to_the_same_values() -> None:
    records = [
        CanRecord(ts=NOW, seq=1, fuel_used_total_l=10.5, doors_open=[True, False]),
        CanRecord(ts=NOW + timedelta(seconds=1), seq=2, battery_soc_pct=55.0),
    ]
    decoded = decode_message("fleet/v1/bus-1/can", encode_message(records), NOW, LIMITS)
    assert decoded.records == records and decoded.unknown_fields == 0


def test_published_schema_files_match_the_models() -> None:
    for name, content in rendered_schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"{name} missing: run python -m fleet.contract.export"
        assert path.read_text() == content, f"{name} is stale: run python -m fleet.contract.export"


FILE_OFFER = {
    "ts": "2026-11-23T07:59:00Z",
    "seq": 3,
    "file_id": "clip-1",
    "state": "offered",
    "kind": "video",
    "name": "front.mp4",
    "size_bytes": 1000,
    "sha256": "ab" * 32,
    "content_type": "video/mp4",
}


def test_a_file_offer_decodes() -> None:
    decoded = decode(FILE_OFFER, stream="file")

    (record,) = decoded.records
    assert (record.file_id, record.kind, record.size_bytes, record.sha256) == ("clip-1", "video", 1000, "ab" * 32)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "firmware"),
        ("state", "verified"),
        ("file_id", "../etc"),
        ("sha256", "xyz"),
        ("size_bytes", -1),
        ("name", "a/b.mp4"),
        ("content_type", "not a type"),
    ],
)
def test_a_file_record_outside_the_contract_is_a_schema_dead_letter(field: str, value: object) -> None:
    decoded = decode({**FILE_OFFER, field: value}, stream="file")

    assert decoded.records == []
    assert [r.reason for r in decoded.rejected] == [Reason.SCHEMA]
    assert field in decoded.rejected[0].detail


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"command_id": "0", "state": "done"}, "command_id"),
        ({"command_id": "12", "state": "acked"}, "state"),
        ({"command_id": "12", "state": "done", "error": "x" * 2001}, "error"),
    ],
)
def test_an_ack_outside_the_contract_is_a_schema_dead_letter(record: dict[str, object], problem: str) -> None:
    decoded = decode({"ts": "2026-11-23T07:59:00Z", "seq": 1, **record}, stream="ack")

    assert [r.reason for r in decoded.rejected] == [Reason.SCHEMA]
    assert problem in decoded.rejected[0].detail
