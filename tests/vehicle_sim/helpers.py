"""Shared helpers of the simulator tests: decoding what a simulated bus sends."""

from datetime import datetime, timedelta

from fleet.contract.codec import DecodedMessage, DecodeLimits, decode_message, encode_message
from fleet.contract.records import Record
from fleet.contract.topics import Stream, uplink_topic

LIMITS = DecodeLimits(max_payload_bytes=262144, max_future=timedelta(minutes=5), max_age=timedelta(days=30))


def decode_records(device_id: str, stream: Stream, records: list[Record], now: datetime) -> DecodedMessage:
    """Encode records as the device would and decode them as ingest does."""
    return decode_message(uplink_topic(device_id, stream), encode_message(records), now, LIMITS)
