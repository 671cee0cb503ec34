"""Request and response bodies of the dead letters module."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from fleet.db.models import DeadLetter
from fleet.deadletters.service import MAX_ID

DeadLetterId = Annotated[int, Field(ge=1, le=MAX_ID)]


class DeadLetterOut(BaseModel):
    """A message or record that could not be stored."""

    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload: str = Field(description="The raw payload as UTF-8 text; undecodable bytes become U+FFFD")
    replayed_at: datetime | None

    @classmethod
    def from_row(cls, row: DeadLetter) -> "DeadLetterOut":
        """Build from a dead_letters row, decoding the payload."""
        values = {name: getattr(row, name) for name in cls.model_fields}
        values["payload"] = row.payload.decode("utf-8", errors="replace")
        return cls.model_validate(values)


class DeadLetterList(BaseModel):
    """A page of dead letters, newest first."""

    items: list[DeadLetterOut]
    next_before_id: int | None = Field(description="Pass as `before_id` for the next page; null on the last page")


class ReplayIn(BaseModel):
    """Which dead letters to replay."""

    ids: list[DeadLetterId] | None = Field(
        default=None, max_length=1000, description="Ids to replay; omit to replay every pending one (up to 1000)"
    )


class ReplayOut(BaseModel):
    """What a replay request queued."""

    queued: int = Field(
        description="Dead letters queued to be published again by the dispatcher (within about a second); "
        "their records are stored once"
    )
    skipped: int = Field(description="Dead letters whose topic was the problem, so they cannot be published")
