"""Shared helpers of the simulator tests: decoding what a simulated bus sends, a clock, files to upload."""

import hashlib
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fleet.contract.codec import DecodedMessage, DecodeLimits, decode_message, encode_message
from fleet.contract.records import FileKind, Record
from fleet.contract.topics import Stream, uplink_topic
from vehicle_sim.recordings import Recording, content

T = TypeVar("T")

LIMITS = DecodeLimits(max_payload_bytes=262144, max_future=timedelta(minutes=5), max_age=timedelta(days=30))


def decode_records(device_id: str, stream: Stream, records: list[Record], now: datetime) -> DecodedMessage:
    """Encode records as the device would and decode them as ingest does."""
    return decode_message(uplink_topic(device_id, stream), encode_message(records), now, LIMITS)


class Clock:
    """A settable clock for the simulator's `clock` arguments."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move the time on; the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now


class InlineExecutor(Executor):
    """Runs each submitted call at once, in the caller's thread, so a test sees its effect on return."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "Future[T]":
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class Script:
    """What a unit records, given by the test: each file is due once, at the next tick."""

    def __init__(self) -> None:
        self.files: list[Recording] = []

    def due(self, now: datetime) -> list[Recording]:
        """The files added since the last call."""
        due, self.files = self.files, []
        return due


def recording(file_id: str, size_bytes: int, kind: FileKind = "video") -> Recording:
    """A file of `size_bytes` seeded bytes."""
    seed = f"test/{file_id}"
    return Recording(
        file_id=file_id,
        kind=kind,
        name=f"{file_id}.bin",
        content_type="application/octet-stream",
        size_bytes=size_bytes,
        sha256=hashlib.sha256(content(seed, size_bytes)).hexdigest(),
        seed=seed,
    )
