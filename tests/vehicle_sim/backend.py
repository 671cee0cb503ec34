"""The backend's side of the file flow on a real S3 store, as the worker does it: grants for offers, verdicts."""

import math
from datetime import timedelta

from fleet.blobs.keys import file_key
from fleet.blobs.s3 import S3BlobStore
from fleet.blobs.store import MIN_PART_BYTES, PresignedRequest
from fleet.contract.downlink import (
    FileGrant,
    FileGrantMessage,
    FileRefused,
    FileVerified,
    MultipartUpload,
    PartRequest,
    SignedRequest,
)
from fleet.contract.records import FileRecord
from tests.fixtures.s3 import REGION, SeaweedServer

TENANT_ID = 1


def s3_store(server: SeaweedServer, bucket: str) -> S3BlobStore:
    """An S3BlobStore on `bucket` of `server`."""
    return S3BlobStore(
        bucket,
        endpoint_url=server.endpoint_url,
        region=REGION,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
    )


def signed(request: PresignedRequest) -> dict[str, object]:
    """The fields of a presigned PUT as the contract's request has them."""
    return {"url": request.url, "headers": request.headers, "expires_at": request.expires_at}


class Backend:
    """Answers a unit's `file` records as the worker would: a PUT or the missing parts, then the check."""

    def __init__(
        self,
        store: S3BlobStore,
        device_id: str,
        multipart_from: int = 16 * 1024**2,
        part_size: int = MIN_PART_BYTES,
        expires: timedelta = timedelta(minutes=10),
    ) -> None:
        self.store = store
        self.device_id = device_id
        self.multipart_from = multipart_from
        self.part_size = part_size
        self.expires = expires
        self.keys: dict[str, str] = {}
        self.uploads: dict[str, str] = {}
        self.grants: list[FileGrant] = []

    def answer(self, record: FileRecord) -> FileGrantMessage | None:
        """The answer to one record: a grant for an offer, the verdict for an upload, nothing for a failure."""
        if record.state == "offered":
            grant = self.grant(record)
            self.grants.append(grant)
            return grant
        if record.state == "uploaded":
            return self.check(record)
        return None

    def key(self, record: FileRecord) -> str:
        """The object key of the file, fixed by its first offer."""
        return self.keys.setdefault(
            record.file_id, file_key(TENANT_ID, self.device_id, record.kind, record.ts, record.file_id)
        )

    def grant(self, record: FileRecord) -> FileGrant:
        """One presigned PUT, or the parts the multipart upload still misses."""
        key = self.key(record)
        if record.size_bytes < self.multipart_from:
            put = self.store.presign_put(key, record.size_bytes, record.sha256, self.expires, record.content_type)
            return FileGrant(file_id=record.file_id, upload=SignedRequest(**signed(put)))  # type: ignore[arg-type]
        if record.file_id not in self.uploads:
            self.uploads[record.file_id] = self.store.start_multipart(key, record.content_type)
        upload_id = self.uploads[record.file_id]
        stored = {part.part_number: part.size for part in self.store.list_parts(key, upload_id)}
        parts = []
        for number in range(1, math.ceil(record.size_bytes / self.part_size) + 1):
            length = min(self.part_size, record.size_bytes - (number - 1) * self.part_size)
            if stored.get(number) != length:
                request = self.store.presign_part(key, upload_id, number, length, self.expires)
                parts.append(PartRequest(part_number=number, **signed(request)))  # type: ignore[arg-type]
        upload = MultipartUpload(part_size_bytes=self.part_size, parts=parts, stored_parts=sorted(stored))
        return FileGrant(file_id=record.file_id, multipart=upload)

    def check(self, record: FileRecord) -> FileVerified | FileRefused:
        """Join the parts, then compare the stored bytes with the offer."""
        key = self.key(record)
        upload_id = self.uploads.pop(record.file_id, None)
        if upload_id is not None:
            self.store.complete_multipart(key, upload_id, self.store.list_parts(key, upload_id))
        if self.store.sha256(key) != record.sha256:
            return FileRefused(file_id=record.file_id, error="upload rejected: the stored bytes differ")
        return FileVerified(file_id=record.file_id)
