"""Downlink messages of contract v1 (backend to unit); the JSON Schema files in schemas/v1 are generated from these.

`fleet/v1/{device_id}/file/grant` answers a file offer with exactly one of: an upload (one PUT, or a multipart
upload with one URL per part still missing), `state: "verified"` (stored already: nothing to send), or an error.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fleet.contract.records import FileId


class Downlink(BaseModel):
    """A downlink message; a unit ignores fields it does not know (later minor versions may add some)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class SignedRequest(Downlink):
    """One HTTP request the unit makes exactly as given, before `expires_at`: every header is part of the signature."""

    method: Literal["PUT"] = "PUT"
    url: str
    headers: dict[str, str]
    expires_at: datetime


class PartRequest(SignedRequest):
    """The PUT of part `part_number` (1-based): the bytes from (n - 1) * part_size, at most part_size of them."""

    part_number: int = Field(ge=1, le=10_000)


class MultipartUpload(Downlink):
    """A large file in parts: the parts already stored are listed and not to be sent again (a resumed upload)."""

    part_size_bytes: int = Field(gt=0)
    parts: list[PartRequest]
    stored_parts: list[int] = Field(default_factory=list)


class FileGrant(Downlink):
    """Upload the file: one PUT (`upload`) or parts (`multipart`); then publish `state: "uploaded"` on `file`."""

    file_id: FileId
    upload: SignedRequest | None = None
    multipart: MultipartUpload | None = None


class FileVerified(Downlink):
    """The file is stored and verified: the unit may delete its copy."""

    file_id: FileId
    state: Literal["verified"] = "verified"


class FileRefused(Downlink):
    """The offer or the upload was refused: `error` says why; the unit may offer it again once the cause is fixed."""

    file_id: FileId
    error: str = Field(max_length=2000)


FileGrantMessage = FileGrant | FileVerified | FileRefused
