"""The local store's own rules: signed URLs (tampering, expiry, length), atomic writes, paths, the signing key."""

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from fleet.blobs.factory import SIGNING_KEY_FILE, development_signing_key, local_signing_key, make_blob_store
from fleet.blobs.local import OBJECT_SUFFIX, STALE_TMP_SECONDS, LocalBlobStore
from fleet.blobs.s3 import S3BlobStore
from fleet.blobs.signing import SignatureRefused, SignedGrant
from fleet.blobs.store import PresignedRequest
from fleet.errors import Invalid, NotFound, Unavailable
from fleet.settings import BlobSettings, SharedSettings

KEY = "tenants/1/devices/bus-1/video/2026/01/31/clip1"
SIGNING_KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", SIGNING_KEY, "https://fleet.example/v1/blobs")


def split(request: PresignedRequest) -> tuple[str, dict[str, str]]:
    """The key and the query of a signed URL, as the endpoint sees them."""
    url = urlsplit(request.url)
    assert url.path.startswith("/v1/blobs/")
    return unquote(url.path[len("/v1/blobs/") :]), dict(parse_qsl(url.query, keep_blank_values=True))


# --- signed URLs -------------------------------------------------------------------------------------------------


def test_a_signed_put_allows_exactly_what_was_signed(store: LocalBlobStore) -> None:
    digest = hashlib.sha256(b"x" * 10).hexdigest()
    request = store.presign_put(KEY, 10, digest, timedelta(minutes=5))
    key, query = split(request)

    grant = store.verify_signature("PUT", key, query, content_length=10)

    assert request.url.startswith("https://fleet.example/v1/blobs/tenants/1/devices/bus-1/video/2026/01/31/clip1?")
    assert request.headers == {"Content-Length": "10"}
    assert grant == SignedGrant("PUT", KEY, request.expires_at, content_length=10, sha256_hex=digest)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("expires", "later"),
        ("length", "11"),
        ("sha256", "0" * 64),
        ("signature", "x"),
        ("upload_id", "0" * 32),
        ("part", "1"),
        ("filename", "a.mp4"),
        ("extra", "1"),
    ],
)
def test_a_changed_parameter_is_refused(store: LocalBlobStore, change: str, value: str) -> None:
    key, query = split(store.presign_put(KEY, 10, hashlib.sha256(b"").hexdigest()))
    if change == "expires":
        value = str(int(query["expires"]) + 3600)
    if change == "signature":
        value = query["signature"][:-1] + ("A" if query["signature"][-1] != "A" else "B")
    length = int(value) if change == "length" else 10

    with pytest.raises(SignatureRefused) as refused:
        store.verify_signature("PUT", key, {**query, change: value}, content_length=length)
    assert refused.value.http_status == 403


def test_a_missing_parameter_is_refused(store: LocalBlobStore) -> None:
    key, query = split(store.presign_put(KEY, 10))
    for name in ("expires", "signature", "length"):
        with pytest.raises(SignatureRefused):
            store.verify_signature("PUT", key, {k: v for k, v in query.items() if k != name}, content_length=10)


def test_the_signature_holds_for_one_key_and_one_method(store: LocalBlobStore) -> None:
    key, query = split(store.presign_put(KEY, 10))

    with pytest.raises(SignatureRefused, match="does not match"):
        store.verify_signature("PUT", key + "2", query, content_length=10)
    with pytest.raises(SignatureRefused, match="does not match"):
        store.verify_signature("PUT", KEY.replace("tenants/1/", "tenants/2/"), query, content_length=10)
    with pytest.raises(SignatureRefused):
        store.verify_signature("GET", key, query)
    with pytest.raises(SignatureRefused):
        store.verify_signature("DELETE", key, query)
    with pytest.raises(SignatureRefused):
        store.verify_signature("PUT", "../" + key, query, content_length=10)


def test_another_signing_key_is_refused(store: LocalBlobStore, tmp_path: Path) -> None:
    other = LocalBlobStore(tmp_path / "other", b"another-key-of-thirty-two-bytes!", "https://fleet.example/v1/blobs")
    key, query = split(other.presign_put(KEY, 10))

    with pytest.raises(SignatureRefused, match="does not match"):
        store.verify_signature("PUT", key, query, content_length=10)


def test_an_expired_url_is_refused(store: LocalBlobStore) -> None:
    request = store.presign_put(KEY, 10, expires=timedelta(minutes=1))
    key, query = split(request)
    expires = request.expires_at.timestamp()

    store.verify_signature("PUT", key, query, content_length=10, now=expires - 1)
    with pytest.raises(SignatureRefused, match="expired"):
        store.verify_signature("PUT", key, query, content_length=10, now=expires)
    assert 55 <= expires - time.time() <= 60


@pytest.mark.parametrize("content_length", [None, 0, 9, 11, 10**12])
def test_another_content_length_is_refused(store: LocalBlobStore, content_length: int | None) -> None:
    key, query = split(store.presign_put(KEY, 10))

    with pytest.raises(SignatureRefused, match="Content-Length"):
        store.verify_signature("PUT", key, query, content_length=content_length)


def test_a_part_url_names_its_upload_and_part(store: LocalBlobStore) -> None:
    upload_id = store.start_multipart(KEY)
    key, query = split(store.presign_part(KEY, upload_id, 3, 100))

    grant = store.verify_signature("PUT", key, query, content_length=100)

    assert (grant.upload_id, grant.part_number, grant.content_length) == (upload_id, 3, 100)
    with pytest.raises(SignatureRefused):
        store.verify_signature("PUT", key, {**query, "part": "4"}, content_length=100)


def test_a_get_url_carries_the_download_name(store: LocalBlobStore) -> None:
    key, query = split(store.presign_get(KEY, filename="Fahrt 3 \u2013 M\u00fcller.ddd"))

    assert store.verify_signature("GET", key, query).filename == "Fahrt 3 \u2013 M\u00fcller.ddd"
    with pytest.raises(SignatureRefused):
        store.verify_signature("GET", key, {**query, "filename": "other.ddd"})


@pytest.mark.parametrize("value", ["+5", " 5", "5_0", "-1", "0x10", "\uff11\uff10", "1" * 20])
def test_numbers_in_a_url_are_plain_digits(store: LocalBlobStore, value: str) -> None:
    key, query = split(store.presign_put(KEY, 10))

    with pytest.raises(SignatureRefused, match="malformed"):
        store.verify_signature("PUT", key, {**query, "expires": value}, content_length=10)


# --- writes ------------------------------------------------------------------------------------------------------


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def test_objects_are_files_under_the_root(store: LocalBlobStore) -> None:
    store.put_bytes(KEY, b"clip")

    assert (store.root / "objects" / (KEY + OBJECT_SUFFIX)).read_bytes() == b"clip"
    assert files_under(store.root / "tmp") == []


@pytest.mark.parametrize(
    ("body", "declared", "sha256"),
    [
        ([b"abc"], 4, None),
        ([b"abcde"], 4, None),
        ([b"ab", b"cd", b"e"], 4, None),
        ([b"abcd"], 4, "0" * 64),
    ],
    ids=["short", "long", "long-in-chunks", "other-hash"],
)
def test_a_refused_write_leaves_nothing_and_keeps_the_old_object(
    store: LocalBlobStore, body: list[bytes], declared: int, sha256: str | None
) -> None:
    store.put_bytes(KEY, b"old")

    with pytest.raises(Invalid):
        store.receive_object(KEY, iter(body), declared, sha256)

    assert store.get_bytes(KEY) == b"old"
    assert files_under(store.root / "tmp") == []


def test_a_write_interrupted_by_the_client_leaves_nothing(store: LocalBlobStore) -> None:
    def dropped_connection() -> Iterator[bytes]:
        yield b"abc"
        raise ConnectionResetError("the unit went away")

    with pytest.raises(Unavailable, match="went away"):
        store.receive_object(KEY, dropped_connection(), 10)

    assert store.head(KEY) is None
    assert files_under(store.root / "tmp") == []


def test_parts_are_separate_files_until_completion(store: LocalBlobStore) -> None:
    upload_id = store.start_multipart(KEY)
    first = store.receive_part(KEY, upload_id, 1, [b"a" * 10], 10)
    store.receive_part(KEY, upload_id, 2, [b"b" * 5], 5)

    parts_dir = store.root / "uploads" / upload_id / "parts"
    assert [path.name for path in files_under(parts_dir)] == [
        f"00001-{hashlib.md5(b'a' * 10, usedforsecurity=False).hexdigest()}",
        f"00002-{hashlib.md5(b'b' * 5, usedforsecurity=False).hexdigest()}",
    ]
    assert first.etag == hashlib.md5(b"a" * 10, usedforsecurity=False).hexdigest()
    assert store.head(KEY) is None

    store.complete_multipart(KEY, upload_id, store.list_parts(KEY, upload_id)[:1])

    assert store.get_bytes(KEY) == b"a" * 10
    assert not (store.root / "uploads" / upload_id).exists()


def test_a_part_for_a_finished_upload_is_not_found(store: LocalBlobStore) -> None:
    upload_id = store.start_multipart(KEY)
    store.abort_multipart(KEY, upload_id)

    with pytest.raises(NotFound):
        store.receive_part(KEY, upload_id, 1, [b"x"], 1)
    with pytest.raises(NotFound):
        store.receive_part(KEY, "../../objects", 1, [b"x"], 1)
    assert files_under(store.root / "tmp") == []


def test_a_symlink_out_of_the_store_is_not_followed(store: LocalBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "objects" / "tenants").symlink_to(outside)

    with pytest.raises(Invalid, match="leaves the store"):
        store.put_bytes(KEY, b"x")
    assert list(outside.iterdir()) == []


def test_stale_temporary_files_are_swept_when_a_store_opens(tmp_path: Path) -> None:
    LocalBlobStore(tmp_path / "blobs", SIGNING_KEY)
    stale, fresh = tmp_path / "blobs" / "tmp" / "write-old", tmp_path / "blobs" / "tmp" / "write-new"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being written")
    old = time.time() - STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))

    LocalBlobStore(tmp_path / "blobs", SIGNING_KEY)

    assert (stale.exists(), fresh.exists()) == (False, True)


# --- the signing key and the factory -----------------------------------------------------------------------------


def test_development_key_is_generated_once_and_private(tmp_path: Path) -> None:
    first = development_signing_key(tmp_path / "data")
    again = development_signing_key(tmp_path / "data")

    assert first == again and len(first) == 64
    mode = stat.S_IMODE((tmp_path / "data" / SIGNING_KEY_FILE).stat().st_mode)
    assert mode == 0o600
    assert [path.name for path in (tmp_path / "data").iterdir()] == [SIGNING_KEY_FILE]


def test_a_damaged_development_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / SIGNING_KEY_FILE).write_text("short\n")

    with pytest.raises(Invalid, match="delete it"):
        development_signing_key(tmp_path)


def test_production_requires_a_signing_key_for_the_local_store(tmp_path: Path) -> None:
    shared = SharedSettings(environment="production", data_dir=tmp_path, database_url="postgresql://db/fleet")

    with pytest.raises(Invalid, match="FLEET_BLOB_SIGNING_KEY"):
        make_blob_store(shared, BlobSettings())
    key = "f3b1c0d6a9e24e7b8c5d1a2f3e4b5c6d"
    assert local_signing_key(shared, BlobSettings(blob_signing_key=key)) == key.encode()
    assert not (tmp_path / SIGNING_KEY_FILE).exists()
    # With a bucket, the local store and its key are not needed.
    assert isinstance(make_blob_store(shared, BlobSettings(s3_bucket="fleet-files")), S3BlobStore)


def test_the_factory_picks_the_local_store_without_a_bucket(tmp_path: Path) -> None:
    store = make_blob_store(SharedSettings(data_dir=tmp_path), BlobSettings())

    assert isinstance(store, LocalBlobStore) and store.root == (tmp_path / "blobs").resolve()
    assert (tmp_path / SIGNING_KEY_FILE).exists()
    assert store.presign_get(KEY).url.startswith("/v1/blobs/")
