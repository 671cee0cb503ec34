"""The HTTP side of an upload: the PUTs a grant asks for, exactly as signed, sent from memory; stdlib only."""

import http.client
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from fleet.contract.downlink import FileGrant, SignedRequest

# Bytes per write: a lost coverage or a stop is noticed after at most this much.
CHUNK_BYTES = 64 * 1024
# For the connect, each write and the answer: a stalled link fails the attempt instead of holding a thread.
TIMEOUT_S = 30.0
# How much of a refusal's body is read: S3 answers with a short XML error whose code says why.
ERROR_BODY_BYTES = 2000
_S3_ERROR_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")


class UploadError(Exception):
    """A PUT that did not store its bytes: refused (403, 5xx), its connection lost or cut."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One PUT of a grant: its request and the bytes `start` to `stop` (exclusive) of the file."""

    request: SignedRequest
    start: int
    stop: int


def pieces(grant: FileGrant, size_bytes: int) -> list[Piece]:
    """The PUTs of `grant` for a file of `size_bytes`: the one upload, or each listed part in order."""
    if grant.upload is not None:
        return [Piece(grant.upload, 0, size_bytes)]
    if grant.multipart is None:
        raise UploadError("the grant holds neither an upload nor parts")
    part_size = grant.multipart.part_size_bytes
    listed = []
    for part in sorted(grant.multipart.parts, key=lambda p: p.part_number):
        start = (part.part_number - 1) * part_size
        if start >= size_bytes:
            raise UploadError(f"part {part.part_number} starts past the end of a file of {size_bytes} bytes")
        listed.append(Piece(part, start, min(start + part_size, size_bytes)))
    return listed


def send(
    plan: Sequence[Piece],
    data: bytes,
    cut_after: int | None = None,
    halted: Callable[[], str | None] = lambda: None,
    timeout: float = TIMEOUT_S,
) -> int:
    """Make the PUTs of `plan` with the bytes of `data`; the bytes sent. Raises `UploadError` on the first failure.

    With `cut_after`, the connection is closed once that many bytes are sent in all, as a 3G drop-out closes it.
    `halted` is asked before each chunk: a reason stops the upload there (lost coverage, the unit stopping).
    """
    view = memoryview(data)
    sent = 0
    for piece in plan:
        budget = None if cut_after is None else cut_after - sent
        _put(piece.request, view[piece.start : piece.stop], budget, halted, timeout)
        sent += piece.stop - piece.start
    return sent


def _put(
    request: SignedRequest,
    body: memoryview,
    budget: int | None,
    halted: Callable[[], str | None],
    timeout: float,
) -> None:
    url = urlsplit(request.url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise UploadError(f"not an HTTP URL: {request.url[:100]!r}")
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = kind(url.netloc, timeout=timeout)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    written = 0
    try:
        # Exactly the signed headers: http.client adds only Host (signed too), not Accept-Encoding.
        connection.putrequest(request.method, target, skip_accept_encoding=True)
        for name, value in request.headers.items():
            connection.putheader(name, value)
        if not any(name.lower() == "content-length" for name in request.headers):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        while written < len(body):
            if (reason := halted()) is not None:
                raise UploadError(f"stopped after {written} of {len(body)} bytes: {reason}")
            chunk = body[written : written + CHUNK_BYTES]
            if budget is not None and written + len(chunk) > budget:
                connection.send(body[written:budget])
                raise UploadError(f"connection lost after {budget} of {len(body)} bytes (a 3G drop-out)")
            connection.send(chunk)
            written += len(chunk)
        response = connection.getresponse()
        status, reason, detail = response.status, response.reason, response.read(ERROR_BODY_BYTES)
    except (OSError, http.client.HTTPException) as error:
        raise UploadError(f"connection lost after {written} of {len(body)} bytes: {error!r}") from error
    finally:
        connection.close()
    if not 200 <= status < 300:
        code = _S3_ERROR_CODE.search(detail)
        raise UploadError(f"HTTP {status} {reason}" + (f": {code.group(1).decode(errors='replace')}" if code else ""))
