"""File upload benchmark: the file flow against a bare boto3 PUT of the same bytes, on one SeaweedFS, in one run.

Run: `.venv/bin/python -m bench.upload_bench` (add `--quick` for a smaller run). Prints a Markdown table.

The flow is what a file costs the backend and the unit together, minus the MQTT hops (measured by the ingest
benchmark): the offer applied as ingest applies it, the worker's grant (a presigned PUT, or a multipart upload with
its parts), the unit's HTTP PUTs of the bytes, the `uploaded` report, and the worker's check, which reads the
object back once to compare its SHA-256. The reference is `put_object` of the same bytes with boto3, so the ratio
shows the price of the check and the grant, not the speed of the disk.
"""

import argparse
import hashlib
import os
import shutil
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter
from sqlalchemy import Engine, select

from fleet.blobs.s3 import S3BlobStore
from fleet.contract.downlink import FileGrant, FileGrantMessage, SignedRequest
from fleet.contract.records import FileRecord
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import OutboxMessage, Vehicle
from fleet.files import transfer
from fleet.files.reports import Report, apply_reports
from fleet.settings import FilesSettings
from tests.fixtures.factories import seed_tenant
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.s3 import REGION, SeaweedServer

ANSWERS: TypeAdapter[FileGrantMessage] = TypeAdapter(FileGrantMessage)
FILES = FilesSettings(multipart_threshold_bytes=16 * 1024**2, part_size_bytes=8 * 1024**2)


class Flow:
    """A unit and the backend's file steps, driven in one thread."""

    def __init__(self, engine: Engine, store: S3BlobStore, vehicle_id: int) -> None:
        self.engine, self.store, self.vehicle_id = engine, store, vehicle_id
        self.seq = 0

    def send(self, data: bytes) -> None:
        """Offer, get the grant, PUT, report, and wait for the check: one file through the flow."""
        file_id = uuid.uuid4().hex
        digest = hashlib.sha256(data).hexdigest()
        self._report(file_id, len(data), digest, "offered")
        self._work()
        grant = self._last_answer()
        assert isinstance(grant, FileGrant), grant
        if grant.upload:
            _put(grant.upload, data)
        else:
            assert grant.multipart
            size = grant.multipart.part_size_bytes
            for part in grant.multipart.parts:
                _put(part, data[(part.part_number - 1) * size : part.part_number * size])
        self._report(file_id, len(data), digest, "uploaded")
        counts = self._work()
        assert counts.verified == 1, counts

    def _report(self, file_id: str, size: int, digest: str, state: str) -> None:
        self.seq += 1
        record = FileRecord(
            ts=datetime.now(UTC), seq=self.seq, file_id=file_id, state=state, kind="video", name="clip.mp4",
            size_bytes=size, sha256=digest, content_type="video/mp4",
        )  # fmt: skip
        with self.engine.begin() as connection:
            assert apply_reports(connection, [Report(self.vehicle_id, record, datetime.now(UTC))]) == []

    def _work(self) -> transfer.PassCounts:
        with make_session_factory(self.engine)() as session:
            counts = transfer.process(session, self.store, FILES, 10, datetime.now(UTC))
            session.commit()
        return counts

    def _last_answer(self) -> FileGrantMessage:
        with make_session_factory(self.engine)() as session:
            payload = session.scalars(
                select(OutboxMessage.payload)
                .where(OutboxMessage.vehicle_id == self.vehicle_id)
                .order_by(OutboxMessage.id.desc())
                .limit(1)
            ).one()
        return ANSWERS.validate_json(payload)


def _put(request: SignedRequest, body: bytes) -> None:
    http = urllib.request.Request(request.url, data=body, method=request.method, headers=request.headers)
    with urllib.request.urlopen(http, timeout=60) as response:
        assert response.status == 200


def timed(action: Callable[[bytes], None], payloads: list[bytes]) -> float:
    """MB/s of `action` over `payloads`, one after another."""
    started = time.perf_counter()
    for data in payloads:
        action(data)
    return sum(map(len, payloads)) / (time.perf_counter() - started) / 1e6


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller files")
    args = parser.parse_args()
    cases = [("300 KB clip", 300_000, 10 if args.quick else 40), ("40 MB download", 40 * 10**6, 1 if args.quick else 3)]
    base = Path(tempfile.mkdtemp(prefix="fleet-upload-bench-"))
    # The servers drop root and must reach their folders below.
    base.chmod(0o755)
    pg, s3 = PostgresServer(base / "pg"), SeaweedServer(base / "s3")
    try:
        pg.start()
        s3.start()
        url = pg.create_database("upload_bench")
        upgrade(url)
        engine = make_engine(url)
        tenant = seed_tenant(engine, "bench", ["bench-bus"])
        with make_session_factory(engine)() as session:
            vehicle_id = session.scalars(select(Vehicle.id).where(Vehicle.device_id == tenant.device_ids[0])).one()
        bucket = s3.create_bucket()
        store = S3BlobStore(
            bucket, endpoint_url=s3.endpoint_url, region=REGION, access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )  # fmt: skip
        client = s3.client()
        flow = Flow(engine, store, vehicle_id)

        def bare(data: bytes) -> None:
            client.put_object(Bucket=bucket, Key=f"bare/{uuid.uuid4().hex}", Body=data)

        print("| case | bare boto3 PUT (MB/s) | file flow (MB/s) | flow / bare |")
        print("|---|---|---|---|")
        for name, size, count in cases:
            payloads = [os.urandom(size) for _ in range(count)]
            # Interleaved rounds: a slow phase of the machine weighs on both alike.
            bare_rate = flow_rate = 0.0
            for _ in range(2):
                bare_rate += timed(bare, payloads) / 2
                flow_rate += timed(flow.send, payloads) / 2
            print(f"| {name} x {count} | {bare_rate:.1f} | {flow_rate:.1f} | {flow_rate / bare_rate:.2f} |")
        engine.dispose()
    finally:
        s3.kill()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
