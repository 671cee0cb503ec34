"""Request and response bodies of the files module."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fleet.db.models import File
from fleet.files.states import FileState

# Fields of the answer that are not columns of the row.
DERIVED = frozenset({"device_id", "content_url"})


class FileOut(BaseModel):
    """A file of one of your units: what the unit said of it, where it stands, and how long it is kept."""

    id: int
    device_id: str
    file_id: str = Field(description="The unit's id of the file, unique per vehicle")
    kind: str = Field(description="`tachograph_vu`, `tachograph_card`, `video`, `image` or `log`")
    name: str
    content_type: str
    size_bytes: int
    sha256: str
    state: FileState = Field(description="offered -> uploaded -> verified | rejected; failed when the unit gave up")
    error: str | None = Field(description="Why it was rejected (by the backend) or failed (on the unit)")
    offered_at: datetime = Field(description="When the unit first offered it, by the unit's clock")
    uploaded_at: datetime | None
    verified_at: datetime | None
    started_at: datetime | None = Field(description="Start of what the file covers (a clip, a download)")
    ended_at: datetime | None = Field(description="End of what the file covers")
    camera: str | None
    driver_card_id: str | None
    event_id: str | None
    command_id: str | None
    legal_hold: bool = Field(description="Held: kept past `retain_until` until the hold is released")
    legal_hold_reason: str | None
    retain_until: datetime | None = Field(description="Deleted after this unless held")
    content_url: str | None = Field(description="Where to download the bytes; null until the file is verified")

    @classmethod
    def from_row(cls, file: File, device_id: str) -> "FileOut":
        """Build from a files row and its vehicle's device id."""
        values = {name: getattr(file, name) for name in cls.model_fields if name not in DERIVED}
        url = f"/v1/files/{file.id}/content" if file.state == FileState.VERIFIED else None
        return cls(**values, device_id=device_id, content_url=url)


class FilePage(BaseModel):
    """A page of files, newest offer first."""

    items: list[FileOut]
    next: str | None = Field(description="Cursor of the next page, or null on the last page")


class LegalHoldIn(BaseModel):
    """Place or release a legal hold."""

    model_config = ConfigDict(extra="forbid")

    hold: bool = Field(description="true: keep the file whatever its retention; false: release it")
    reason: str | None = Field(default=None, max_length=500, description="Why (a case number); kept while held")
