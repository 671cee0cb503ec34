"""The local store's blob endpoint: signed URLs only, bodies streamed and unlimited, refusals that say why.

Units send what a grant gives them, nothing else: the signed URL and its headers, no bearer token. The behaviour
both stores share (what S3 also does) is in tests/blobs/test_store.py, run against this endpoint.
"""

import hashlib
import os
import socket
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from fleet.blobs.keys import file_key
from fleet.blobs.local import DEFAULT_BASE_URL, LocalBlobStore
from fleet.blobs.s3 import S3BlobStore
from fleet.blobs.signing import SignedGrant
from fleet.blobs.store import BlobInfo, PresignedRequest
from fleet.settings import ApiSettings, SharedSettings
from tests.fixtures.api_server import ApiServer

SIGNING_KEY = b"blob-endpoint-test-key-0123456789"
KEY = file_key(7, "bus-1", "video", datetime(2026, 3, 1, tzinfo=UTC), "clip-1")


def app_on(tmp_path: Path, store: LocalBlobStore | S3BlobStore, max_body_bytes: int = 1024 * 1024) -> TestClient:
    """A client of an app serving `store` (the blob routes never touch its database)."""
    shared = SharedSettings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", data_dir=tmp_path)
    return TestClient(create_app(shared, ApiSettings(max_body_bytes=max_body_bytes), blob_store=store))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", SIGNING_KEY, "http://testserver" + DEFAULT_BASE_URL)


@pytest.fixture
def client(tmp_path: Path, store: LocalBlobStore) -> Iterator[TestClient]:
    with app_on(tmp_path, store) as test_client:
        yield test_client


def put(client: TestClient, request: PresignedRequest, body: bytes, **headers: str) -> httpx.Response:
    """The signed PUT as a unit makes it (the length comes from the body)."""
    return client.put(request.url, content=body, headers=headers)


# --- uploads -----------------------------------------------------------------------------------------------------


def test_a_signed_put_stores_the_bytes_without_a_token(client: TestClient, store: LocalBlobStore) -> None:
    data = os.urandom(5000)

    response = put(client, store.presign_put(KEY, len(data), hashlib.sha256(data).hexdigest()), data)

    assert response.status_code == 200, response.text
    info = store.head(KEY)
    assert info is not None and response.headers["etag"] == f'"{info.etag}"'
    assert store.get_bytes(KEY) == data


def test_parts_of_a_multipart_upload_are_stored_with_their_etag(client: TestClient, store: LocalBlobStore) -> None:
    upload_id = store.start_multipart(KEY)

    first = put(client, store.presign_part(KEY, upload_id, 1, 3), b"abc")
    second = put(client, store.presign_part(KEY, upload_id, 2, 2), b"de")

    assert first.status_code == second.status_code == 200
    assert first.headers["etag"] == f'"{hashlib.md5(b"abc", usedforsecurity=False).hexdigest()}"'
    assert [(part.part_number, part.size) for part in store.list_parts(KEY, upload_id)] == [(1, 3), (2, 2)]


def expired(store: LocalBlobStore) -> str:
    """A PUT URL of 5 bytes that expired a minute ago, properly signed."""
    past = datetime.fromtimestamp(int(time.time()) - 60, UTC)
    return store.signer.sign(SignedGrant(method="PUT", key=KEY, expires_at=past, content_length=5))


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ("tamper", "signature does not match"),
        ("other key", "signature does not match"),
        ("get url", "signature does not match"),
        ("no signature", "malformed signed URL"),
        ("longer", "Content-Length 6 differs from the signed 5"),
        ("expired", "signed URL expired"),
    ],
)
def test_a_refused_signature_is_403_saying_why(
    client: TestClient, store: LocalBlobStore, change: str, detail: str
) -> None:
    url, body = store.presign_put(KEY, 5).url, b"hello"
    if change == "tamper":  # a unit enlarging its grant
        url, body = url.replace("length=5", "length=6"), b"hello!"
    elif change == "other key":
        url = url.replace(KEY, KEY + "-2")
    elif change == "get url":
        url = store.presign_get(KEY).url
    elif change == "no signature":
        url = url.split("&signature=")[0]
    elif change == "longer":
        body = b"hello!"
    else:
        url = expired(store)

    # A bearer token changes nothing: the URL is the grant.
    response = client.put(url, content=body, headers={"Authorization": "Bearer flt_any-token-at-all"})

    assert response.status_code == 403
    assert response.json() == {"detail": detail}
    assert store.head(KEY) is None and store.head(KEY + "-2") is None


def test_a_body_other_than_the_signed_sha256_is_refused_and_nothing_is_kept(
    client: TestClient, store: LocalBlobStore, tmp_path: Path
) -> None:
    request = store.presign_put(KEY, 4, hashlib.sha256(b"good").hexdigest())

    response = put(client, request, b"evil")

    assert response.status_code == 422
    assert response.json() == {"detail": "the content's SHA-256 differs from the announced one"}
    assert store.head(KEY) is None
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_a_parameter_no_signed_url_has_is_refused(client: TestClient, store: LocalBlobStore) -> None:
    response = client.put(store.presign_put(KEY, 1).url + "&acl=public", content=b"x")

    assert response.status_code == 422
    assert "unknown query parameter 'acl'" in response.json()["detail"]


def test_blob_uploads_are_not_held_to_the_api_body_limit(tmp_path: Path, store: LocalBlobStore) -> None:
    data = os.urandom(10_000)

    with app_on(tmp_path, store, max_body_bytes=1024) as client:
        stored = put(client, store.presign_put(KEY, len(data)), data)
        refused = client.put("/v1/compliance/tachograph/periods", content=b"{" + b" " * 2000 + b"}")

    assert stored.status_code == 200 and store.get_bytes(KEY) == data
    assert refused.status_code == 413


# --- downloads ---------------------------------------------------------------------------------------------------


def test_a_signed_get_serves_the_object_its_ranges_and_its_name(client: TestClient, store: LocalBlobStore) -> None:
    data = os.urandom(3000)
    store.put_bytes(KEY, data)
    url = store.presign_get(KEY, filename="clip 1.mp4").url

    whole = client.get(url)
    part = client.get(url, headers={"Range": "bytes=1000-1099"})
    suffix = client.get(url, headers={"Range": "bytes=-10"})
    past_the_end = client.get(url, headers={"Range": "bytes=3000-"})

    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "application/octet-stream"
    assert whole.headers["content-disposition"] == "attachment; filename=\"clip 1.mp4\"; filename*=UTF-8''clip%201.mp4"
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == "3000"
    assert part.status_code == 206 and part.content == data[1000:1100]
    assert part.headers["content-range"] == "bytes 1000-1099/3000"
    assert suffix.status_code == 206 and suffix.content == data[-10:]
    assert past_the_end.status_code == 416 and past_the_end.headers["content-range"] == "bytes */3000"


def test_a_signed_get_of_a_missing_object_is_404(client: TestClient, store: LocalBlobStore) -> None:
    response = client.get(store.presign_get(KEY).url)

    assert response.status_code == 404


def test_with_s3_the_blob_routes_are_not_there(tmp_path: Path, store: LocalBlobStore) -> None:
    s3 = S3BlobStore("fleet-files", endpoint_url="http://127.0.0.1:1", access_key_id="a", secret_access_key="b")
    put_url, get_url = store.presign_put(KEY, 1).url, store.presign_get(KEY).url

    with app_on(tmp_path, s3) as client:
        uploaded = client.put(put_url, content=b"x")
        downloaded = client.get(get_url)

    assert uploaded.status_code == downloaded.status_code == 404
    assert uploaded.json() == {"detail": "no blob endpoint here: this deployment keeps files in S3"}


# --- over a real socket ------------------------------------------------------------------------------------------


class ChunkCountingStore(LocalBlobStore):
    """A local store that records the size of each chunk of a body it receives."""

    chunk_sizes: list[int]

    def receive_object(
        self, key: str, chunks: Iterable[bytes], content_length: int, sha256_hex: str | None = None
    ) -> BlobInfo:
        self.chunk_sizes = []

        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                self.chunk_sizes.append(len(chunk))
                yield chunk

        return super().receive_object(key, counted(), content_length, sha256_hex)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ChunkCountingStore]:
    """A counting store behind the real app on uvicorn."""
    server = ApiServer()
    store = ChunkCountingStore(tmp_path / "blobs", SIGNING_KEY, server.url + DEFAULT_BASE_URL)
    shared = SharedSettings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", data_dir=tmp_path)
    server.serve(create_app(shared, ApiSettings(), blob_store=store))
    yield store
    server.close()


def test_a_large_body_is_streamed_to_the_store_chunk_by_chunk(served: ChunkCountingStore) -> None:
    data = os.urandom(8 * 1024 * 1024)
    request = served.presign_put(KEY, len(data), hashlib.sha256(data).hexdigest())

    response = httpx.put(request.url, content=data, timeout=60)

    assert response.status_code == 200, response.text
    assert served.sha256(KEY) == hashlib.sha256(data).hexdigest()
    assert sum(served.chunk_sizes) == len(data)
    assert len(served.chunk_sizes) > 8 and max(served.chunk_sizes) <= 1024 * 1024


def test_an_upload_cut_off_midway_leaves_nothing(served: ChunkCountingStore, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    url = urlsplit(served.presign_put(KEY, len(data)).url)
    assert url.hostname is not None and url.port is not None
    head = f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {len(data)}\r\n\r\n"

    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(head.encode() + data[: len(data) // 2])
        deadline = time.monotonic() + 10
        while not getattr(served, "chunk_sizes", None) and time.monotonic() < deadline:  # the upload has begun
            time.sleep(0.01)
        connection.shutdown(socket.SHUT_RDWR)

    leftovers = tmp_path / "blobs" / "tmp"
    deadline = time.monotonic() + 10
    while any(leftovers.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert served.head(KEY) is None
    assert list(leftovers.iterdir()) == []
    assert 0 < sum(served.chunk_sizes) < len(data)
