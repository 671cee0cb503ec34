"""The S3 store's own rules: what presigned URLs sign, encryption, addressing, and faults of the server."""

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from fleet.blobs.s3 import S3BlobStore
from fleet.errors import NotFound, Unavailable
from fleet.ports import free_port
from fleet.settings import S3SseMode
from tests.fixtures.s3 import SeaweedServer, s3_store_for

KEY = "tenants/1/devices/bus-1/video/2026/01/31/clip1"
DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def offline_store(
    endpoint_url: str = "", public_endpoint_url: str = "", sse: S3SseMode = "none", sse_kms_key_id: str = ""
) -> S3BlobStore:
    """A store whose endpoint nobody listens on (by default): presigning is local and works all the same."""
    return S3BlobStore(
        "fleet-files",
        endpoint_url=endpoint_url or f"http://127.0.0.1:{free_port()}",
        public_endpoint_url=public_endpoint_url,
        access_key_id="AKIDEXAMPLE",
        secret_access_key="not-a-real-secret",
        sse=sse,
        sse_kms_key_id=sse_kms_key_id,
        max_attempts=1,
    )


def signed_headers(url: str) -> set[str]:
    return set(parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";"))


# --- presigned URLs (no server needed) ---------------------------------------------------------------------------


def test_the_returned_headers_are_exactly_the_signed_ones() -> None:
    store = offline_store(sse="aws:kms", sse_kms_key_id="alias/fleet-files")

    request = store.presign_put(KEY, 10, DIGEST, content_type="video/mp4")

    assert request.headers == {
        "Content-Length": "10",
        "x-amz-checksum-sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "Content-Type": "video/mp4",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "alias/fleet-files",
    }
    assert signed_headers(request.url) == {name.lower() for name in request.headers} | {"host"}
    assert parse_qs(urlsplit(request.url).query)["X-Amz-Expires"] == ["900"]


def test_a_part_url_signs_its_length() -> None:
    request = offline_store(sse="AES256").presign_part(KEY, "upload-1", 7, 5 * 1024 * 1024)

    assert request.headers == {"Content-Length": str(5 * 1024 * 1024)}
    assert signed_headers(request.url) == {"content-length", "host"}
    query = parse_qs(urlsplit(request.url).query)
    assert (query["uploadId"], query["partNumber"]) == (["upload-1"], ["7"])


def test_custom_endpoints_use_path_style_and_the_public_name() -> None:
    store = offline_store(endpoint_url="http://seaweedfs:8333", public_endpoint_url="https://files.example.com")

    url = urlsplit(store.presign_get(KEY, timedelta(minutes=1)).url)

    assert (url.scheme, url.netloc, url.path) == ("https", "files.example.com", f"/fleet-files/{KEY}")


def test_aws_uses_virtual_hosted_names() -> None:
    store = S3BlobStore("fleet-files", region="eu-central-1", access_key_id="AKIDEXAMPLE", secret_access_key="x")

    url = urlsplit(store.presign_get(KEY, filename="clip.mp4").url)

    assert url.netloc.startswith("fleet-files.s3.") and url.netloc.endswith(".amazonaws.com")
    assert url.path == f"/{KEY}"
    assert parse_qs(url.query)["response-content-disposition"] == [
        "attachment; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
    ]


# --- against SeaweedFS -------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_sse_aes256_is_asked_for_on_every_write(s3: SeaweedServer, s3_bucket: str) -> None:
    store = s3_store_for(s3, s3_bucket, sse="AES256")
    client = s3.client()
    keys = [f"{KEY}-sse-{n}" for n in range(3)]

    store.put_bytes(keys[0], b"small")
    request = store.presign_put(keys[1], 5, content_type="text/plain")
    assert httpx.put(request.url, content=b"bytes", headers=request.headers).status_code == 200
    upload_id = store.start_multipart(keys[2])
    part = store.presign_part(keys[2], upload_id, 1, 4)
    assert httpx.put(part.url, content=b"part", headers=part.headers).status_code == 200
    store.complete_multipart(keys[2], upload_id, store.list_parts(keys[2], upload_id))

    for key in keys:
        assert client.head_object(Bucket=s3_bucket, Key=key).get("ServerSideEncryption") == "AES256"
    info = store.head(keys[1])
    assert info is not None and info.content_type == "text/plain"


@pytest.mark.integration
def test_a_changed_checksum_header_is_refused(s3: SeaweedServer, s3_bucket: str) -> None:
    store = s3_store_for(s3, s3_bucket)
    data = os.urandom(1000)
    request = store.presign_put(KEY + "-checksum", len(data), hashlib.sha256(data).hexdigest())
    headers = {**request.headers, "x-amz-checksum-sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}
    del headers["Content-Length"]

    assert httpx.put(request.url, content=data, headers=headers).status_code == 403
    assert store.head(KEY + "-checksum") is None


@pytest.mark.integration
def test_a_missing_bucket_is_unavailable(s3: SeaweedServer) -> None:
    store = s3_store_for(s3, "fleet-no-such-bucket")

    with pytest.raises(Unavailable, match="does not exist"):
        store.put_bytes(KEY, b"x")
    with pytest.raises(Unavailable, match="does not exist"):
        store.get_bytes(KEY)
    assert store.head(KEY) is None  # HEAD's 404 names no reason


@pytest.mark.integration
def test_refused_credentials_are_unavailable(s3: SeaweedServer, s3_bucket: str) -> None:
    store = S3BlobStore(
        s3_bucket,
        endpoint_url=s3.endpoint_url,
        access_key_id=s3.access_key_id,
        secret_access_key="wrong",
        max_attempts=1,
    )

    for operation in (lambda: store.put_bytes(KEY, b"x"), lambda: store.get_bytes(KEY), lambda: store.head(KEY)):
        with pytest.raises(Unavailable, match="refused"):
            operation()


@pytest.fixture
def own_server() -> Iterator[SeaweedServer]:
    """A SeaweedFS of the test's own, to kill."""
    base = Path(tempfile.mkdtemp(prefix="fleet-s3-fault-"))
    server = SeaweedServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def raises_unavailable(operation: Callable[[], object]) -> Unavailable:
    """The Unavailable `operation` raises; a botocore exception fails the test."""
    try:
        operation()
    except Unavailable as error:
        return error
    except (BotoCoreError, ClientError) as error:  # pragma: no cover - what must never happen
        pytest.fail(f"a raw botocore exception reached the caller: {error!r}")
    pytest.fail("no error while the server is down")


@pytest.mark.integration
def test_every_operation_is_unavailable_while_seaweedfs_is_down(own_server: SeaweedServer) -> None:
    bucket = own_server.create_bucket()
    store = s3_store_for(own_server, bucket, max_attempts=1)
    big = os.urandom(24 * 1024 * 1024)
    store.put_bytes(KEY, big)
    upload_id = store.start_multipart(KEY + "-multi")
    reader = store.open_range(KEY)
    first_chunk = next(iter(reader))

    own_server.kill()

    # A read in progress fails as Unavailable too, never with fewer bytes than the object has.
    error = raises_unavailable(lambda: [len(chunk) for chunk in reader])
    assert first_chunk
    reader.close()
    assert error.http_status == 503
    operations: list[Callable[[], object]] = [
        lambda: store.put_bytes(KEY + "-2", b"x"),
        lambda: store.get_bytes(KEY),
        lambda: store.head(KEY),
        lambda: store.sha256(KEY),
        lambda: store.open_range(KEY, 0, 10),
        lambda: store.delete(KEY),
        lambda: store.start_multipart(KEY + "-3"),
        lambda: store.list_parts(KEY + "-multi", upload_id),
        lambda: store.abort_multipart(KEY + "-multi", upload_id),
    ]
    for operation in operations:
        assert isinstance(raises_unavailable(operation).__cause__, BotoCoreError)
    # Presigning needs no server: grants can still be made (the upload itself will fail and be retried).
    assert store.presign_put(KEY + "-4", 1).url.startswith(own_server.endpoint_url)
    # With the default retries (3 attempts, back-off) it still gives up quickly.
    started = time.monotonic()
    raises_unavailable(lambda: s3_store_for(own_server, bucket).head(KEY))
    assert time.monotonic() - started < 10

    own_server.restart()

    assert store.sha256(KEY) == hashlib.sha256(big).hexdigest()
    assert [part.part_number for part in store.list_parts(KEY + "-multi", upload_id)] == []
    store.abort_multipart(KEY + "-multi", upload_id)
    with pytest.raises(NotFound):
        store.list_parts(KEY + "-multi", upload_id)


@pytest.mark.integration
def test_an_endpoint_nobody_listens_on_is_unavailable() -> None:
    store = offline_store()

    with pytest.raises(Unavailable, match="unreachable"):
        store.head(KEY)
