"""The S3 blob store (boto3): AWS S3, or a compatible server (SeaweedFS, MinIO) at FLEET_S3_ENDPOINT_URL.

Presigned URLs are SigV4 query-string signatures. Everything a unit must send is signed as a header: the
Content-Length (S3 refuses a body of another size), the SHA-256 as `x-amz-checksum-sha256` (S3 refuses other
bytes with BadDigest), the content type and the server-side encryption; `PresignedRequest.headers` lists them.
No botocore exception leaves this module: a missing object or upload is `NotFound`, a refused multipart
completion `Invalid`, everything else (connection refused, timeouts, 5xx, a missing bucket, refused
credentials) `Unavailable`.
"""

import base64
import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from fleet.blobs.keys import validate_key
from fleet.blobs.store import (
    CHUNK_BYTES,
    DEFAULT_EXPIRY,
    MAX_PART_BYTES,
    MAX_SINGLE_PUT_BYTES,
    BlobInfo,
    BlobReader,
    PresignedRequest,
    RangeNotSatisfiable,
    UploadedPart,
    check_expiry,
    check_length,
    check_part_number,
    check_parts,
    check_range,
    check_sha256_hex,
    content_disposition,
)
from fleet.errors import FleetError, Invalid, NotFound, Unavailable
from fleet.settings import BlobSettings, S3SseMode

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# Uploads by the services (the archive's Parquet parts): parts of this size, this many in flight, so an upload
# holds at most their product in memory however large the file.
UPLOAD_PART_BYTES = 16 * 1024 * 1024
UPLOAD_THREADS = 2
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchUpload", "NotFound", "404"})
_INVALID_CODES = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge", "InvalidArgument"})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_EPOCH = datetime.fromtimestamp(0, UTC)


class S3BlobStore:
    """`BlobStore` on one S3 bucket."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str = "",
        public_endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        sse: S3SseMode = "none",
        sse_kms_key_id: str = "",
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        """`max_attempts` counts the first try: connection errors, throttling and 5xx are retried with back-off."""
        self.bucket = bucket
        self.sse = sse
        self.sse_kms_key_id = sse_kms_key_id
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=region,
        )
        config = Config(
            signature_version="s3v4",
            # SeaweedFS and MinIO answer on one host name; AWS picks virtual-hosted names itself.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # Checksums only where the caller asks for one (the unit's SHA-256): S3-compatible servers differ in
            # the CRC trailers botocore would add by default, and presigned URLs must not carry them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=20,
        )
        self._client: S3Client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        # Presigning is local computation; the URL names the host the unit connects to.
        self._presigner: S3Client = (
            session.client("s3", endpoint_url=public_endpoint_url, config=config)
            if public_endpoint_url
            else self._client
        )

    @classmethod
    def from_settings(cls, settings: BlobSettings) -> "S3BlobStore":
        """The store of FLEET_S3_*."""
        return cls(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            sse=settings.s3_sse,
            sse_kms_key_id=settings.s3_sse_kms_key_id,
        )

    # --- helpers ---------------------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """botocore's exceptions as the core's."""
        try:
            yield
        except FleetError:
            raise
        except ClientError as error:
            raise self._translate(error, what) from error
        except (BotoCoreError, Urllib3Error, OSError) as error:
            raise Unavailable(f"object storage unreachable ({what}): {error}") from error

    def _translate(self, error: ClientError, what: str) -> FleetError:
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        message = str(details.get("Message", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code == "NoSuchBucket":
            return Unavailable(f"object storage: bucket {self.bucket} does not exist ({what})")
        if code in _NOT_FOUND_CODES:
            return NotFound(f"{what}: not found")
        if code == "InvalidRange":
            # The size is not in every server's answer: open_range asks for it.
            return RangeNotSatisfiable(f"{what}: range not satisfiable", size=-1)
        if code in _INVALID_CODES:
            return Invalid(f"{what}: {code}: {message}")
        return Unavailable(f"object storage refused {what}: {code or status} {message}".rstrip())

    def _sse_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.sse != "none":
            params["ServerSideEncryption"] = self.sse
        if self.sse == "aws:kms" and self.sse_kms_key_id:
            params["SSEKMSKeyId"] = self.sse_kms_key_id
        return params

    def _sse_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.sse != "none":
            headers["x-amz-server-side-encryption"] = self.sse
        if self.sse == "aws:kms" and self.sse_kms_key_id:
            headers["x-amz-server-side-encryption-aws-kms-key-id"] = self.sse_kms_key_id
        return headers

    def _presign(
        self, operation: str, params: dict[str, Any], seconds: int, method: str, headers: dict[str, str]
    ) -> PresignedRequest:
        # Before signing: the signature's date is at or after this, so the URL lives at least until expires_at.
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
        with self._errors(f"signing {operation}"):
            url = self._presigner.generate_presigned_url(
                operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=seconds, HttpMethod=method
            )
        return PresignedRequest("GET" if method == "GET" else "PUT", url, headers, expires_at)

    def _stream(self, body: "StreamingBody", length: int, what: str) -> Iterator[bytes]:
        received = 0
        with self._errors(what):
            for chunk in body.iter_chunks(CHUNK_BYTES):
                received += len(chunk)
                yield chunk
        if received != length:
            raise Unavailable(f"object storage: {what} ended after {received} of {length} bytes")

    # --- BlobStore ---------------------------------------------------------------------------------------------

    def presign_put(
        self,
        key: str,
        content_length: int,
        sha256_hex: str | None = None,
        expires: timedelta = DEFAULT_EXPIRY,
        content_type: str | None = None,
    ) -> PresignedRequest:
        """A presigned PutObject binding the length, the SHA-256, the content type and the encryption."""
        validate_key(key)
        check_length(content_length, MAX_SINGLE_PUT_BYTES)
        seconds = check_expiry(expires)
        params: dict[str, Any] = {"Key": key, "ContentLength": content_length, **self._sse_params()}
        headers = {"Content-Length": str(content_length), **self._sse_headers()}
        if sha256_hex is not None:
            checksum = base64.b64encode(bytes.fromhex(check_sha256_hex(sha256_hex))).decode()
            params["ChecksumSHA256"] = checksum
            headers["x-amz-checksum-sha256"] = checksum
        if content_type is not None:
            params["ContentType"] = content_type
            headers["Content-Type"] = content_type
        return self._presign("put_object", params, seconds, "PUT", headers)

    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        """CreateMultipartUpload (with the encryption); the upload id."""
        validate_key(key)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, **self._sse_params()}
        if content_type is not None:
            params["ContentType"] = content_type
        with self._errors("starting a multipart upload"):
            return self._client.create_multipart_upload(**params)["UploadId"]

    def presign_part(
        self, key: str, upload_id: str, part_number: int, content_length: int, expires: timedelta = DEFAULT_EXPIRY
    ) -> PresignedRequest:
        """A presigned UploadPart of exactly `content_length` bytes."""
        validate_key(key)
        check_part_number(part_number)
        check_length(content_length, MAX_PART_BYTES, "part length")
        seconds = check_expiry(expires)
        params = {"Key": key, "UploadId": upload_id, "PartNumber": part_number, "ContentLength": content_length}
        return self._presign("upload_part", params, seconds, "PUT", {"Content-Length": str(content_length)})

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """ListParts, every page."""
        validate_key(key)
        newest: dict[int, tuple[datetime, UploadedPart]] = {}
        with self._errors("listing parts"):
            pages = self._client.get_paginator("list_parts").paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
            for page in pages:
                for listed in page.get("Parts", []):
                    part = UploadedPart(listed["PartNumber"], listed["Size"], listed["ETag"].strip('"'))
                    modified = listed.get("LastModified", _EPOCH)
                    # SeaweedFS (4.48) lists a part number sent twice twice: the newest one counts, as on AWS.
                    if part.part_number not in newest or modified >= newest[part.part_number][0]:
                        newest[part.part_number] = (modified, part)
        return [part for _, (_, part) in sorted(newest.items())]

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        """CompleteMultipartUpload; a missing or too small part is `Invalid`."""
        validate_key(key)
        listed: list[CompletedPartTypeDef] = [
            {"PartNumber": part.part_number, "ETag": _quoted(part.etag)} for part in check_parts(parts)
        ]
        with self._errors("completing a multipart upload"):
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; an unknown upload is no error."""
        validate_key(key)
        try:
            with self._errors("aborting a multipart upload"):
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except NotFound:
            pass

    def head(self, key: str) -> BlobInfo | None:
        """HeadObject; None when missing (a missing bucket also answers 404 to HEAD, so it reads as missing)."""
        validate_key(key)
        try:
            with self._errors("reading an object's metadata"):
                response = self._client.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return BlobInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            last_modified=response["LastModified"],
            content_type=response.get("ContentType"),
        )

    def sha256(self, key: str) -> str:
        """SHA-256 (hex) of the object, streamed through once."""
        digest = hashlib.sha256()
        with self.open_range(key) as reader:
            for chunk in reader:
                digest.update(chunk)
        return digest.hexdigest()

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        """GetObject, with a Range unless the whole object is asked for."""
        validate_key(key)
        check_range(start, end, size=start + 1)  # the types and order only; the size comes with the answer
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start > 0 or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            with self._errors("reading an object"):
                response = self._client.get_object(**params)
        except RangeNotSatisfiable:
            info = self.head(key)
            if info is None:
                raise NotFound(f"reading an object: no object {key}") from None
            if info.size == 0 and start == 0:  # an empty object: S3 refuses any range of it
                return BlobReader(iter(()), start=0, end=-1, size=0, close=lambda: None)
            raise RangeNotSatisfiable(f"range starts at {start}, the object has {info.size} bytes", info.size) from None
        body = response["Body"]
        length = response["ContentLength"]
        match = _CONTENT_RANGE.fullmatch(response.get("ContentRange", ""))
        if match:
            first, last, size = (int(group) for group in match.groups())
        else:
            first, last, size = 0, length - 1, length
        return BlobReader(
            self._stream(body, length, "reading an object"), start=first, end=last, size=size, close=body.close
        )

    def presign_get(
        self, key: str, expires: timedelta = DEFAULT_EXPIRY, filename: str | None = None
    ) -> PresignedRequest:
        """A presigned GetObject; with `filename`, S3 answers with it as the attachment's name."""
        validate_key(key)
        seconds = check_expiry(expires)
        params: dict[str, Any] = {"Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self._presign("get_object", params, seconds, "GET", {})

    def delete(self, key: str) -> None:
        """DeleteObject (S3 answers a missing key with success too)."""
        validate_key(key)
        with self._errors("deleting an object"):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """PutObject of a small object, with the encryption."""
        validate_key(key)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data, **self._sse_params()}
        if content_type is not None:
            params["ContentType"] = content_type
        with self._errors("writing an object"):
            self._client.put_object(**params)

    def get_bytes(self, key: str) -> bytes:
        """GetObject of a small object, whole."""
        with self.open_range(key) as reader:
            return reader.read()

    def put_file(self, key: str, source: BinaryIO, size: int, content_type: str | None = None) -> None:
        """boto3's managed upload: one PutObject up to UPLOAD_PART_BYTES, else a multipart upload of such parts
        (at most UPLOAD_THREADS in memory at once), aborted on failure; with the encryption."""
        validate_key(key)
        extra: dict[str, Any] = self._sse_params()
        if content_type is not None:
            extra["ContentType"] = content_type
        transfer = TransferConfig(
            multipart_threshold=UPLOAD_PART_BYTES, multipart_chunksize=UPLOAD_PART_BYTES, max_concurrency=UPLOAD_THREADS
        )
        with self._errors("writing an object"):
            try:
                self._client.upload_fileobj(source, self.bucket, key, ExtraArgs=extra, Config=transfer)
            except S3UploadFailedError as error:
                cause = error.__cause__ or error.__context__
                if isinstance(cause, ClientError | BotoCoreError):
                    raise cause from error
                raise Unavailable(f"object storage refused writing an object: {error}") from error


def _quoted(etag: str) -> str:
    """An etag as S3 lists it, in double quotes."""
    return '"' + etag.strip('"') + '"'
