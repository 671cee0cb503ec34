"""The behaviour both blob stores share, run against each: the local store and S3 on a real SeaweedFS.

Bytes travel as a unit sends them: plain HTTP requests (httpx) with the presigned URL and headers, and nothing
else; the local store's URLs are served by the API's blob endpoint (`/v1/blobs`, uvicorn on a loopback port).
"""

import hashlib
import os
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from fleet.blobs.s3 import S3BlobStore
from fleet.blobs.store import (
    MIN_PART_BYTES,
    BlobStore,
    PresignedRequest,
    RangeNotSatisfiable,
    UploadedPart,
)
from fleet.errors import Invalid, NotFound

pytestmark = pytest.mark.integration


def send(request: PresignedRequest, body: bytes, **header_changes: str | None) -> httpx.Response:
    """Make the presigned request as a unit would: its method, URL and headers, with changes if given."""
    headers = dict(request.headers)
    for name, value in header_changes.items():
        name = name.replace("_", "-")
        matching = [existing for existing in headers if existing.lower() == name.lower()]
        for existing in matching:
            del headers[existing]
        if value is not None:
            headers[name] = value
    # httpx sets Content-Length from the body: a unit cannot announce one length and send another.
    headers = {name: value for name, value in headers.items() if name.lower() != "content-length"}
    return httpx.request(request.method, request.url, content=body, headers=headers, timeout=30)


def send_interrupted(request: PresignedRequest, body: bytes, sent: int) -> None:
    """Announce the whole body, send its first `sent` bytes, and drop the connection (3G gone mid-upload)."""
    url = urlsplit(request.url)
    assert url.hostname is not None and url.port is not None
    head = [f"{request.method} {url.path}?{url.query} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in request.headers.items()]
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:sent])
        connection.shutdown(socket.SHUT_RDWR)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- presigned PUT ---------------------------------------------------------------------------------------------


def test_presigned_put_with_length_and_checksum_stores_the_bytes(store: BlobStore, key: str) -> None:
    data = os.urandom(200_000)
    request = store.presign_put(key, len(data), sha256_hex(data), timedelta(minutes=5))

    assert request.method == "PUT"
    assert request.headers["Content-Length"] == str(len(data))
    assert datetime.now(UTC) + timedelta(minutes=4) < request.expires_at <= datetime.now(UTC) + timedelta(minutes=5)
    response = send(request, data)

    assert response.status_code == 200, response.text
    info = store.head(key)
    assert info is not None and info.size == len(data) and info.key == key
    assert store.sha256(key) == sha256_hex(data)
    assert store.get_bytes(key) == data


def test_presigned_put_without_checksum_and_of_nothing(store: BlobStore, key: str) -> None:
    assert send(store.presign_put(key, 0), b"").status_code == 200
    info = store.head(key)
    assert info is not None and info.size == 0
    assert store.sha256(key) == sha256_hex(b"")


@pytest.mark.parametrize("body", [b"x" * 1001, b"x" * 999], ids=["longer", "shorter"])
def test_presigned_put_refuses_another_length(store: BlobStore, key: str, body: bytes) -> None:
    request = store.presign_put(key, 1000)

    response = send(request, body)

    assert response.status_code == 403, response.text
    assert store.head(key) is None


def test_presigned_put_refuses_bytes_other_than_the_checksum(store: BlobStore, key: str) -> None:
    data = os.urandom(1000)
    request = store.presign_put(key, len(data), sha256_hex(data))

    response = send(request, os.urandom(1000))

    # S3: 400 BadDigest; the local endpoint: 422 from the store's check.
    assert response.status_code in (400, 422), response.text
    assert store.head(key) is None


def test_expired_urls_are_refused(store: BlobStore, key: str) -> None:
    store.put_bytes(key, b"already here")
    other = key + "-2"
    put = store.presign_put(other, 5, expires=timedelta(seconds=1))
    get = store.presign_get(key, expires=timedelta(seconds=1))

    time.sleep(max(0.0, (put.expires_at - datetime.now(UTC)).total_seconds()) + 1.2)

    assert send(put, b"hello").status_code == 403
    assert store.head(other) is None
    assert httpx.get(get.url, timeout=10).status_code == 403


def test_presign_refuses_bad_values(store: BlobStore, key: str) -> None:
    with pytest.raises(Invalid):
        store.presign_put(key, -1)
    with pytest.raises(Invalid):
        store.presign_put(key, 5 * 1024**3 + 1)
    with pytest.raises(Invalid):
        store.presign_put(key, 10, sha256_hex="not-a-digest")
    with pytest.raises(Invalid):
        store.presign_put(key, 10, expires=timedelta(days=8))
    with pytest.raises(Invalid):
        store.presign_put(key, 10, expires=timedelta(0))
    with pytest.raises(Invalid):
        store.presign_get(key, filename="../../etc/passwd")
    with pytest.raises(Invalid):
        store.presign_get(key, filename="a\r\nSet-Cookie: x")


@pytest.mark.parametrize("bad_key", ["../x", "a/../b", "/abs", "a//b", "a/./b", "a\\b", "a\x00b", "", "a/b/", "é"])
def test_keys_outside_the_layout_are_refused(store: BlobStore, bad_key: str) -> None:
    with pytest.raises(Invalid):
        store.presign_put(bad_key, 1)
    with pytest.raises(Invalid):
        store.head(bad_key)
    with pytest.raises(Invalid):
        store.put_bytes(bad_key, b"x")
    with pytest.raises(Invalid):
        store.delete(bad_key)


# --- multipart ---------------------------------------------------------------------------------------------------


def test_multipart_upload_interrupted_resumes_and_completes(store: BlobStore, key: str) -> None:
    data = os.urandom(2 * MIN_PART_BYTES + 123_457)
    pieces = [data[:MIN_PART_BYTES], data[MIN_PART_BYTES : 2 * MIN_PART_BYTES], data[2 * MIN_PART_BYTES :]]
    upload_id = store.start_multipart(key)

    # The unit sends part 1, then loses the connection in the middle of part 2.
    first = store.presign_part(key, upload_id, 1, len(pieces[0]))
    assert send(first, pieces[0]).status_code == 200
    send_interrupted(store.presign_part(key, upload_id, 2, len(pieces[1])), pieces[1], sent=len(pieces[1]) // 2)

    # Back online: the backend lists what is stored, and grants only what is missing.
    stored = store.list_parts(key, upload_id)
    assert [(part.part_number, part.size) for part in stored] == [(1, MIN_PART_BYTES)]
    assert stored[0].etag == hashlib.md5(pieces[0], usedforsecurity=False).hexdigest()
    for number in (2, 3):
        request = store.presign_part(key, upload_id, number, len(pieces[number - 1]))
        assert send(request, pieces[number - 1]).status_code == 200
    stored = store.list_parts(key, upload_id)
    assert [(part.part_number, part.size) for part in stored] == [(n, len(p)) for n, p in enumerate(pieces, 1)]

    store.complete_multipart(key, upload_id, stored)

    info = store.head(key)
    assert info is not None and info.size == len(data)
    assert store.sha256(key) == sha256_hex(data)
    with pytest.raises(NotFound):
        store.list_parts(key, upload_id)


def test_a_part_sent_again_counts_once(store: BlobStore, key: str) -> None:
    # A unit that lost the answer to a part sends the same bytes again under the same number.
    upload_id = store.start_multipart(key)
    for _ in range(2):
        assert send(store.presign_part(key, upload_id, 1, 100), b"a" * 100).status_code == 200
    assert send(store.presign_part(key, upload_id, 2, 50), b"b" * 50).status_code == 200

    parts = store.list_parts(key, upload_id)

    assert [(part.part_number, part.size) for part in parts] == [(1, 100), (2, 50)]
    assert parts[0].etag == hashlib.md5(b"a" * 100, usedforsecurity=False).hexdigest()
    store.complete_multipart(key, upload_id, parts[:1])
    assert store.get_bytes(key) == b"a" * 100


def test_a_part_of_another_length_is_refused(store: BlobStore, key: str) -> None:
    upload_id = store.start_multipart(key)

    assert send(store.presign_part(key, upload_id, 1, 100), b"x" * 101).status_code == 403
    assert store.list_parts(key, upload_id) == []
    store.abort_multipart(key, upload_id)


def test_completion_refuses_small_parts_and_unknown_etags(store: BlobStore, key: str) -> None:
    upload_id = store.start_multipart(key)
    for number in (1, 2):
        assert send(store.presign_part(key, upload_id, number, 3), b"abc").status_code == 200
    parts = store.list_parts(key, upload_id)

    with pytest.raises(Invalid):  # every part but the last must have 5 MiB
        store.complete_multipart(key, upload_id, parts)
    with pytest.raises(Invalid):
        store.complete_multipart(key, upload_id, [UploadedPart(1, 3, "0" * 32)])
    with pytest.raises(Invalid):
        store.complete_multipart(key, upload_id, [parts[1], parts[0]])
    with pytest.raises(Invalid):
        store.complete_multipart(key, upload_id, [])
    assert store.head(key) is None

    store.complete_multipart(key, upload_id, parts[:1])  # one small part alone is a whole object
    assert store.get_bytes(key) == b"abc"


def test_abort_drops_the_upload_and_is_idempotent(store: BlobStore, key: str) -> None:
    upload_id = store.start_multipart(key)
    assert send(store.presign_part(key, upload_id, 1, 3), b"abc").status_code == 200

    store.abort_multipart(key, upload_id)

    with pytest.raises(NotFound):
        store.list_parts(key, upload_id)
    store.abort_multipart(key, upload_id)
    assert store.head(key) is None


def test_unknown_uploads_are_not_found(store: BlobStore, key: str) -> None:
    with pytest.raises(NotFound):
        store.list_parts(key, "0" * 32)
    upload_id = store.start_multipart(key)
    with pytest.raises(NotFound):  # the upload is of another key
        store.list_parts(key + "-other", upload_id)
    store.abort_multipart(key, upload_id)


# --- objects -----------------------------------------------------------------------------------------------------


def test_put_head_sha256_get_delete(store: BlobStore, key: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one read chunk

    store.put_bytes(key, data, content_type="video/mp4")

    info = store.head(key)
    assert info is not None and info.size == len(data) and info.etag
    assert abs((info.last_modified - datetime.now(UTC)).total_seconds()) < 60
    assert store.sha256(key) == sha256_hex(data)
    assert store.get_bytes(key) == data
    store.put_bytes(key, b"replaced")
    replaced = store.head(key)
    assert replaced is not None and replaced.etag != info.etag and store.get_bytes(key) == b"replaced"

    store.delete(key)

    assert store.head(key) is None
    store.delete(key)  # again: no error


def test_put_file_stores_size_bytes_from_where_the_file_stands_in_parts_when_large(
    store: BlobStore, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The smallest part S3 takes: 11 MiB go up as three parts.
    monkeypatch.setattr("fleet.blobs.s3.UPLOAD_PART_BYTES", 5 * 1024 * 1024)
    data = os.urandom(11 * 1024 * 1024 + 3)
    with tempfile.TemporaryFile() as source:
        source.write(b"skipped" + data)
        source.seek(len(b"skipped"))

        store.put_file(key, source, len(data), "application/vnd.apache.parquet")

    info = store.head(key)
    assert info is not None and info.size == len(data)
    assert store.sha256(key) == sha256_hex(data)
    if isinstance(store, S3BlobStore):
        assert info.etag.endswith("-3"), "a multipart upload's etag counts its parts"


def test_a_key_and_a_longer_key_beside_it(store: BlobStore, key: str) -> None:
    store.put_bytes(key, b"short")
    store.put_bytes(key + "/more", b"long")

    assert (store.get_bytes(key), store.get_bytes(key + "/more")) == (b"short", b"long")


def test_range_reads(store: BlobStore, key: str) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    store.put_bytes(key, data)

    with store.open_range(key, 10, 19) as reader:
        assert (reader.start, reader.end, reader.size, reader.length) == (10, 19, len(data), 10)
        assert reader.content_range == f"bytes 10-19/{len(data)}"
        assert b"".join(reader) == data[10:20]
    with store.open_range(key, 1_000_000) as reader:
        assert (reader.start, reader.end) == (1_000_000, len(data) - 1)
        assert b"".join(reader) == data[1_000_000:]
    with store.open_range(key, len(data) - 3, len(data) + 100) as reader:  # an end past the object stops there
        assert reader.read() == data[-3:]
    with store.open_range(key) as reader:
        assert (reader.start, reader.end, reader.size) == (0, len(data) - 1, len(data))
        assert reader.read() == data
    with pytest.raises(RangeNotSatisfiable) as refused:
        store.open_range(key, len(data))
    assert refused.value.size == len(data) and refused.value.http_status == 416
    with pytest.raises(Invalid):
        store.open_range(key, 10, 5)


def test_an_empty_object_reads_as_empty(store: BlobStore, key: str) -> None:
    store.put_bytes(key, b"")

    with store.open_range(key) as reader:
        assert (reader.start, reader.end, reader.size, reader.length) == (0, -1, 0, 0)
        assert reader.read() == b""
    assert store.get_bytes(key) == b""
    with pytest.raises(RangeNotSatisfiable):
        store.open_range(key, 1)


def test_a_reader_closed_early_is_fine(store: BlobStore, key: str) -> None:
    store.put_bytes(key, os.urandom(3 * 1024 * 1024))

    with store.open_range(key) as reader:
        first = next(iter(reader))
    assert first
    reader.close()


def test_missing_objects_are_not_found(store: BlobStore, key: str) -> None:
    assert store.head(key) is None
    with pytest.raises(NotFound):
        store.sha256(key)
    with pytest.raises(NotFound):
        store.get_bytes(key)
    with pytest.raises(NotFound):
        store.open_range(key, 0, 10)
    with pytest.raises(NotFound):
        store.open_range(key)


def test_presigned_get_with_range_and_download_name(store: BlobStore, key: str) -> None:
    data = os.urandom(50_000)
    store.put_bytes(key, data)

    request = store.presign_get(key, filename="Clip 1 \u2013 bus.mp4")
    whole = httpx.get(request.url, headers=request.headers, timeout=10)
    part = httpx.get(request.url, headers={**request.headers, "Range": "bytes=100-199"}, timeout=10)

    assert request.method == "GET"
    assert whole.status_code == 200 and whole.content == data
    assert "filename*=UTF-8''Clip%201%20%E2%80%93%20bus.mp4" in whole.headers["content-disposition"]
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"


def test_a_presigned_get_of_another_key_is_refused(store: BlobStore, key: str) -> None:
    store.put_bytes(key, b"mine")
    store.put_bytes(key + "-2", b"theirs")
    request = store.presign_get(key)
    # The same signature on another key's path.
    tampered = request.url.replace(key, key + "-2", 1)

    assert httpx.get(tampered, timeout=10).status_code == 403
    assert httpx.get(request.url, timeout=10).content == b"mine"
