"""Response bodies of the audit module."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryOut(BaseModel):
    """One admin action."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    actor: str = Field(description='Name of the token that acted, or "cli" for the `fleet` command')
    token_id: int | None = Field(description="Id of that token; null for the CLI")
    action: str = Field(description="e.g. `token.create`, `vehicle.delete`, `deadletters.replay`")
    target: str | None = Field(description="What was acted on: a token name, a device id; null for a replay")
    address: str | None = Field(description="The client's address; null for the CLI")
    detail: dict[str, Any]


class AuditPage(BaseModel):
    """A page of audit entries, newest first."""

    items: list[AuditEntryOut]
    next_before_id: int | None = Field(description="Pass as `before_id` for the next page; null on the last page")
