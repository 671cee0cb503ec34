"""The blob store interface: what the file flow and the archive need from object storage, and nothing more.

Two implementations: `S3BlobStore` (boto3; AWS S3, SeaweedFS, MinIO) and `LocalBlobStore` (a folder under
FLEET_DATA_DIR, for `fleet up`). Bytes go from the unit straight to the store with a presigned request; the
services only sign, check (`head`, `sha256`) and read back. Errors are the core's: a missing object or upload is
`NotFound`, a refused value `Invalid`, storage that cannot be reached or answers 5xx `Unavailable`.
"""

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from types import TracebackType
from typing import BinaryIO, Literal, Protocol
from urllib.parse import quote

from fleet.errors import Invalid

# S3's limits, kept by both stores so that what works on one works on the other.
MAX_SINGLE_PUT_BYTES = 5 * 1024**3
MIN_PART_BYTES = 5 * 1024**2
MAX_PART_BYTES = 5 * 1024**3
MAX_PARTS = 10_000
# SigV4 presigned URLs live at most a week.
MAX_EXPIRY = timedelta(days=7)
MIN_EXPIRY = timedelta(seconds=1)
DEFAULT_EXPIRY = timedelta(minutes=15)
# Reads are streamed in chunks of this size.
CHUNK_BYTES = 1024 * 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# A download name: printable, no path separators, quotes or control characters.
_BAD_FILENAME_CHARACTERS = re.compile(r'[\x00-\x1f\x7f/\\"]')
MAX_FILENAME_CHARACTERS = 255


class RangeNotSatisfiable(Invalid):
    """A read starting at or past the end of the object (HTTP 416); `size` is the object's size."""

    http_status = 416

    def __init__(self, detail: str, size: int) -> None:
        super().__init__(detail)
        self.size = size


@dataclass(frozen=True)
class PresignedRequest:
    """A request anyone holding it may make until `expires_at`, exactly as given: method, URL and every header.

    The headers are part of the signature (the length, the checksum, the encryption): a unit sends them all,
    unchanged, and adds none that start with `x-amz-`.
    """

    method: Literal["GET", "PUT"]
    url: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class BlobInfo:
    """What the store knows about an object without reading it."""

    key: str
    size: int
    # Opaque, without quotes; changes when the object does.
    etag: str
    last_modified: datetime
    content_type: str | None = None


@dataclass(frozen=True)
class UploadedPart:
    """A part of a multipart upload the store holds; complete_multipart takes these back (size is not used)."""

    part_number: int
    size: int
    # Without quotes.
    etag: str


class BlobReader:
    """An open byte range `[start, end]` of an object of `size` bytes: iterate for chunks, then close.

    A context manager; the chunks arrive as they are read from storage, never the whole range at once.
    """

    def __init__(self, chunks: Iterator[bytes], *, start: int, end: int, size: int, close: Callable[[], None]) -> None:
        self._chunks = chunks
        self.start = start
        # Inclusive, as in HTTP's Content-Range; start - 1 for an empty object.
        self.end = end
        self.size = size
        self._close = close
        self._closed = False

    @property
    def length(self) -> int:
        """Bytes in the range."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The Content-Range header of a 206 answer with this range."""
        return f"bytes {self.start}-{self.end}/{self.size}"

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def read(self) -> bytes:
        """The whole range at once (small objects only)."""
        try:
            return b"".join(self._chunks)
        finally:
            self.close()

    def close(self) -> None:
        """Release the file or connection (twice is harmless)."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class BlobStore(Protocol):
    """Object storage for file payloads and the archive. Keys come from `fleet.blobs.keys`."""

    def presign_put(
        self,
        key: str,
        content_length: int,
        sha256_hex: str | None = None,
        expires: timedelta = DEFAULT_EXPIRY,
        content_type: str | None = None,
    ) -> PresignedRequest:
        """A PUT of exactly `content_length` bytes (and, given, exactly that SHA-256) to `key`, until `expires`."""
        ...

    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        """Begin a multipart upload to `key`; returns its upload id."""
        ...

    def presign_part(
        self, key: str, upload_id: str, part_number: int, content_length: int, expires: timedelta = DEFAULT_EXPIRY
    ) -> PresignedRequest:
        """A PUT of part `part_number` (1-10000) of exactly `content_length` bytes."""
        ...

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts stored so far, by part number (what an interrupted upload need not send again)."""
        ...

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        """Join `parts` (ascending part numbers; each but the last at least 5 MiB) into the object `key`."""
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; an unknown or finished upload is no error."""
        ...

    def head(self, key: str) -> BlobInfo | None:
        """Size and etag of `key`, or None when there is no such object."""
        ...

    def sha256(self, key: str) -> str:
        """SHA-256 (hex) of the object, read through once."""
        ...

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        """Stream bytes `start` to `end` (inclusive; None: to the end, which is also where a larger end stops)."""
        ...

    def presign_get(
        self, key: str, expires: timedelta = DEFAULT_EXPIRY, filename: str | None = None
    ) -> PresignedRequest:
        """A GET of `key` (Range allowed) until `expires`; with `filename`, downloaded as an attachment of that name."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; a missing object is no error."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store a small object in one request."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Read a small object whole."""
        ...

    def put_file(self, key: str, source: BinaryIO, size: int, content_type: str | None = None) -> None:
        """Store `size` bytes read from `source` (from where it stands) in constant memory, in parts if large."""
        ...


def check_expiry(expires: timedelta) -> int:
    """`expires` in whole seconds when within 1 s to 7 days (SigV4's limit); `Invalid` otherwise."""
    if not isinstance(expires, timedelta) or not MIN_EXPIRY <= expires <= MAX_EXPIRY:
        raise Invalid(f"a presigned URL lives between {MIN_EXPIRY} and {MAX_EXPIRY}, not {expires}")
    return int(expires.total_seconds())


def check_length(content_length: int, largest: int, what: str = "content length") -> int:
    """`content_length` when it is an integer from 0 to `largest`."""
    if isinstance(content_length, bool) or not isinstance(content_length, int):
        raise Invalid(f"{what} must be an integer")
    if not 0 <= content_length <= largest:
        raise Invalid(f"{what} {content_length} out of range 0-{largest}")
    return content_length


def check_part_number(part_number: int) -> int:
    """`part_number` when it is 1 to 10000."""
    if isinstance(part_number, bool) or not isinstance(part_number, int) or not 1 <= part_number <= MAX_PARTS:
        raise Invalid(f"part number must be 1-{MAX_PARTS}, not {part_number!r}")
    return part_number


def check_sha256_hex(sha256_hex: str) -> str:
    """The digest in lower-case hex; `Invalid` for anything but 64 hex digits."""
    value = sha256_hex.lower() if isinstance(sha256_hex, str) else ""
    if not _SHA256_HEX.fullmatch(value):
        raise Invalid("sha256 must be 64 hex digits")
    return value


def check_filename(filename: str) -> str:
    """A download name: 1-255 characters, none of them a control character, `/`, `\\` or `"`."""
    if not isinstance(filename, str) or not 1 <= len(filename) <= MAX_FILENAME_CHARACTERS:
        raise Invalid(f"a download name has 1-{MAX_FILENAME_CHARACTERS} characters")
    if _BAD_FILENAME_CHARACTERS.search(filename):
        raise Invalid("a download name holds no control characters, slashes or quotes")
    return filename


def content_disposition(filename: str) -> str:
    """`attachment` with `filename` for every browser: an ASCII fallback and the exact name (RFC 6266, 5987)."""
    check_filename(filename)
    fallback = "".join(char if " " <= char <= "~" and char not in "%;" else "_" for char in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def check_range(start: int, end: int | None, size: int) -> tuple[int, int]:
    """The inclusive byte range `[start, end]` clamped to an object of `size` bytes.

    `RangeNotSatisfiable` when `start` is at or past the end (an empty object reads as the empty range 0..-1).
    """
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise Invalid(f"range start must be a non-negative integer, not {start!r}")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int) or end < start):
        raise Invalid(f"range end must be an integer at least the start, not {end!r}")
    if size == 0 and start == 0:
        return 0, -1
    if start >= size:
        raise RangeNotSatisfiable(f"range starts at {start}, the object has {size} bytes", size)
    return start, size - 1 if end is None else min(end, size - 1)


def check_parts(parts: Iterable[UploadedPart]) -> list[UploadedPart]:
    """`parts` as a list when their numbers are valid and strictly ascending."""
    checked = list(parts)
    if not checked:
        raise Invalid("a multipart upload needs at least one part")
    numbers = [check_part_number(part.part_number) for part in checked]
    if any(later <= earlier for earlier, later in pairwise(numbers)):
        raise Invalid("parts must be listed in strictly ascending part number")
    return checked
