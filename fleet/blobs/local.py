"""The local blob store: objects as files under FLEET_DATA_DIR/blobs, signed URLs to the API's own endpoint.

Layout under the root:

    objects/<key>@                        an object (the `@` keeps `a/b` and `a/b/c` apart: no key has one)
    uploads/<upload_id>/key               the key a multipart upload writes
    uploads/<upload_id>/parts/<NNNNN>-<md5>  one file per part; the name carries the part's etag
    tmp/                                  writes in progress, renamed into place when complete

Every write goes to a temporary file in `tmp/`, is counted, hashed and fsynced, and only then renamed over the
target: a reader sees the old object or the new one, never a part of either; a refused or interrupted write
leaves nothing. Keys are validated (`fleet.blobs.keys.validate_key`) before they touch a path, and the resolved
path is checked to stay under the root.

The presigned URLs are the API's upload and download endpoint (`base_url`), signed with HMAC-SHA256
(`fleet.blobs.signing`). The endpoint calls `verify_signature`, then `receive_object`, `receive_part` or
`open_range`.
"""

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from fleet.blobs.keys import validate_key
from fleet.blobs.signing import SignedGrant, UrlSigner
from fleet.blobs.store import (
    CHUNK_BYTES,
    DEFAULT_EXPIRY,
    MAX_PART_BYTES,
    MAX_SINGLE_PUT_BYTES,
    MIN_PART_BYTES,
    BlobInfo,
    BlobReader,
    PresignedRequest,
    UploadedPart,
    check_expiry,
    check_filename,
    check_length,
    check_part_number,
    check_parts,
    check_range,
    check_sha256_hex,
)
from fleet.errors import Invalid, NotFound, Unavailable

# Where the API serves the local store's signed URLs (the endpoint itself is the API's).
DEFAULT_BASE_URL = "/v1/blobs"
OBJECT_SUFFIX = "@"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_PART_FILE = re.compile(r"(?P<number>[0-9]{5})-(?P<etag>[0-9a-f]{32})")
# Temporary files older than this are left over from a crash: removed when a store opens.
STALE_TMP_SECONDS = 24 * 3600.0


class Hasher(Protocol):
    """The part of hashlib's hash objects used here."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass
class ContentCheck:
    """Counts and hashes bytes as they pass, for the checks of a write."""

    expected_length: int
    sha256_hex: str | None = None
    received: int = 0
    sha256: Hasher = field(default_factory=hashlib.sha256)
    md5: Hasher = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))

    def update(self, chunk: bytes) -> None:
        """Account for one chunk; `Invalid` as soon as there are more bytes than announced."""
        self.received += len(chunk)
        if self.received > self.expected_length:
            raise Invalid(f"more than the announced {self.expected_length} bytes")
        self.sha256.update(chunk)
        self.md5.update(chunk)

    def finish(self) -> None:
        """`Invalid` when the length or the announced SHA-256 differs from what passed."""
        if self.received != self.expected_length:
            raise Invalid(f"received {self.received} bytes, {self.expected_length} were announced")
        if self.sha256_hex is not None and self.sha256.hexdigest() != self.sha256_hex:
            raise Invalid("the content's SHA-256 differs from the announced one")


@contextmanager
def _storage_errors(what: str) -> Iterator[None]:
    """OSError (disk full, I/O, permissions) as Unavailable; the core's own errors pass."""
    try:
        yield
    except OSError as error:
        raise Unavailable(f"local blob store: {what} failed: {error.strerror or error}") from error


class LocalBlobStore:
    """`BlobStore` on a local folder, for `fleet up` and single-node deployments."""

    def __init__(self, root: Path, signing_key: bytes, base_url: str = DEFAULT_BASE_URL) -> None:
        self.root = root.resolve()
        self._objects = self.root / "objects"
        self._uploads = self.root / "uploads"
        self._tmp = self.root / "tmp"
        for folder in (self._objects, self._uploads, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self.signer = UrlSigner(signing_key, base_url)
        self._sweep_tmp()

    # --- paths -------------------------------------------------------------------------------------------------

    def _object_path(self, key: str) -> Path:
        segments = validate_key(key).split("/")
        path = self._objects.joinpath(*segments[:-1], segments[-1] + OBJECT_SUFFIX)
        # Validation already rules out `..` and absolute keys; this also catches a symlink pointing out.
        if not path.resolve().is_relative_to(self._objects):
            raise Invalid(f"object key {key!r} leaves the store")
        return path

    def _upload_dir(self, key: str, upload_id: str) -> Path:
        """The folder of an upload of `key`; NotFound for an unknown, finished or aborted one."""
        validate_key(key)
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise NotFound("no such upload")
        folder = self._uploads / upload_id
        try:
            stored_key = (folder / "key").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound("no such upload") from None
        except OSError as error:
            raise Unavailable(f"local blob store: reading an upload failed: {error.strerror}") from error
        if stored_key != key:
            raise NotFound("no such upload")
        return folder

    def _sweep_tmp(self) -> None:
        cutoff = time.time() - STALE_TMP_SECONDS
        for entry in self._tmp.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                pass

    def _write(self, target: Path, chunks: Iterable[bytes], check: ContentCheck) -> None:
        """Write to a temporary file, check, fsync, then rename over `target` (atomic)."""
        temporary = self._temporary(chunks, check, "writing")
        try:
            with _storage_errors("writing"):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temporary, target)
                _fsync_dir(target.parent)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _temporary(self, chunks: Iterable[bytes], check: ContentCheck, what: str) -> Path:
        """`chunks` in a checked, fsynced temporary file (removed again if anything fails)."""
        with _storage_errors(what):
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="write-")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as out, _storage_errors(what):
                for chunk in chunks:
                    check.update(chunk)
                    out.write(chunk)
                check.finish()
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return temporary

    # --- the signed URLs and the endpoint's side -----------------------------------------------------------------

    def _grant(self, grant: SignedGrant) -> PresignedRequest:
        return PresignedRequest(
            method=grant.method,
            url=self.signer.sign(grant),
            headers={} if grant.content_length is None else {"Content-Length": str(grant.content_length)},
            expires_at=grant.expires_at,
        )

    @staticmethod
    def _expires_at(expires: timedelta) -> datetime:
        return datetime.fromtimestamp(int(time.time()) + check_expiry(expires), UTC)

    def verify_signature(
        self,
        method: str,
        key: str,
        query: Mapping[str, str],
        content_length: int | None = None,
        now: float | None = None,
    ) -> SignedGrant:
        """What a signed URL allows this request (see `UrlSigner.verify`); `SignatureRefused` otherwise."""
        return self.signer.verify(method, key, query, content_length, now)

    def receive_object(
        self, key: str, chunks: Iterable[bytes], content_length: int, sha256_hex: str | None = None
    ) -> BlobInfo:
        """Store the body of a signed PUT: exactly `content_length` bytes (and that SHA-256), or nothing."""
        check_length(content_length, MAX_SINGLE_PUT_BYTES)
        target = self._object_path(key)
        expected = None if sha256_hex is None else check_sha256_hex(sha256_hex)
        self._write(target, chunks, ContentCheck(content_length, expected))
        info = self.head(key)
        if info is None:  # deleted between the rename and now
            raise NotFound(f"no object {key}")
        return info

    def receive_part(
        self, key: str, upload_id: str, part_number: int, chunks: Iterable[bytes], content_length: int
    ) -> UploadedPart:
        """Store one part of a multipart upload (again: replaces the part); returns it with its etag."""
        check_part_number(part_number)
        check_length(content_length, MAX_PART_BYTES, "part length")
        parts = self._upload_dir(key, upload_id) / "parts"
        check = ContentCheck(content_length)
        temporary = self._temporary(chunks, check, "writing a part")
        etag = check.md5.hexdigest()
        name = f"{part_number:05d}-{etag}"
        try:
            os.replace(temporary, parts / name)
        except FileNotFoundError:
            temporary.unlink(missing_ok=True)
            raise NotFound("no such upload (aborted or completed meanwhile)") from None
        with _storage_errors("replacing a part"):
            for older in parts.glob(f"{part_number:05d}-*"):
                if older.name != name:
                    older.unlink(missing_ok=True)
        return UploadedPart(part_number, content_length, etag)

    # --- BlobStore ---------------------------------------------------------------------------------------------

    def presign_put(
        self,
        key: str,
        content_length: int,
        sha256_hex: str | None = None,
        expires: timedelta = DEFAULT_EXPIRY,
        content_type: str | None = None,
    ) -> PresignedRequest:
        """A signed PUT URL of the API's endpoint; `content_type` is not kept by this store."""
        validate_key(key)
        check_length(content_length, MAX_SINGLE_PUT_BYTES)
        grant = SignedGrant(
            method="PUT",
            key=key,
            expires_at=self._expires_at(expires),
            content_length=content_length,
            sha256_hex=None if sha256_hex is None else check_sha256_hex(sha256_hex),
        )
        return self._grant(grant)

    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        """Begin a multipart upload: a folder holding the key and, later, the parts."""
        validate_key(key)
        upload_id = secrets.token_hex(16)
        folder = self._uploads / upload_id
        with _storage_errors("starting an upload"):
            (folder / "parts").mkdir(parents=True)
            (folder / "key").write_text(key, encoding="utf-8")
        return upload_id

    def presign_part(
        self, key: str, upload_id: str, part_number: int, content_length: int, expires: timedelta = DEFAULT_EXPIRY
    ) -> PresignedRequest:
        """A signed PUT URL for one part."""
        validate_key(key)
        check_part_number(part_number)
        check_length(content_length, MAX_PART_BYTES, "part length")
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise NotFound("no such upload")
        grant = SignedGrant(
            method="PUT",
            key=key,
            expires_at=self._expires_at(expires),
            content_length=content_length,
            upload_id=upload_id,
            part_number=part_number,
        )
        return self._grant(grant)

    def _stored_parts(self, folder: Path) -> dict[int, tuple[UploadedPart, Path]]:
        found: dict[int, tuple[UploadedPart, float, Path]] = {}
        with _storage_errors("listing parts"):
            for entry in (folder / "parts").iterdir():
                match = _PART_FILE.fullmatch(entry.name)
                if match is None:
                    continue
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # replaced meanwhile
                    continue
                number = int(match["number"])
                # Two files for one part only between a replacement's rename and its cleanup: the newer counts.
                if number not in found or stat.st_mtime > found[number][1]:
                    found[number] = (UploadedPart(number, stat.st_size, match["etag"]), stat.st_mtime, entry)
        return {number: (part, path) for number, (part, _, path) in sorted(found.items())}

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts stored so far, by part number."""
        return [part for part, _ in self._stored_parts(self._upload_dir(key, upload_id)).values()]

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        """Join the parts into the object (atomically) and drop the upload."""
        requested = check_parts(parts)
        folder = self._upload_dir(key, upload_id)
        stored = self._stored_parts(folder)
        files: list[Path] = []
        for index, part in enumerate(requested):
            found = stored.get(part.part_number)
            if found is None or found[0].etag != part.etag.strip('"'):
                raise Invalid(f"part {part.part_number} is not stored with etag {part.etag}")
            if index < len(requested) - 1 and found[0].size < MIN_PART_BYTES:
                raise Invalid(f"part {part.part_number} is smaller than {MIN_PART_BYTES} bytes and not the last")
            files.append(found[1])
        target = self._object_path(key)
        total = sum(stored[part.part_number][0].size for part in requested)
        self._write(target, _concatenate(files), ContentCheck(total))
        with _storage_errors("dropping a completed upload"):
            shutil.rmtree(folder, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; an unknown one is no error."""
        try:
            folder = self._upload_dir(key, upload_id)
        except NotFound:
            return
        with _storage_errors("aborting an upload"):
            shutil.rmtree(folder, ignore_errors=True)

    def head(self, key: str) -> BlobInfo | None:
        """Size, etag (inode, mtime, size) and time of `key`, or None."""
        path = self._object_path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise Unavailable(f"local blob store: reading failed: {error.strerror}") from error
        return BlobInfo(
            key=key,
            size=stat.st_size,
            etag=f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}",
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def _open(self, key: str) -> BinaryIO:
        path = self._object_path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no object {key}") from None
        except OSError as error:
            raise Unavailable(f"local blob store: reading failed: {error.strerror}") from error

    def sha256(self, key: str) -> str:
        """SHA-256 (hex) of the object, read once in chunks."""
        digest = hashlib.sha256()
        with self._open(key) as source, _storage_errors("reading"):
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest()

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        """Stream bytes `start` to `end` (inclusive) of the file: what the endpoint's Range answers serve."""
        source = self._open(key)
        try:
            size = os.fstat(source.fileno()).st_size
            first, last = check_range(start, end, size)
            source.seek(first)
        except BaseException:
            source.close()
            raise
        return BlobReader(_read_range(source, last - first + 1), start=first, end=last, size=size, close=source.close)

    def presign_get(
        self, key: str, expires: timedelta = DEFAULT_EXPIRY, filename: str | None = None
    ) -> PresignedRequest:
        """A signed GET URL of the API's endpoint; `filename` is signed, the endpoint sends it as the name."""
        validate_key(key)
        grant = SignedGrant(
            method="GET",
            key=key,
            expires_at=self._expires_at(expires),
            filename=None if filename is None else check_filename(filename),
        )
        return self._grant(grant)

    def delete(self, key: str) -> None:
        """Remove the object's file; a missing one is no error."""
        path = self._object_path(key)
        with _storage_errors("deleting"):
            path.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a small object atomically."""
        self._write(self._object_path(key), [data], ContentCheck(len(data)))

    def get_bytes(self, key: str) -> bytes:
        """Read a small object whole."""
        with self._open(key) as source, _storage_errors("reading"):
            return source.read()

    def put_file(self, key: str, source: BinaryIO, size: int, content_type: str | None = None) -> None:
        """Copy `size` bytes of `source` into an object atomically, a chunk at a time."""
        self._write(self._object_path(key), _read_range(source, size), ContentCheck(size))


def _read_range(source: BinaryIO, length: int) -> Iterator[bytes]:
    remaining = length
    while remaining > 0:
        with _storage_errors("reading"):
            chunk = source.read(min(CHUNK_BYTES, remaining))
        if not chunk:  # the file shrank: it was replaced while being read, which the rename never does
            raise Unavailable("local blob store: object changed while being read")
        remaining -= len(chunk)
        yield chunk


def _concatenate(files: Sequence[Path]) -> Iterator[bytes]:
    for path in files:
        with _storage_errors("reading a part"), path.open("rb") as source:
            while chunk := source.read(CHUNK_BYTES):
                yield chunk


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
