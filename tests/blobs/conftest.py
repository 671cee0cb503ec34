"""Both blob stores behind one parametrized fixture: the same behaviour is expected of each."""

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from api.app import create_app
from fleet.blobs.keys import file_key
from fleet.blobs.local import DEFAULT_BASE_URL, LocalBlobStore
from fleet.blobs.s3 import S3BlobStore
from fleet.blobs.store import BlobStore
from fleet.settings import ApiSettings, SharedSettings
from tests.fixtures.api_server import ApiServer
from tests.fixtures.s3 import SeaweedServer, s3_store_for

SIGNING_KEY = b"k" * 16 + b"0123456789abcdef"


@pytest.fixture(scope="module")
def s3_bucket(s3: SeaweedServer) -> str:
    """A fresh bucket for the module on the session's SeaweedFS."""
    return s3.create_bucket()


@pytest.fixture
def s3_store(s3: SeaweedServer, s3_bucket: str) -> S3BlobStore:
    """The S3 store on the module's bucket."""
    return s3_store_for(s3, s3_bucket)


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[LocalBlobStore]:
    """A local store in a temp dir, its signed URLs served by the API's blob endpoint (uvicorn, a real socket)."""
    server = ApiServer()
    store = LocalBlobStore(tmp_path / "blobs", SIGNING_KEY, server.url + DEFAULT_BASE_URL)
    # The blob endpoint never touches the database: the app's engine is never connected.
    shared = SharedSettings(database_url=f"sqlite:///{tmp_path / 'unused.db'}", data_dir=tmp_path)
    server.serve(create_app(shared, ApiSettings(), blob_store=store))
    yield store
    server.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    """Each implementation in turn."""
    implementation: BlobStore = request.getfixturevalue(f"{request.param}_store")
    return implementation


@pytest.fixture
def key() -> str:
    """A fresh file key."""
    return file_key(1, "bus-0001", "video", date(2026, 1, 31), uuid.uuid4().hex)
