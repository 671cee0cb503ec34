"""Downloads with HTTP Range (RFC 9110): one byte range of an object, streamed from the store."""

import re
from collections.abc import Iterator, Mapping

from fastapi.responses import StreamingResponse

from fleet.blobs.store import BlobReader, BlobStore, RangeNotSatisfiable

# One range of bytes: `first-last`, `first-` or the suffix `-length`; 19 digits hold any object's offsets.
_BYTE_RANGE = re.compile(r"bytes=(\d{1,19})?-(\d{1,19})?")


def requested_range(header: str | None, size: int) -> tuple[int, int | None] | None:
    """The (start, end or None) a Range header asks of `size` bytes; None to send them all.

    What is not one byte range (another unit, several ranges, garbage) is ignored, as RFC 9110 allows. A suffix of
    no bytes and any range of an empty object are `RangeNotSatisfiable`, as is (when read) a start past the end.
    """
    match = _BYTE_RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.groups() == (None, None):
        return None
    first, last = match.groups()
    if first is None:  # the last `last` bytes
        if int(last) == 0 or size == 0:
            raise RangeNotSatisfiable(f"no bytes of {size} match the range -{last}", size)
        return max(0, size - int(last)), None
    start, end = int(first), None if last is None else int(last)
    if end is not None and end < start:
        return None
    if size == 0:
        raise RangeNotSatisfiable("an empty object has no byte range", size)
    return start, end


def open_requested(store: BlobStore, key: str, size: int, header: str | None) -> tuple[BlobReader, bool]:
    """The bytes of `key` (of `size` bytes) the Range header asks for, all without one; and whether it was a range."""
    wanted = requested_range(header, size)
    return (store.open_range(key) if wanted is None else store.open_range(key, *wanted)), wanted is not None


def range_response(
    reader: BlobReader, partial: bool, content_type: str, headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    """200 with everything or 206 with the range, streamed chunk by chunk, the reader closed at the end."""
    answer = {
        **(headers or {}),
        "Content-Type": content_type,
        "Accept-Ranges": "bytes",
        "Content-Length": str(reader.length),
    }
    if partial:
        answer["Content-Range"] = reader.content_range
    return StreamingResponse(_chunks(reader), status_code=206 if partial else 200, headers=answer)


def _chunks(reader: BlobReader) -> Iterator[bytes]:
    with reader:
        yield from reader
