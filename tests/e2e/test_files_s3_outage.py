"""Object storage down in the middle of uploads, with the real parts: Mosquitto with access control, PostgreSQL,
SeaweedFS, ingest, the dispatcher and the worker. A scripted unit offers, uploads and reports as the contract says.

While S3 is down nothing is marked verified, grants that need the store wait, the unit's PUTs fail, and telemetry is
stored all along; once S3 is back every file ends verified with the bytes the unit announced.
"""

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine, func, select

from fleet.blobs.s3 import S3BlobStore
from fleet.contract.downlink import FileGrant, FileGrantMessage, FileVerified, SignedRequest
from fleet.contract.topics import Stream, downlink_topic, uplink_topic
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import File, Position, Vehicle
from fleet.files.states import FileState
from fleet.mqtt.dynsec import bootstrap_config, hash_password
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import MqttEndpoint
from fleet.settings import FilesSettings, SharedSettings, WorkerSettings
from tests.fixtures.downlink import DispatcherThread, Unit
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, ServiceThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.publisher import Publisher
from tests.fixtures.s3 import REGION, SeaweedServer
from worker.service import WorkerService

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ADMIN = ("fleet-admin", secrets.token_urlsafe(16))
SERVICES = {identity: secrets.token_urlsafe(16) for identity in ServiceIdentity}
PART = 5 * 1024**2
FILES = FilesSettings(multipart_threshold_bytes=PART, part_size_bytes=PART)
ANSWERS: TypeAdapter[FileGrantMessage] = TypeAdapter(FileGrantMessage)


@dataclass
class Stack:
    engine: Engine
    s3: SeaweedServer
    device_id: str
    uplink: Publisher
    grants: Unit
    seq: int = 0

    def report(self, file_id: str, data: bytes, state: str) -> None:
        """Publish a `file` record of `data`, as the unit does."""
        self.seq += 1
        record = {
            "ts": datetime.now(UTC).isoformat(),
            "seq": self.seq,
            "file_id": file_id,
            "state": state,
            "kind": "video",
            "name": f"{file_id}.mp4",
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": "video/mp4",
        }
        self.uplink.publish(uplink_topic(self.device_id, Stream.FILE), record)

    def answers(self, file_id: str) -> list[FileGrantMessage]:
        """Answers received for `file_id`, in order."""
        parsed = [ANSWERS.validate_json(m.payload) for m in self.grants.messages()]
        return [a for a in parsed if a.file_id == file_id]

    def next_answer(self, file_id: str, seen: int) -> FileGrantMessage:
        """Wait for the answer after the first `seen` ones."""
        wait_until(lambda: len(self.answers(file_id)) > seen, f"answer {seen + 1} for {file_id}", timeout=20)
        return self.answers(file_id)[seen]

    def file(self, file_id: str) -> File:
        with make_session_factory(self.engine)() as session:
            return session.scalars(select(File).where(File.file_id == file_id)).one()


def put(request: SignedRequest, body: bytes) -> bool:
    """The unit's PUT; False when it fails (refused, connection lost)."""
    http = urllib.request.Request(request.url, data=body, method=request.method, headers=request.headers)
    try:
        with urllib.request.urlopen(http, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def upload(grant: FileGrantMessage, data: bytes) -> bool:
    """Send what the grant asks for."""
    assert isinstance(grant, FileGrant), grant
    if grant.upload:
        return put(grant.upload, data)
    assert grant.multipart
    size = grant.multipart.part_size_bytes
    return all(put(p, data[(p.part_number - 1) * size : p.part_number * size]) for p in grant.multipart.parts)


@pytest.fixture
def stack(postgres: PostgresServer) -> Iterator[Stack]:
    base = Path(tempfile.mkdtemp(prefix="fleet-files-outage-"))
    # Mosquitto drops root and must reach its files below.
    base.chmod(0o755)
    url = postgres.create_database(f"files_outage_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    engine = make_engine(url)
    device_id, password = f"unit-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(24)
    seed_tenant(engine, f"files-{uuid.uuid4().hex[:8]}", [device_id])
    broker = MosquittoServer(
        base / "mqtt", access=bootstrap_config(ADMIN, SERVICES, {device_id: hash_password(password)})
    )
    broker.start()
    s3 = SeaweedServer(base / "s3")
    s3.start()
    bucket = s3.create_bucket()
    store = S3BlobStore(
        bucket,
        endpoint_url=s3.endpoint_url,
        region=REGION,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        max_attempts=1,
    )

    def as_service(identity: ServiceIdentity) -> str:
        return f"mqtt://{identity.value}:{SERVICES[identity]}@127.0.0.1:{broker.port}"

    ingest = IngestThread(url, as_service(ServiceIdentity.INGEST)).start()
    dispatcher = DispatcherThread(url, as_service(ServiceIdentity.PUBLISHER)).start()
    worker_service = WorkerService(
        SharedSettings(database_url=url),
        WorkerSettings(http_port=0, poll_interval_seconds=0.1),
        files=FILES,
        store=store,
        engine=engine,
    )
    worker = ServiceThread(worker_service)
    worker.wait_ready(worker_service)
    endpoint = MqttEndpoint("127.0.0.1", broker.port, device_id, password)
    # One connection, as a unit has: its credential is bound to its device id as client id.
    grants = Unit(endpoint, downlink_topic(device_id, "file/grant"), client_id=device_id)
    uplink = Publisher.on(grants.client)
    uplink.publish(
        uplink_topic(device_id, Stream.STATUS),
        {"ts": datetime.now(UTC).isoformat(), "seq": 1, "state": "online"},
        retain=True,
    )
    try:
        yield Stack(engine, s3, device_id, uplink, grants)
    finally:
        grants.close()
        worker.stop()
        dispatcher.stop()
        ingest.stop()
        s3.kill()
        broker.stop()
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


def positions(engine: Engine, device_id: str) -> int:
    with make_session_factory(engine)() as session:
        query = (
            select(func.count())
            .select_from(Position)
            .join(Vehicle, Vehicle.id == Position.vehicle_id)
            .where(Vehicle.device_id == device_id)
        )
        return int(session.scalar(query) or 0)


def test_s3_down_during_uploads_delays_files_loses_none_and_telemetry_flows(stack: Stack) -> None:
    before, small, large = os.urandom(200_000), os.urandom(150_000), os.urandom(PART + 1_000_000)
    stack.report("before", before, "offered")
    assert upload(stack.next_answer("before", 0), before)

    stack.s3.kill()
    stack.report("before", before, "uploaded")
    stack.report("small", small, "offered")
    stack.report("large", large, "offered")
    # A single PUT is signed without the store: the grant comes, the PUT fails. A multipart grant needs the store.
    assert not upload(stack.next_answer("small", 0), small)
    wait_until(lambda: stack.file("before").attempts >= 2 and stack.file("large").attempts >= 2, "the worker retrying")
    now = datetime.now(UTC)
    stack.uplink.publish_many(
        [
            (
                uplink_topic(stack.device_id, Stream.POS),
                json.dumps(
                    {"ts": (now - timedelta(seconds=i)).isoformat(), "seq": i, "lat": 48.2, "lon": 16.37}
                ).encode(),
            )
            for i in range(1, 21)
        ]
    )
    wait_until(lambda: positions(stack.engine, stack.device_id) == 20, "telemetry stored while S3 is down")
    assert {stack.file(f).state for f in ("before", "small", "large")} == {FileState.UPLOADED, FileState.OFFERED}
    assert stack.answers("large") == []

    stack.s3.start()
    assert isinstance(stack.next_answer("before", 1), FileVerified)
    assert upload(stack.next_answer("large", 0), large)
    stack.report("large", large, "uploaded")
    # The unit offers again after its failed PUT: a fresh grant.
    stack.report("small", small, "offered")
    assert upload(stack.next_answer("small", 1), small)
    stack.report("small", small, "uploaded")

    for file_id, data, seen in (("small", small, 2), ("large", large, 1)):
        assert isinstance(stack.next_answer(file_id, seen), FileVerified)
        file = stack.file(file_id)
        assert file.state == FileState.VERIFIED
        assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert stack.file("before").state == FileState.VERIFIED
