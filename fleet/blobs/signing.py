"""Signed, expiring URLs of the local store: the API's own blob endpoint, in the role of S3's presigned URLs.

A URL is `<base>/<key>?<params>`, the key percent-quoted in the path. The params name what the holder may do:

| param | meaning |
|---|---|
| `expires` | Unix time (seconds) after which the URL is refused |
| `length` | the request's Content-Length must be exactly this (PUT) |
| `sha256` | the body's SHA-256 must be this (PUT, optional) |
| `upload_id`, `part` | the URL writes one part of a multipart upload |
| `filename` | a GET answers with this download name |
| `signature` | HMAC-SHA256 with the signing key over the method, the key and all of the above |

The signed text is a JSON array of `fleet-blob-v1` and those values (absent ones as null), so no value can
shift into another. The endpoint (built in the API) passes the request's method, key, query and Content-Length
to `verify_signature`, and gets back what the URL allows, or `SignatureRefused` (403).
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlencode

from fleet.blobs.keys import validate_key
from fleet.blobs.store import check_filename, check_part_number, check_sha256_hex
from fleet.errors import FleetError, Invalid

SIGNATURE_VERSION = "fleet-blob-v1"
QUERY_PARAMS = ("expires", "length", "sha256", "upload_id", "part", "filename", "signature")


class SignatureRefused(FleetError):
    """A signed URL that does not allow this request: tampered, expired, or another length (HTTP 403)."""

    http_status = 403


@dataclass(frozen=True)
class SignedGrant:
    """What a verified URL allows."""

    method: Literal["GET", "PUT"]
    key: str
    expires_at: datetime
    content_length: int | None = None
    sha256_hex: str | None = None
    upload_id: str | None = None
    part_number: int | None = None
    filename: str | None = None


class UrlSigner:
    """Makes and checks the local store's URLs with one secret key."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        if len(secret) < 16:
            raise ValueError("the signing key needs at least 16 bytes")
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _signature(self, grant: SignedGrant, expires: int) -> str:
        message = json.dumps(
            [
                SIGNATURE_VERSION,
                grant.method,
                grant.key,
                expires,
                grant.content_length,
                grant.sha256_hex,
                grant.upload_id,
                grant.part_number,
                grant.filename,
            ],
            separators=(",", ":"),
            ensure_ascii=True,
        ).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, grant: SignedGrant) -> str:
        """The URL allowing `grant` until its `expires_at` (whole seconds)."""
        expires = int(grant.expires_at.timestamp())
        params: dict[str, str] = {"expires": str(expires)}
        if grant.content_length is not None:
            params["length"] = str(grant.content_length)
        if grant.sha256_hex is not None:
            params["sha256"] = grant.sha256_hex
        if grant.upload_id is not None:
            params["upload_id"] = grant.upload_id
        if grant.part_number is not None:
            params["part"] = str(grant.part_number)
        if grant.filename is not None:
            params["filename"] = grant.filename
        params["signature"] = self._signature(grant, expires)
        return f"{self.base_url}/{quote(grant.key, safe='/')}?{urlencode(params, quote_via=quote)}"

    def verify(
        self,
        method: str,
        key: str,
        query: Mapping[str, str],
        content_length: int | None = None,
        now: float | None = None,
    ) -> SignedGrant:
        """What the URL allows this request; `SignatureRefused` when it allows nothing.

        `key` is the path after the base, unquoted; `query` the URL's parameters; `content_length` the request's
        Content-Length header (None when it has none). Checked in this order: the signature over everything,
        then the expiry, then the length, so a changed expiry or length reads as a bad signature.
        """
        if method not in ("GET", "PUT"):
            raise SignatureRefused(f"method {method} is not allowed with a signed URL")
        try:
            validate_key(key)
            unknown = set(query) - set(QUERY_PARAMS)
            if unknown:
                raise SignatureRefused(f"unknown parameters in a signed URL: {sorted(unknown)}")
            expires = _integer(query["expires"])
            length = _optional_integer(query.get("length"))
            part = _optional_integer(query.get("part"))
            sha256 = query.get("sha256")
            grant = SignedGrant(
                method="GET" if method == "GET" else "PUT",
                key=key,
                expires_at=datetime.fromtimestamp(expires, UTC),
                content_length=length,
                sha256_hex=None if sha256 is None else check_sha256_hex(sha256),
                upload_id=query.get("upload_id"),
                part_number=None if part is None else check_part_number(part),
                filename=None if query.get("filename") is None else check_filename(query["filename"]),
            )
            signature = query["signature"]
        except (KeyError, ValueError, OverflowError, OSError, Invalid):
            raise SignatureRefused("malformed signed URL") from None
        if not hmac.compare_digest(signature.encode(), self._signature(grant, expires).encode()):
            raise SignatureRefused("signature does not match")
        if (time.time() if now is None else now) >= expires:
            raise SignatureRefused("signed URL expired")
        if grant.method == "PUT" and grant.content_length != content_length:
            raise SignatureRefused(f"Content-Length {content_length} differs from the signed {grant.content_length}")
        return grant


def _integer(text: str) -> int:
    # Digits only: int() would also take "+5", " 5" and "5_0", which the signer never writes.
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValueError(text)
    return int(text)


def _optional_integer(text: str | None) -> int | None:
    return None if text is None else _integer(text)
